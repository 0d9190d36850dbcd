#pragma once
// Backends sit beneath the ops: device memory and the compute kernels every op calls.
// The CPU backend is built in; every other device is served by a plugin, a shared library that the
// loader (plugin.hpp) opens at run time, so the core never links against a device's runtime.
// Kernels take raw device pointers, shapes and dtypes, never xtensor.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "xgrad/tensor/dtype.hpp"

namespace xgrad {

/// Kind of device a tensor's storage lives on.
enum class DeviceType : std::uint8_t {
  cpu,      ///< host memory, the built-in backend
  cuda,     ///< NVIDIA GPUs, served by the libxgrad_cuda plugin
  testdev,  ///< the conformance-test device of the libxgrad_testdev plugin: CPU kernels behind the plugin ABI
};

/// Number of DeviceType values.
inline constexpr std::size_t kDeviceTypes = 3;

/// A device: its kind and its ordinal among devices of that kind.
struct Device {
  DeviceType type = DeviceType::cpu;  ///< kind of device
  int index = 0;                      ///< ordinal among devices of that kind (always 0 for the CPU)

  /// Two devices are equal when kind and ordinal match.
  friend bool operator==(const Device&, const Device&) = default;
};

/// "cpu", "cuda", "testdev".
std::string_view device_type_name(DeviceType type);

/// "cpu", "cuda:0", "testdev:1".
std::string device_str(Device device);

/// Parses "cpu", "cuda", "cuda:1", "testdev:0" (no ordinal means 0); throws ValueError naming the text.
Device parse_device(std::string_view text);

class ElementwiseKernels;
class RandomKernels;
class ReductionKernels;
class ShapeKernels;
class LinalgKernels;
class NNKernels;
class AttentionKernels;
class OptimKernels;

/// Everything a device must provide: memory management plus one kernel table per op family.
/// One Backend object serves one device (one ordinal), lives until the process ends, and is never
/// replaced, so memory it allocated is always returned to it.
///
/// Execution model: kernels may run asynchronously, in the order they are called (one queue per
/// device). Work becomes visible to the host only through copy_to_host, a kernel documented as
/// returning a value to the host, or synchronize(). Memory passed to deallocate() may still be in use
/// by queued kernels; the backend must keep it valid until they finish.
class Backend {
 public:
  virtual ~Backend() = default;

  /// Short name used in error messages ("cpu", "cuda", "testdev").
  virtual std::string_view name() const = 0;
  /// The device this backend serves.
  virtual Device device() const = 0;

  /// Allocates `bytes` of device memory, aligned to at least 64 bytes; throws on failure.
  virtual void* allocate(std::size_t bytes) = 0;
  /// Releases memory obtained from allocate() (see the execution model above).
  virtual void deallocate(void* ptr, std::size_t bytes) noexcept = 0;
  /// Copies `bytes` from host memory to device memory; `host_src` may be reused when this returns.
  virtual void copy_from_host(void* device_dst, const void* host_src, std::size_t bytes) = 0;
  /// Copies `bytes` from device memory to host memory, after all queued work; returns to the host.
  virtual void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes) = 0;
  /// Copies `bytes` within the device.
  virtual void copy(void* dst, const void* src, std::size_t bytes) = 0;
  /// Sets `n` elements of `dtype` at `dst` to `value` (int64: a value the caller checked is integral).
  virtual void fill(DType dtype, void* dst, std::int64_t n, double value) = 0;
  /// dst[i] += src[i] for `n` elements of a floating `dtype` (gradient accumulation).
  virtual void accumulate(DType dtype, void* dst, const void* src, std::int64_t n) = 0;
  /// Blocks until every operation queued on this device has finished (a no-op on the CPU).
  virtual void synchronize() = 0;

  /// Elementwise arithmetic and activations.
  virtual const ElementwiseKernels& elementwise() const = 0;
  /// Random fills and dropout masks from counter-based Philox streams.
  virtual const RandomKernels& random() const = 0;
  /// Sums and maxima over axes.
  virtual const ReductionKernels& reduction() const = 0;
  /// Strided copies: transpose, slice, concat.
  virtual const ShapeKernels& shape() const = 0;
  /// Matrix products.
  virtual const LinalgKernels& linalg() const = 0;
  /// Fused in-place optimizer updates and gradient-clipping helpers.
  virtual const OptimKernels& optim() const = 0;

  /// Fused neural-network kernels (softmax, layer norm, embedding, losses), or null: the ops then
  /// compose the same math from the required tables above.
  virtual const NNKernels* nn() const { return nullptr; }
  /// The fused attention core, or null: the ops then compose it from products, a masked softmax and
  /// dropout.
  virtual const AttentionKernels* attention() const { return nullptr; }
};

/// The backend serving `device`. The first request for a device type other than the CPU loads that
/// type's plugin (plugin.hpp). Throws DeviceError naming the device and why it has no backend: no
/// plugin found (with the paths searched), a plugin that failed to load, no hardware (with the
/// plugin's reason), or an ordinal past the devices found.
Backend& backend(Device device);

/// Registers `impl` as the backend of impl->device() (plugins call this through the loader). Throws
/// DeviceError when that device already has a backend: backends are never replaced, since memory one
/// allocated must never be freed by another.
void register_backend(std::unique_ptr<Backend> impl);

/// Whether `device` has a backend, loading its type's plugin if needed; never throws.
bool has_backend(Device device);

/// Number of devices of `type` with a backend (1 for the CPU), loading its plugin if needed; 0 when
/// there is none. Never throws; backend() gives the reason.
int device_count(DeviceType type);

}  // namespace xgrad
