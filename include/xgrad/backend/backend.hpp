#pragma once
// Backends sit beneath the ops: device memory and the compute kernels every op calls.
// The CPU backend is built in; others (CUDA) register themselves at run time, so the core
// never depends on them. Kernels take raw device pointers, shapes and dtypes, never xtensor.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "xgrad/tensor/dtype.hpp"

namespace xgrad {

/// Kind of device a tensor's storage lives on.
enum class DeviceType : std::uint8_t { cpu, cuda };

/// A device: its kind and, for accelerators, its ordinal.
struct Device {
  DeviceType type = DeviceType::cpu;  ///< kind of device
  int index = 0;                      ///< ordinal among devices of that kind

  /// Two devices are equal when kind and ordinal match.
  friend bool operator==(const Device&, const Device&) = default;
};

/// "cpu" or "cuda:0".
std::string device_str(Device device);

class ElementwiseKernels;
class ReductionKernels;
class ShapeKernels;
class LinalgKernels;
class NNKernels;
class AttentionKernels;
class OptimKernels;

/// Everything a device must provide: memory management plus one kernel table per op family.
class Backend {
 public:
  virtual ~Backend() = default;

  /// Short name used in error messages ("cpu", "cuda").
  virtual std::string_view name() const = 0;

  /// Allocates `bytes` of device memory (64-byte aligned on CPU); throws on failure.
  virtual void* allocate(std::size_t bytes) = 0;
  /// Releases memory obtained from allocate().
  virtual void deallocate(void* ptr, std::size_t bytes) noexcept = 0;
  /// Copies `bytes` from host memory to device memory.
  virtual void copy_from_host(void* device_dst, const void* host_src, std::size_t bytes) = 0;
  /// Copies `bytes` from device memory to host memory.
  virtual void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes) = 0;
  /// Copies `bytes` within the device.
  virtual void copy(void* dst, const void* src, std::size_t bytes) = 0;
  /// Sets `n` elements of `dtype` at `dst` to `value`.
  virtual void fill(DType dtype, void* dst, std::int64_t n, double value) = 0;
  /// dst[i] += src[i] for `n` elements of a floating `dtype` (gradient accumulation).
  virtual void accumulate(DType dtype, void* dst, const void* src, std::int64_t n) = 0;

  /// Elementwise arithmetic and activations.
  virtual const ElementwiseKernels& elementwise() const = 0;
  /// Sums and maxima over axes.
  virtual const ReductionKernels& reduction() const = 0;
  /// Strided copies: transpose, slice, concat.
  virtual const ShapeKernels& shape() const = 0;
  /// Matrix products.
  virtual const LinalgKernels& linalg() const = 0;
  /// Fused neural-network kernels: softmax, layer norm, embedding, losses, dropout.
  virtual const NNKernels& nn() const = 0;
  /// The fused attention core: batched score GEMMs, masked softmax, dropout, context GEMMs.
  virtual const AttentionKernels& attention() const = 0;
  /// Fused in-place optimizer updates and gradient-clipping helpers.
  virtual const OptimKernels& optim() const = 0;
};

/// The backend serving `type`; throws DeviceError when none is registered for it.
Backend& backend(DeviceType type);

/// Installs `impl` as the backend for `type` (used by device plugins); replaces any previous one.
void register_backend(DeviceType type, std::unique_ptr<Backend> impl);

/// True when a backend for `type` is registered.
bool has_backend(DeviceType type);

/// Sets the number of threads of xgrad's CPU pool (default: XGRAD_NUM_THREADS, else the cores this process
/// may run on); OpenBLAS runs single-threaded inside it. Throws ValueError below 1.
void set_num_threads(int threads);

/// Number of threads the CPU kernels currently use.
int num_threads();

}  // namespace xgrad
