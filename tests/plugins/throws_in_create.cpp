// A plugin whose create fails: the loader must turn the exception into a DeviceError.
#include <stdexcept>

#include "xgrad/backend/plugin.hpp"

XGRAD_PLUGIN_ENTRY_POINTS;

const char* xgrad_plugin_abi(void) { return XGRAD_PLUGIN_ABI; }

void xgrad_plugin_create(xgrad::PluginReport*) { throw std::runtime_error("simulated driver initialisation failure"); }
