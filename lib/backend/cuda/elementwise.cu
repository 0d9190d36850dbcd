// CUDA elementwise kernels: one thread per output element in a grid-stride loop. Broadcasting operands
// are read through the merged index space of math/index.hpp; same-shape and scalar operands skip the index
// math. The per-element formulas are math/elementwise.hpp's, shared with the CPU test.
#include "backend/cuda/device.cuh"
#include "backend/cuda/math/elementwise.hpp"
#include "backend/cuda/math/index.hpp"
#include "backend/cuda/tables.hpp"

namespace xgrad::cuda {

namespace {

/// How a kernel reads one operand at output index i.
enum class Access : std::uint8_t {
  flat,     ///< element i (same shape as the output)
  scalar,   ///< element 0 (one element)
  strided,  ///< through the index space's strides
};

Access access_of(const Shape& shape, const Shape& out) {
  if (shape == out) return Access::flat;
  if (numel(shape) == 1) return Access::scalar;
  return Access::strided;
}

template <class T>
__device__ inline T read(const T* p, Access how, std::int64_t i, std::int64_t strided_offset) {
  return p[how == Access::flat ? i : (how == Access::scalar ? 0 : strided_offset)];
}

template <class T>
__global__ void fill_kernel(T* dst, std::int64_t n, T value) {
  XGRAD_GRID_LOOP(i, n) dst[i] = value;
}

template <class T>
__global__ void accumulate_kernel(T* dst, const T* src, std::int64_t n) {
  XGRAD_GRID_LOOP(i, n) dst[i] += src[i];
}

template <class T>
__global__ void scale_kernel(T* x, std::int64_t n, T factor) {
  XGRAD_GRID_LOOP(i, n) x[i] = factor == T(0) ? T(0) : factor * x[i];
}

template <class T>
__global__ void binary_kernel(BinaryOp op, const T* a, Access how_a, const T* b, Access how_b, T* out, std::int64_t n,
                              StridedIndex<2> ix) {
  const bool strided = how_a == Access::strided || how_b == Access::strided;
  XGRAD_GRID_LOOP(i, n) {
    std::int64_t off[2] = {0, 0};
    if (strided) ix.offsets(i, off);
    out[i] = binary_value(op, read(a, how_a, i, off[0]), read(b, how_b, i, off[1]));
  }
}

template <class T>
__global__ void unary_kernel(UnaryOp op, const T* in, T* out, std::int64_t n, double param) {
  XGRAD_GRID_LOOP(i, n) out[i] = unary_value(op, in[i], param);
}

template <class T>
__global__ void unary_backward_kernel(UnaryOp op, const T* grad, const T* saved, T* grad_in, std::int64_t n,
                                      double param) {
  XGRAD_GRID_LOOP(i, n) grad_in[i] = unary_grad(op, grad[i], saved ? saved[i] : T(0), param);
}

template <class C, class T>
__global__ void where_kernel(const C* cond, const T* a, const T* b, T* out, std::int64_t n, StridedIndex<3> ix) {
  XGRAD_GRID_LOOP(i, n) {
    std::int64_t off[3];
    ix.offsets(i, off);
    out[i] = cond[off[0]] != C(0) ? a[off[1]] : b[off[2]];
  }
}

template <class T>
__global__ void broadcast_kernel(const T* in, T* out, std::int64_t n, StridedIndex<1> ix, T scale) {
  XGRAD_GRID_LOOP(i, n) {
    std::int64_t off[1];
    ix.offsets(i, off);
    out[i] = scale * in[off[0]];
  }
}

class CudaElementwiseKernels final : public ElementwiseKernels {
 public:
  explicit CudaElementwiseKernels(const Context& ctx) : ctx_(ctx) {}

  void binary(BinaryOp op, DType dtype, const void* a, const Shape& as, const void* b, const Shape& bs, void* out,
              const Shape& os) const override {
    const std::int64_t n = numel(os);
    if (n == 0) return;
    ctx_.activate();
    const Access how_a = access_of(as, os), how_b = access_of(bs, os);
    StridedIndex<2> ix;
    if (how_a == Access::strided || how_b == Access::strided)
      ix = make_strided_index<2>(os, {broadcast_strides(as, os), broadcast_strides(bs, os)}, "elementwise.binary");
    auto launch = [&](auto t) {
      using T = decltype(t);
      binary_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(op, static_cast<const T*>(a), how_a,
                                                                  static_cast<const T*>(b), how_b, static_cast<T*>(out),
                                                                  n, ix);
    };
    if (is_comparison(op)) dispatch_any(dtype, launch);  // comparisons take int64 too
    else dispatch_floating(dtype, "elementwise.binary", launch);
    check_launch("binary_kernel");
  }

