// The CUDA backend plugin: one Backend per GPU the runtime finds, each with one stream, a cuBLAS handle
// bound to it, and a caching stream-ordered allocator (the device's default cudaMallocAsync pool, told to
// keep freed memory). Only the CUDA runtime API is used, linked statically, so the plugin loads on a
// machine without a driver and reports why it found no device.
#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "backend/cuda/context.hpp"
#include "backend/cuda/tables.hpp"
#include "xgrad/backend/plugin.hpp"

namespace xgrad::cuda {

void check(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clears a non-sticky error, so the next call starts clean
  throw DeviceError(fmt::format("cuda: {} failed: {} ({})", call, cudaGetErrorString(status), cudaGetErrorName(status)));
}

void check(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw DeviceError(fmt::format("cuda: {} failed: {} ({})", call, cublasGetStatusString(status),
                                cublasGetStatusName(status)));
}

void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    throw DeviceError(fmt::format("cuda: launching kernel {} failed: {} ({})", kernel, cudaGetErrorString(status),
                                  cudaGetErrorName(status)));
}

void Context::activate() const { XGRAD_CUDA_CHECK(cudaSetDevice(device)); }

void Context::to_host(void* host_dst, const void* device_src, std::size_t bytes) const {
  if (bytes) XGRAD_CUDA_CHECK(cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream));
  // Also surfaces a fault of any kernel queued before, here, where the host waits anyway.
  XGRAD_CUDA_CHECK(cudaStreamSynchronize(stream));
}

Scratch::Scratch(const Context& ctx, std::size_t bytes) : ctx_(ctx) {
  if (bytes) XGRAD_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, ctx.stream));
}

Scratch::~Scratch() {
  if (ptr_) cudaFreeAsync(ptr_, ctx_.stream);  // stream-ordered: after the kernels that use it
}

