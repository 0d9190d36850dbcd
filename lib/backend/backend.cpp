#include "xgrad/backend/backend.hpp"

#include <fmt/format.h>

#include <array>
#include <mutex>

#include "backend/cpu/cpu_backend.hpp"

namespace xgrad {

namespace {

struct Registry {
  std::mutex mutex;
  std::array<std::unique_ptr<Backend>, 2> backends;
};

Registry& registry() {
  static Registry r;
  return r;
}

std::size_t slot(DeviceType type) { return static_cast<std::size_t>(type); }

}  // namespace

std::string device_str(Device device) {
  if (device.type == DeviceType::cpu) return "cpu";
  return fmt::format("cuda:{}", device.index);
}

Backend& backend(DeviceType type) {
  if (type == DeviceType::cpu) return cpu_backend();
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  if (!r.backends[slot(type)])
    throw DeviceError(fmt::format("no backend is registered for {}: load the device plugin first",
                                  device_str(Device{type, 0})));
  return *r.backends[slot(type)];
}

bool has_backend(DeviceType type) {
  if (type == DeviceType::cpu) return true;
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  return r.backends[slot(type)] != nullptr;
}

void register_backend(DeviceType type, std::unique_ptr<Backend> impl) {
  if (type == DeviceType::cpu) throw DeviceError("register_backend: the CPU backend is built in");
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.backends[slot(type)] = std::move(impl);
}

}  // namespace xgrad
