// The device registry. A lookup of a registered device is one atomic load, with no lock: every op
// asks for a backend (through Tensor::empty), so this is on the hot path. Registration and plugin
// loading are rare and serialise on one mutex.
#include "xgrad/backend/backend.hpp"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <charconv>
#include <mutex>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/registry.hpp"

namespace xgrad {

namespace {

// Ordinals beyond this are refused; more GPUs than this in one process is not a case xgrad serves.
constexpr int kMaxOrdinals = 64;

struct TypeSlot {
  std::array<std::atomic<Backend*>, kMaxOrdinals> devices{};
  std::atomic<int> count{0};
  bool probed = false;     // the loader ran for this type (guarded by Registry::mutex)
  std::string no_device;   // why count is 0 or an ordinal is missing (guarded by Registry::mutex)
};

struct Registry {
  std::mutex mutex;
  std::array<TypeSlot, kDeviceTypes> slots;
};

// Never destroyed: tensors held by other static objects may be freed after our destructors ran.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

TypeSlot& slot(DeviceType type) { return registry().slots[static_cast<std::size_t>(type)]; }

bool valid_ordinal(Device d) { return d.index >= 0 && d.index < kMaxOrdinals; }

// Loads the type's plugin once; called with the registry mutex held.
void probe(DeviceType type, TypeSlot& s) {
  if (s.probed) return;
  s.probed = true;
  std::string reason = detail::load_plugin_for(type);  // registers through detail::register_locked
  if (s.count.load() == 0 && s.no_device.empty()) s.no_device = std::move(reason);
}

}  // namespace

std::string_view device_type_name(DeviceType type) {
  switch (type) {
    case DeviceType::cpu: return "cpu";
    case DeviceType::cuda: return "cuda";
    case DeviceType::testdev: return "testdev";
  }
  return "unknown";
}

std::string device_str(Device device) {
  if (device.type == DeviceType::cpu && device.index == 0) return "cpu";
  return fmt::format("{}:{}", device_type_name(device.type), device.index);
}

Device parse_device(std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  Device d;
  bool known = false;
  for (std::size_t t = 0; t < kDeviceTypes; ++t)
    if (device_type_name(static_cast<DeviceType>(t)) == kind) d.type = static_cast<DeviceType>(t), known = true;
  if (!known)
    throw ValueError(fmt::format("parse_device: '{}' is not a device; expected cpu, cuda[:N] or testdev[:N]", text));
  if (colon != std::string_view::npos) {
    const std::string_view digits = text.substr(colon + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d.index);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || d.index < 0)
      throw ValueError(fmt::format("parse_device: '{}' has no valid ordinal after ':'; expected e.g. {}:0", text, kind));
  }
  return d;
}

Backend& backend(Device device) {
  if (device.type == DeviceType::cpu && device.index == 0) return cpu_backend();
  if (valid_ordinal(device))
    if (Backend* b = slot(device.type).devices[static_cast<std::size_t>(device.index)].load(std::memory_order_acquire))
      return *b;
  if (device.type == DeviceType::cpu)
    throw DeviceError(fmt::format("{}: the CPU is one device, cpu (ordinal 0)", device_str(device)));
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  TypeSlot& s = slot(device.type);
  probe(device.type, s);
  const int count = s.count.load();
  if (valid_ordinal(device))
    if (Backend* b = s.devices[static_cast<std::size_t>(device.index)].load()) return *b;
  if (count == 0)
    throw DeviceError(fmt::format("{} is not available: {}", device_str(device), s.no_device));
  throw DeviceError(fmt::format("{} does not exist: the {} plugin found {} device(s), {}:0 to {}:{}",
                                device_str(device), device_type_name(device.type), count,
                                device_type_name(device.type), device_type_name(device.type), count - 1));
}

bool has_backend(Device device) {
  try {
    backend(device);
    return true;
  } catch (const DeviceError&) {
    return false;
  }
}

int device_count(DeviceType type) {
  if (type == DeviceType::cpu) return 1;
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  TypeSlot& s = slot(type);
  probe(type, s);
  return s.count.load();
}

void register_backend(std::unique_ptr<Backend> impl) {
  std::lock_guard lock(registry().mutex);
  detail::register_locked(std::move(impl));
}

namespace detail {

void register_locked(std::unique_ptr<Backend> impl) {
  if (!impl) throw DeviceError("register_backend: got a null backend");
  const Device d = impl->device();
  if (d.type == DeviceType::cpu) throw DeviceError("register_backend: the CPU backend is built in");
  if (!valid_ordinal(d))
    throw DeviceError(fmt::format("register_backend: ordinal {} of {} is outside [0, {})", d.index,
                                  device_type_name(d.type), kMaxOrdinals));
  TypeSlot& s = slot(d.type);
  auto& entry = s.devices[static_cast<std::size_t>(d.index)];
  if (entry.load())
    throw DeviceError(fmt::format("register_backend: {} already has a backend ({}); backends are never "
                                  "replaced, since memory one allocated must not be freed by another",
                                  device_str(d), entry.load()->name()));
  entry.store(impl.release(), std::memory_order_release);  // lives until the process ends
  s.count.store(std::max(s.count.load(), d.index + 1));
}

void note_no_device_locked(DeviceType type, std::string reason) {
  TypeSlot& s = slot(type);
  if (s.count.load() == 0) s.no_device = std::move(reason);
}

void mark_probed_locked(DeviceType type) { slot(type).probed = true; }

std::mutex& registry_mutex() { return registry().mutex; }

}  // namespace detail

}  // namespace xgrad
