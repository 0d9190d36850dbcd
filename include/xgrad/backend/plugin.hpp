#pragma once
// Device plugins: how a shared library adds a backend at run time, and how the core finds and loads it.
//
// A plugin is a shared library named libxgrad_<type>.so (libxgrad_cuda.so, libxgrad_testdev.so)
// that links against libxgrad and exports two C entry points, declared below with
// XGRAD_PLUGIN_ENTRY_POINTS:
//
//   const char* xgrad_plugin_abi(void);             // must return XGRAD_PLUGIN_ABI
//   void xgrad_plugin_create(xgrad::PluginReport*); // fills in the devices it found, or why none
//
// The loader calls xgrad_plugin_abi first and refuses the library unless the string equals its own:
// that string names the plugin interface version, a hash of the backend headers the plugin was
// compiled against, and the C++ ABI of its compiler, since Backend is a C++ interface that both sides
// must lay out identically. Only then does it call xgrad_plugin_create, catching anything it throws.
// Libraries are never unloaded: their backends live until the process ends. See docs/architecture.md,
// "Writing a backend plugin".
#include <memory>
#include <string>
#include <vector>

#include "xgrad/backend/backend.hpp"
#include "xgrad/backend/plugin_abi.hpp"  // generated: XGRAD_BACKEND_HEADERS_SHA256

namespace xgrad {

#define XGRAD_STRINGIFY_DETAIL(x) #x
#define XGRAD_STRINGIFY(x) XGRAD_STRINGIFY_DETAIL(x)

/// Bumped whenever the plugin entry points or PluginReport change.
#define XGRAD_PLUGIN_INTERFACE_VERSION 1

/// The ABI a plugin must have been built for, as one comparable string.
#define XGRAD_PLUGIN_ABI                                                                       \
  "xgrad-plugin/" XGRAD_STRINGIFY(XGRAD_PLUGIN_INTERFACE_VERSION) " backend-headers/"          \
      XGRAD_BACKEND_HEADERS_SHA256 " gxx-abi/" XGRAD_STRINGIFY(__GXX_ABI_VERSION) " cxx11-abi/" \
      XGRAD_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)

/// What a plugin's xgrad_plugin_create reports to the loader.
struct PluginReport {
  /// The device type the plugin serves; the loader checks it matches the file it opened.
  DeviceType type = DeviceType::cpu;
  /// One backend per device found, ordinal i at position i (its device() must say so).
  std::vector<std::unique_ptr<Backend>> devices;
  /// Why `devices` is empty (e.g. the driver's error), shown to a user who asks for such a device.
  std::string no_device_reason;
};

/// Loads the plugin at `path` now (normally the first request for its device type does it): checks
/// its ABI, creates and registers its backends. Throws DeviceError naming the file and the problem:
/// not a loadable shared library, a missing entry point, an ABI mismatch (both strings), a create
/// that threw (its message), or a report for another device type.
void load_plugin(const std::string& path);

/// Where the loader looks for libxgrad_<type>.so, in order: each directory of the environment variable
/// XGRAD_PLUGIN_PATH (colon-separated), the installed plugin directory, and the directory holding
/// libxgrad itself.
std::vector<std::string> plugin_search_path();

}  // namespace xgrad

/// Declares a plugin's two entry points with C linkage; a plugin defines both.
#define XGRAD_PLUGIN_ENTRY_POINTS                                                          \
  extern "C" __attribute__((visibility("default"))) const char* xgrad_plugin_abi(void);   \
  extern "C" __attribute__((visibility("default"))) void xgrad_plugin_create(xgrad::PluginReport* report)
