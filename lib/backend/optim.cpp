// Registry of optimizer kernel tables, beside Backend rather than inside it: a device plugin
// registers its table here (a later Backend::optim() accessor can replace this file).
#include "xgrad/backend/optim.hpp"

#include <fmt/format.h>

#include <array>
#include <atomic>

namespace xgrad {

const OptimKernels& cpu_optim_kernels();  // backend/cpu/optim.cpp

namespace {
std::array<std::atomic<const OptimKernels*>, 2> registered{};
}  // namespace

const OptimKernels& optim_kernels(DeviceType type) {
  if (type == DeviceType::cpu) return cpu_optim_kernels();
  const OptimKernels* k = registered[static_cast<std::size_t>(type)].load();
  if (!k)
    throw DeviceError(fmt::format("optimizer: no optimizer kernels are registered for {}; the device plugin "
                                  "must call register_optim_kernels()", device_str(Device{type, 0})));
  return *k;
}

void register_optim_kernels(DeviceType type, const OptimKernels* kernels) {
  if (type == DeviceType::cpu) throw DeviceError("register_optim_kernels: the CPU kernels are built in");
  registered[static_cast<std::size_t>(type)].store(kernels);
}

}  // namespace xgrad
