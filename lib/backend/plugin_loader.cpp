// The plugin loader: finds libxgrad_<type>.so, checks its ABI, lets it create its backends, and
// registers them. Every failure becomes a DeviceError that names the file and what to do; nothing
// here aborts. Libraries stay loaded for the life of the process (never dlclose): their backends,
// and memory allocated through them, outlive any scope we could unload them from.
#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include "backend/registry.hpp"
#include "xgrad/backend/plugin.hpp"

namespace xgrad {

namespace {

namespace fs = std::filesystem;

using AbiFn = const char* (*)();
using CreateFn = void (*)(PluginReport*);

std::string plugin_file_name(DeviceType type) { return fmt::format("libxgrad_{}.so", device_type_name(type)); }

// The directory of the binary that holds this function: libxgrad.so, or the program when linked statically.
std::string library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&library_dir), &info) == 0 || !info.dli_fname) return {};
  std::error_code ec;
  const fs::path file = fs::canonical(info.dli_fname, ec);
  return ec ? fs::path(info.dli_fname).parent_path().string() : file.parent_path().string();
}

// Opens, checks, creates and registers the plugin at `path`; returns the type it serves.
DeviceType load_locked(const std::string& path, std::optional<DeviceType> expected) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    throw DeviceError(fmt::format("plugin {}: cannot be loaded as a shared library: {}", path, why ? why : "?"));
  }
  auto abi = reinterpret_cast<AbiFn>(dlsym(handle, "xgrad_plugin_abi"));
  if (!abi)
    throw DeviceError(fmt::format("plugin {}: not an xgrad plugin: it does not export xgrad_plugin_abi", path));
  const char* theirs = abi();
  if (!theirs || std::strcmp(theirs, XGRAD_PLUGIN_ABI) != 0)
    throw DeviceError(fmt::format("plugin {}: built for another ABI; it reports '{}' but this libxgrad needs '{}'. "
                                  "Rebuild the plugin against this xgrad's headers with the same compiler",
                                  path, theirs ? theirs : "(null)", XGRAD_PLUGIN_ABI));
  auto create = reinterpret_cast<CreateFn>(dlsym(handle, "xgrad_plugin_create"));
  if (!create)
    throw DeviceError(fmt::format("plugin {}: exports xgrad_plugin_abi but not xgrad_plugin_create", path));
  PluginReport report;
  try {
    create(&report);
  } catch (const std::exception& e) {
    throw DeviceError(fmt::format("plugin {}: xgrad_plugin_create failed: {}", path, e.what()));
  } catch (...) {
    throw DeviceError(fmt::format("plugin {}: xgrad_plugin_create threw a non-standard exception", path));
  }
  if (report.type == DeviceType::cpu)
    throw DeviceError(fmt::format("plugin {}: reports the CPU, which is built in", path));
  if (expected && report.type != *expected)
    throw DeviceError(fmt::format("plugin {}: serves {} devices, but was loaded for {}", path,
                                  device_type_name(report.type), device_type_name(*expected)));
  for (std::size_t i = 0; i < report.devices.size(); ++i) {
    const Backend* b = report.devices[i].get();
    const Device want{report.type, static_cast<int>(i)};
    if (!b) throw DeviceError(fmt::format("plugin {}: device {} is a null backend", path, i));
    if (b->device() != want)
      throw DeviceError(fmt::format("plugin {}: the backend at position {} says it serves {}, expected {}", path, i,
                                    device_str(b->device()), device_str(want)));
  }
  for (auto& b : report.devices) detail::register_locked(std::move(b));
  if (report.devices.empty())
    detail::note_no_device_locked(
        report.type, fmt::format("the {} plugin ({}) found no device: {}", device_type_name(report.type), path,
                                 report.no_device_reason.empty() ? "it gave no reason" : report.no_device_reason));
  detail::mark_probed_locked(report.type);
  return report.type;
}

}  // namespace

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("XGRAD_PLUGIN_PATH")) {
    std::string_view rest(env);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      if (colon) dirs.emplace_back(rest.substr(0, colon));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  dirs.emplace_back(XGRAD_INSTALLED_PLUGIN_DIR);
  if (std::string own = library_dir(); !own.empty()) dirs.push_back(std::move(own));
  return dirs;
}

void load_plugin(const std::string& path) {
  std::lock_guard lock(detail::registry_mutex());
  load_locked(path, std::nullopt);
}

namespace detail {

std::string load_plugin_for(DeviceType type) {
  const std::string file = plugin_file_name(type);
  std::vector<std::string> searched;
  for (const std::string& dir : plugin_search_path()) {
    const std::string path = (fs::path(dir) / file).string();
    searched.push_back(path);
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;
    try {
      load_locked(path, type);
      return {};
    } catch (const DeviceError& e) {
      return e.what();
    }
  }
  return fmt::format("no {} plugin was found (searched {}); build xgrad with that backend, or point "
                     "XGRAD_PLUGIN_PATH at the directory holding {}",
                     device_type_name(type), fmt::join(searched, ", "), file);
}

}  // namespace detail

}  // namespace xgrad
