#pragma once
// Internal seam between the device registry (backend.cpp) and the plugin loader (plugin_loader.cpp).
// Every function here expects the registry mutex to be held by its caller.
#include <memory>
#include <mutex>
#include <string>

#include "xgrad/backend/backend.hpp"

namespace xgrad::detail {

/// The mutex that guards registration and plugin loading.
std::mutex& registry_mutex();

/// Finds and loads libxgrad_<type>.so along plugin_search_path(); returns why `type` has no device when
/// the plugin is missing, failed to load, or found no hardware (empty when it registered devices).
std::string load_plugin_for(DeviceType type);

/// Registers `impl` for impl->device(); throws DeviceError if that device already has a backend.
void register_locked(std::unique_ptr<Backend> impl);

/// Remembers why `type` has no device, unless it has some.
void note_no_device_locked(DeviceType type, std::string reason);

/// Marks `type` as probed, so its plugin is not searched for again.
void mark_probed_locked(DeviceType type);

}  // namespace xgrad::detail
