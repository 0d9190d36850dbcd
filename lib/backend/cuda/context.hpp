#pragma once
// What every CUDA kernel table shares for one device: its ordinal, its one stream, its cuBLAS handle, and
// the helpers that check CUDA and cuBLAS calls, make a device current, and hold a call's temporaries.
// Host code only (compiled by g++ or by nvcc's host pass).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "xgrad/tensor/dtype.hpp"

namespace xgrad::cuda {

/// Throws DeviceError naming `call` and CUDA's error name and message unless `status` is cudaSuccess.
void check(cudaError_t status, const char* call);
/// Throws DeviceError naming `call` and cuBLAS's status unless `status` is CUBLAS_STATUS_SUCCESS.
void check(cublasStatus_t status, const char* call);
/// Checks that the kernel just queued was launched (cudaGetLastError), naming it.
void check_launch(const char* kernel);

/// Calls `expr` (a CUDA or cuBLAS call) and throws DeviceError naming it on failure.
#define XGRAD_CUDA_CHECK(expr) ::xgrad::cuda::check((expr), #expr)

/// One device's execution state. Every kernel of a device runs on its one stream, in call order, which is
/// the execution model of backend.hpp.
struct Context {
  int device = 0;                 ///< CUDA ordinal
  cudaStream_t stream = nullptr;  ///< the device's one stream
  cublasHandle_t blas = nullptr;  ///< bound to `stream`
  bool tf32 = false;              ///< float32 GEMMs may use TF32 tensor cores (XGRAD_CUDA_TF32=1)

  /// Makes this device current on the calling thread (kernels launch on the current device).
  void activate() const;
  /// Copies `bytes` from device to host after the queued work and waits for it: a value for the host.
  void to_host(void* host_dst, const void* device_src, std::size_t bytes) const;
};

/// Device memory for one call's temporaries, allocated and freed in stream order (cudaMallocAsync /
/// cudaFreeAsync on the context's stream): freeing it while the kernels that use it are still queued is
/// safe, since the stream runs them before the free.
class Scratch {
 public:
  /// `bytes` of device memory (none for 0).
  Scratch(const Context& ctx, std::size_t bytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  /// The memory, as T*.
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  const Context& ctx_;
  void* ptr_ = nullptr;
};

/// Threads per block of the one-thread-per-element kernels.
inline constexpr int kThreads = 256;

/// Blocks for `n` elements at `threads` per block, capped: kernels loop with a grid stride past the cap.
inline unsigned grid_for(std::int64_t n, int threads = kThreads) {
  const std::int64_t blocks = (n + threads - 1) / threads;
  constexpr std::int64_t kMaxBlocks = std::int64_t{1} << 20;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

}  // namespace xgrad::cuda
