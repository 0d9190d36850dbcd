// A plugin with the right ABI string but no create entry point.
#include "xgrad/backend/plugin.hpp"

extern "C" __attribute__((visibility("default"))) const char* xgrad_plugin_abi(void) { return XGRAD_PLUGIN_ABI; }
