// CUDA strided copies: one thread per element of the index space, offsets from the merged strides of
// math/index.hpp. Copies move raw 4- or 8-byte words, so one kernel serves every dtype.
#include "backend/cuda/device.cuh"
#include "backend/cuda/math/index.hpp"
#include "backend/cuda/tables.hpp"

namespace xgrad::cuda {

namespace {

template <class T>
__global__ void strided_copy_kernel(T* dst, const T* src, std::int64_t n, StridedIndex<2> ix) {
  XGRAD_GRID_LOOP(i, n) {
    std::int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = src[off[1]];
  }
}

template <class T>
__global__ void strided_add_kernel(T* dst, const T* src, std::int64_t n, StridedIndex<2> ix) {
  XGRAD_GRID_LOOP(i, n) {
    std::int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] += src[off[1]];  // destinations never overlap (ShapeKernels' contract): no two threads share one
  }
}

std::int64_t count_of(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t e : shape) n *= e;
  return n;
}

class CudaShapeKernels final : public ShapeKernels {
 public:
  explicit CudaShapeKernels(const Context& ctx) : ctx_(ctx) {}

  void strided_copy(DType dtype, const std::vector<std::int64_t>& shape, void* dst,
                    const std::vector<std::int64_t>& dst_strides, const void* src,
                    const std::vector<std::int64_t>& src_strides) const override {
    const std::int64_t n = count_of(shape);
    if (n == 0) return;
    ctx_.activate();
    const auto ix = make_strided_index<2>(shape, {dst_strides, src_strides}, "strided_copy");
    if (dtype_size(dtype) == 4)
      strided_copy_kernel<std::uint32_t><<<grid_for(n), kThreads, 0, ctx_.stream>>>(
          static_cast<std::uint32_t*>(dst), static_cast<const std::uint32_t*>(src), n, ix);
    else
      strided_copy_kernel<std::uint64_t><<<grid_for(n), kThreads, 0, ctx_.stream>>>(
          static_cast<std::uint64_t*>(dst), static_cast<const std::uint64_t*>(src), n, ix);
    check_launch("strided_copy_kernel");
  }

  void strided_add(DType dtype, const std::vector<std::int64_t>& shape, void* dst,
                   const std::vector<std::int64_t>& dst_strides, const void* src,
                   const std::vector<std::int64_t>& src_strides) const override {
    const std::int64_t n = count_of(shape);
    if (n == 0) return;
    ctx_.activate();
    const auto ix = make_strided_index<2>(shape, {dst_strides, src_strides}, "strided_add");
    dispatch_floating(dtype, "strided_add", [&](auto t) {
      using T = decltype(t);
      strided_add_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(static_cast<T*>(dst), static_cast<const T*>(src),
                                                                       n, ix);
    });
    check_launch("strided_add_kernel");
  }

 private:
  const Context& ctx_;
};

}  // namespace

std::unique_ptr<ShapeKernels> make_shape(const Context& ctx) { return std::make_unique<CudaShapeKernels>(ctx); }

}  // namespace xgrad::cuda
