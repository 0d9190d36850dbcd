// A plugin built for another ABI: the loader must refuse it before calling create.
#include "xgrad/backend/plugin.hpp"

XGRAD_PLUGIN_ENTRY_POINTS;

const char* xgrad_plugin_abi(void) { return "xgrad-plugin/0 backend-headers/0000 gxx-abi/0 cxx11-abi/0"; }

void xgrad_plugin_create(xgrad::PluginReport*) { __builtin_trap(); }  // must never run