  void unary(UnaryOp op, DType dtype, const void* in, void* out, std::int64_t n, double param) const override {
    if (n == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "elementwise.unary", [&](auto t) {
      using T = decltype(t);
      unary_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(op, static_cast<const T*>(in), static_cast<T*>(out),
                                                                 n, param);
    });
    check_launch("unary_kernel");
  }

  void unary_backward(UnaryOp op, DType dtype, const void* grad, const void* saved, void* gin, std::int64_t n,
                      double param) const override {
    if (n == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "elementwise.unary_backward", [&](auto t) {
      using T = decltype(t);
      unary_backward_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(
          op, static_cast<const T*>(grad), static_cast<const T*>(saved), static_cast<T*>(gin), n, param);
    });
    check_launch("unary_backward_kernel");
  }

  void where(DType cond_dtype, const void* cond, const Shape& cs, DType dtype, const void* a, const Shape& as,
             const void* b, const Shape& bs, void* out, const Shape& os) const override {
    const std::int64_t n = numel(os);
    if (n == 0) return;
    ctx_.activate();
    const auto ix = make_strided_index<3>(
        os, {broadcast_strides(cs, os), broadcast_strides(as, os), broadcast_strides(bs, os)}, "elementwise.where");
    dispatch_floating(dtype, "elementwise.where", [&](auto t) {
      using T = decltype(t);
      dispatch_any(cond_dtype, [&](auto c) {
        using C = decltype(c);
        where_kernel<C, T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(
            static_cast<const C*>(cond), static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), n, ix);
      });
    });
    check_launch("where_kernel");
  }

  void broadcast(DType dtype, const void* in, const Shape& is, void* out, const Shape& os,
                 double scale) const override {
    const std::int64_t n = numel(os);
    if (n == 0) return;
    ctx_.activate();
    const auto ix = make_strided_index<1>(os, {broadcast_strides(is, os)}, "elementwise.broadcast");
    dispatch_floating(dtype, "elementwise.broadcast", [&](auto t) {
      using T = decltype(t);
      broadcast_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(static_cast<const T*>(in), static_cast<T*>(out), n,
                                                                     ix, static_cast<T>(scale));
    });
    check_launch("broadcast_kernel");
  }

 private:
  const Context& ctx_;
};

}  // namespace

std::unique_ptr<ElementwiseKernels> make_elementwise(const Context& ctx) {
  return std::make_unique<CudaElementwiseKernels>(ctx);
}

bool has_code_for_device(int device, std::string& why) {
  cudaError_t status = cudaSetDevice(device);
  cudaFuncAttributes attributes{};
  if (status == cudaSuccess) status = cudaFuncGetAttributes(&attributes, fill_kernel<float>);
  if (status == cudaSuccess) return true;
  cudaGetLastError();
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  why = "compute capability " + std::to_string(major) + "." + std::to_string(minor) + ", but the plugin was built for " +
        XGRAD_CUDA_ARCHITECTURES_BUILT + " (" + cudaGetErrorString(status) + ")";
  return false;
}

void fill(const Context& ctx, DType dtype, void* dst, std::int64_t n, double value) {
  if (n == 0) return;
  dispatch_any(dtype, [&](auto t) {
    using T = decltype(t);
    fill_kernel<T><<<grid_for(n), kThreads, 0, ctx.stream>>>(static_cast<T*>(dst), n, static_cast<T>(value));
  });
  check_launch("fill_kernel");
}

void accumulate(const Context& ctx, DType dtype, void* dst, const void* src, std::int64_t n) {
  if (n == 0) return;
  dispatch_floating(dtype, "accumulate", [&](auto t) {
    using T = decltype(t);
    accumulate_kernel<T><<<grid_for(n), kThreads, 0, ctx.stream>>>(static_cast<T*>(dst), static_cast<const T*>(src), n);
  });
  check_launch("accumulate_kernel");
}

void scale_in_place(const Context& ctx, DType dtype, void* x, std::int64_t n, double factor) {
  if (n == 0) return;
  dispatch_floating(dtype, "gemm", [&](auto t) {
    using T = decltype(t);
    scale_kernel<T><<<grid_for(n), kThreads, 0, ctx.stream>>>(static_cast<T*>(x), n, static_cast<T>(factor));
  });
  check_launch("scale_kernel");
}

}  // namespace xgrad::cuda
