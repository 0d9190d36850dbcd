// CUDA random kernels: element i of a fill or a dropout mask is a pure function of the Philox key and i
// (tensor/philox.hpp, math/elementwise.hpp), so one thread per element writes exactly what the CPU writes.
#include "backend/cuda/device.cuh"
#include "backend/cuda/math/elementwise.hpp"
#include "backend/cuda/tables.hpp"

namespace xgrad::cuda {

namespace {

template <class T>
__global__ void fill_kernel(Distribution dist, T* out, std::int64_t n, double a, double b, PhiloxKey key) {
  XGRAD_GRID_LOOP(i, n) {
    const std::uint64_t index = key.offset + static_cast<std::uint64_t>(i);
    switch (dist) {
      case Distribution::uniform: out[i] = uniform_value<T>(key.seed, index, a, b); break;
      case Distribution::normal: out[i] = static_cast<T>(a + b * normal_draw<double>(philox_block(key.seed, index))); break;
      case Distribution::truncated_normal:
        out[i] = static_cast<T>(a + b * truncated_normal_draw<double>(key.seed, index));
        break;
    }
  }
}

template <class T>
__global__ void dropout_kernel(T* mask, std::int64_t n, PhiloxKey key, std::uint64_t threshold, T keep) {
  XGRAD_GRID_LOOP(i, n) mask[i] = dropout_value(key, static_cast<std::uint64_t>(i), threshold, keep);
}

class CudaRandomKernels final : public RandomKernels {
 public:
  explicit CudaRandomKernels(const Context& ctx) : ctx_(ctx) {}

  void fill(Distribution dist, DType dtype, void* out, std::int64_t n, double a, double b,
            PhiloxKey key) const override {
    if (n == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "random fill", [&](auto t) {
      using T = decltype(t);
      fill_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(dist, static_cast<T*>(out), n, a, b, key);
    });
    check_launch("random fill_kernel");
  }

  void dropout_mask(DType dtype, void* mask, std::int64_t n, double rate, PhiloxKey key) const override {
    if (n == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "dropout", [&](auto t) {
      using T = decltype(t);
      dropout_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(static_cast<T*>(mask), n, key,
                                                                   dropout_threshold(rate), T(1.0 / (1.0 - rate)));
    });
    check_launch("dropout_kernel");
  }

 private:
  const Context& ctx_;
};

}  // namespace

std::unique_ptr<RandomKernels> make_random(const Context& ctx) { return std::make_unique<CudaRandomKernels>(ctx); }

}  // namespace xgrad::cuda