namespace {

// XGRAD_CUDA_TF32=1 lets float32 GEMMs round their inputs to TF32 (10-bit mantissa) on tensor cores:
// several times faster on Ampere and later, but no longer float32 accuracy, so it is off unless asked for.
bool tf32_from_environment() {
  const char* env = std::getenv("XGRAD_CUDA_TF32");
  if (!env || std::strcmp(env, "0") == 0 || *env == '\0') return false;
  if (std::strcmp(env, "1") == 0) return true;
  throw ValueError(fmt::format("XGRAD_CUDA_TF32 must be 0 or 1, got '{}'", env));
}

class CudaBackend final : public Backend {
 public:
  // `ordinal` is the xgrad ordinal (cuda:N), `device` the CUDA runtime's: they differ when an earlier GPU
  // was left out because the plugin has no code for it.
  CudaBackend(int ordinal, int device, bool tf32) : ordinal_(ordinal) {
    ctx_.device = device;
    ctx_.tf32 = tf32;
    ctx_.activate();
    XGRAD_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx_.stream, cudaStreamNonBlocking));
    XGRAD_CUDA_CHECK(cublasCreate(&ctx_.blas));
    XGRAD_CUDA_CHECK(cublasSetStream(ctx_.blas, ctx_.stream));
    // Keep freed blocks in the pool instead of returning them to the driver at every synchronisation: a
    // training step allocates the same sizes each time, so after the first step allocation is a lookup.
    XGRAD_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool_, device));
    std::uint64_t keep_all = std::numeric_limits<std::uint64_t>::max();
    XGRAD_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep_all));
    elementwise_ = make_elementwise(ctx_);
    random_ = make_random(ctx_);
    reduction_ = make_reduction(ctx_);
    shape_ = make_shape(ctx_);
    linalg_ = make_linalg(ctx_);
    optim_ = make_optim(ctx_);
    nn_ = make_nn(ctx_);
    attention_ = make_attention(ctx_);
  }
  // The stream and handle are left to the process exit: backends live until then, and the CUDA runtime
  // may already be unloading when static destructors run.
  ~CudaBackend() override = default;

  std::string_view name() const override { return "cuda"; }
  Device device() const override { return {DeviceType::cuda, ordinal_}; }

  void* allocate(std::size_t bytes) override {
    ctx_.activate();
    const std::size_t size = bytes < 256 ? 256 : bytes;  // cudaMallocAsync aligns to 256 bytes
    void* p = nullptr;
    cudaError_t status = cudaMallocAsync(&p, size, ctx_.stream);
    if (status == cudaErrorMemoryAllocation) {  // give the pool's idle blocks back to the driver, then retry once
      cudaGetLastError();
      XGRAD_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
      XGRAD_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0));
      status = cudaMallocAsync(&p, size, ctx_.stream);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      std::size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      throw DeviceError(fmt::format("cuda:{}: cannot allocate {} bytes ({} of {} MiB free): {} ({})", ordinal_,
                                    bytes, free_bytes >> 20, total_bytes >> 20, cudaGetErrorString(status),
                                    cudaGetErrorName(status)));
    }
    return p;
  }

  void deallocate(void* ptr, std::size_t) noexcept override {
    if (!ptr) return;
    cudaSetDevice(ctx_.device);
    const cudaError_t status = cudaFreeAsync(ptr, ctx_.stream);  // after every kernel queued before it
    // A tensor freed by a static destructor after the runtime has shut down: nothing is left to free.
    if (status != cudaSuccess && status != cudaErrorCudartUnloading) deferred_error_.store(status);
  }

  void copy_from_host(void* dst, const void* src, std::size_t bytes) override {
    if (!bytes) return;
    ctx_.activate();
    // From pageable memory the call returns once `src` has been staged, so the caller may reuse it.
    XGRAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx_.stream));
  }

  void copy_to_host(void* dst, const void* src, std::size_t bytes) override {
    ctx_.activate();
    raise_deferred();
    ctx_.to_host(dst, src, bytes);
  }

  void copy(void* dst, const void* src, std::size_t bytes) override {
    if (!bytes || dst == src) return;
    ctx_.activate();
    const auto d = reinterpret_cast<std::uintptr_t>(dst), s = reinterpret_cast<std::uintptr_t>(src);
    if (d < s + bytes && s < d + bytes) {  // overlapping ranges (memmove semantics): through a temporary
      Scratch temp(ctx_, bytes);
      XGRAD_CUDA_CHECK(cudaMemcpyAsync(temp.as<void>(), src, bytes, cudaMemcpyDeviceToDevice, ctx_.stream));
      XGRAD_CUDA_CHECK(cudaMemcpyAsync(dst, temp.as<void>(), bytes, cudaMemcpyDeviceToDevice, ctx_.stream));
      return;
    }
    XGRAD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx_.stream));
  }

  void fill(DType dtype, void* dst, std::int64_t n, double value) override {
    ctx_.activate();
    cuda::fill(ctx_, dtype, dst, n, value);
  }
  void accumulate(DType dtype, void* dst, const void* src, std::int64_t n) override {
    ctx_.activate();
    cuda::accumulate(ctx_, dtype, dst, src, n);
  }
  void synchronize() override {
    ctx_.activate();
    raise_deferred();
    XGRAD_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
  }

  const ElementwiseKernels& elementwise() const override { return *elementwise_; }
  const RandomKernels& random() const override { return *random_; }
  const ReductionKernels& reduction() const override { return *reduction_; }
  const ShapeKernels& shape() const override { return *shape_; }
  const LinalgKernels& linalg() const override { return *linalg_; }
  const OptimKernels& optim() const override { return *optim_; }
  const NNKernels* nn() const override { return nn_.get(); }
  const AttentionKernels* attention() const override { return attention_.get(); }

 private:
  // A failed free (deallocate cannot throw) is reported at the next synchronisation.
  void raise_deferred() {
    const cudaError_t status = deferred_error_.exchange(cudaSuccess);
    if (status != cudaSuccess) check(status, "cudaFreeAsync (an earlier deallocation)");
  }

  int ordinal_;
  Context ctx_;
  cudaMemPool_t pool_ = nullptr;
  std::atomic<cudaError_t> deferred_error_{cudaSuccess};
  std::unique_ptr<ElementwiseKernels> elementwise_;
  std::unique_ptr<RandomKernels> random_;
  std::unique_ptr<ReductionKernels> reduction_;
  std::unique_ptr<ShapeKernels> shape_;
  std::unique_ptr<LinalgKernels> linalg_;
  std::unique_ptr<OptimKernels> optim_;
  std::unique_ptr<NNKernels> nn_;
  std::unique_ptr<AttentionKernels> attention_;
};

}  // namespace

}  // namespace xgrad::cuda

XGRAD_PLUGIN_ENTRY_POINTS;

const char* xgrad_plugin_abi(void) { return XGRAD_PLUGIN_ABI; }

void xgrad_plugin_create(xgrad::PluginReport* report) {
  report->type = xgrad::DeviceType::cuda;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    report->no_device_reason = fmt::format("no CUDA device: cudaGetDeviceCount failed: {} ({})",
                                           cudaGetErrorString(status), cudaGetErrorName(status));
    return;
  }
  if (count == 0) {
    report->no_device_reason = "no CUDA device: the driver reports 0 devices";
    return;
  }
  const bool tf32 = xgrad::cuda::tf32_from_environment();
  std::string skipped;  // GPUs this build of the plugin has no code for (older than its architectures)
  for (int i = 0; i < count; ++i) {
    std::string why;
    if (!xgrad::cuda::has_code_for_device(i, why)) {
      skipped += fmt::format("{}CUDA device {}: {}", skipped.empty() ? "" : "; ", i, why);
      continue;
    }
    const int ordinal = static_cast<int>(report->devices.size());
    report->devices.push_back(std::make_unique<xgrad::cuda::CudaBackend>(ordinal, i, tf32));
  }
  if (report->devices.empty())
    report->no_device_reason = fmt::format("no CUDA device this plugin was built for: {}", skipped);
}
