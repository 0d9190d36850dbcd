// CUDA optimizer kernels: one thread per parameter element applies the update of math/optim.hpp (the CPU's
// arithmetic, shared with the CPU test). The clipping reductions accumulate in double in two deterministic
// stages (fixed block partition, then one block in order) and return their value to the host.
#include "backend/cuda/device.cuh"
#include "backend/cuda/math/optim.hpp"
#include "backend/cuda/tables.hpp"

namespace xgrad::cuda {

namespace {

template <class T>
__global__ void sgd_kernel(T* p, const T* g, T* buf, std::int64_t n, SgdConstants<T> c) {
  XGRAD_GRID_LOOP(i, n) sgd_update(p[i], g[i], buf ? buf + i : nullptr, c);
}

template <class T>
__global__ void adam_kernel(T* p, const T* g, T* m, T* v, T* vmax, std::int64_t n, AdamConstants<T> c) {
  XGRAD_GRID_LOOP(i, n) adam_update(p[i], g[i], m[i], v[i], vmax ? vmax + i : nullptr, c);
}

template <class T>
__global__ void rmsprop_kernel(T* p, const T* g, T* sq, T* ga, T* buf, std::int64_t n, RmspropConstants<T> c) {
  XGRAD_GRID_LOOP(i, n) rmsprop_update(p[i], g[i], sq[i], ga ? ga + i : nullptr, buf ? buf + i : nullptr, c);
}

template <class T>
__global__ void scale_kernel(T* x, std::int64_t n, T factor) {
  XGRAD_GRID_LOOP(i, n) x[i] *= factor;
}

template <class T>
__global__ void clamp_kernel(T* x, std::int64_t n, T low, T high) {
  XGRAD_GRID_LOOP(i, n) x[i] = clamp_value(x[i], low, high);
}

// |x[i]|^p in double (sum_abs_pow's terms).
template <class T>
struct AbsPowOf {
  const T* x;
  double p;
  __device__ double operator()(std::int64_t i) const { return abs_pow(static_cast<double>(x[i]), p); }
};

// |x[i]| in double (max_abs's terms).
template <class T>
struct AbsOf {
  const T* x;
  __device__ double operator()(std::int64_t i) const {
    const double v = static_cast<double>(x[i]);
    return v < 0 ? -v : v;
  }
};

struct MaxAbsCombine {
  __device__ double operator()(double a, double b) const { return max_abs_combine(a, b); }
};

// The clipping reductions: reduce_to_device, then the total to the host.
template <class Map, class Combine>
double reduce_to_host(const Context& ctx, std::int64_t n, Map map, Combine f) {
  Scratch total(ctx, sizeof(double));
  reduce_to_device(ctx, n, map, f, 0.0, StoreTo<double>{total.as<double>()});
  double result = 0.0;
  ctx.to_host(&result, total.as<double>(), sizeof(double));
  return result;
}

class CudaOptimKernels final : public OptimKernels {
 public:
  explicit CudaOptimKernels(const Context& ctx) : ctx_(ctx) {}

  void sgd(DType dtype, void* param, const void* grad, void* buffer, std::int64_t n, const SgdStep& h) const override {
    if (n == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "sgd", [&](auto t) {
      using T = decltype(t);
      sgd_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(static_cast<T*>(param), static_cast<const T*>(grad),
                                                               static_cast<T*>(buffer), n, sgd_constants<T>(h));
    });
    check_launch("sgd_kernel");
  }

  void adam(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, void* max_exp_avg_sq,
            std::int64_t n, const AdamStep& h) const override {
    if (n == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "adam", [&](auto t) {
      using T = decltype(t);
      adam_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(
          static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(exp_avg), static_cast<T*>(exp_avg_sq),
          static_cast<T*>(max_exp_avg_sq), n, adam_constants<T>(h));
    });
    check_launch("adam_kernel");
  }

  void rmsprop(DType dtype, void* param, const void* grad, void* square_avg, void* grad_avg, void* buffer,
               std::int64_t n, const RmspropStep& h) const override {
    if (n == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "rmsprop", [&](auto t) {
      using T = decltype(t);
      rmsprop_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(
          static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(square_avg), static_cast<T*>(grad_avg),
          static_cast<T*>(buffer), n, rmsprop_constants<T>(h));
    });
    check_launch("rmsprop_kernel");
  }

  double sum_abs_pow(DType dtype, const void* x, std::int64_t n, double p) const override {
    ctx_.activate();
    return dispatch_floating(dtype, "sum_abs_pow", [&](auto t) {
      using T = decltype(t);
      return reduce_to_host(ctx_, n, AbsPowOf<T>{static_cast<const T*>(x), p}, Plus{});
    });
  }

  double max_abs(DType dtype, const void* x, std::int64_t n) const override {
    ctx_.activate();
    return dispatch_floating(dtype, "max_abs", [&](auto t) {
      using T = decltype(t);
      return reduce_to_host(ctx_, n, AbsOf<T>{static_cast<const T*>(x)}, MaxAbsCombine{});
    });
  }

  void scale(DType dtype, void* x, std::int64_t n, double factor) const override {
    if (n == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "scale", [&](auto t) {
      using T = decltype(t);
      scale_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(static_cast<T*>(x), n, static_cast<T>(factor));
    });
    check_launch("scale_kernel");
  }

  void clamp(DType dtype, void* x, std::int64_t n, double low, double high) const override {
    if (n == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "clamp", [&](auto t) {
      using T = decltype(t);
      clamp_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(static_cast<T*>(x), n, static_cast<T>(low),
                                                                 static_cast<T>(high));
    });
    check_launch("clamp_kernel");
  }

 private:
  const Context& ctx_;
};

}  // namespace

std::unique_ptr<OptimKernels> make_optim(const Context& ctx) { return std::make_unique<CudaOptimKernels>(ctx); }

}  // namespace xgrad::cuda
