// CUDA strided copies and indexing: one thread per element of the index space, offsets from the merged
// strides of math/index.hpp. Copies move raw 4- or 8-byte words, so one kernel serves every dtype. The
// indexing backwards give each thread a column of additions in a fixed order (math/select.hpp): no atomics.
#include "backend/cuda/device.cuh"
#include "backend/cuda/math/index.hpp"
#include "backend/cuda/math/select.hpp"
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

__global__ void first_bad_index_kernel(const std::int64_t* index, std::int64_t n, std::int64_t extent,
                                       unsigned long long* first_bad) {
  // Integer atomicMin: the smallest bad position wins whatever the order of the threads.
  XGRAD_GRID_LOOP(i, n) if (index[i] < 0 || index[i] >= extent) atomicMin(first_bad, static_cast<unsigned long long>(i));
}

template <class W>
__global__ void index_select_kernel(const W* in, std::int64_t in_extent, std::int64_t inner, const std::int64_t* index,
                                    std::int64_t m, W* out, std::int64_t n) {
  XGRAD_GRID_LOOP(item, n) {  // out[o, j, i] = in[o, index[j], i]
    const std::int64_t i = item % inner, j = item / inner % m, o = item / inner / m;
    out[item] = in[(o * in_extent + index[j]) * inner + i];
  }
}

template <class T>
__global__ void index_select_add_kernel(const T* grad, std::int64_t outer, std::int64_t m, std::int64_t inner,
                                        const std::int64_t* index, std::int64_t in_extent, T* grad_in) {
  XGRAD_GRID_LOOP(c, outer * inner) index_select_column_add(grad, m, inner, index, in_extent, c / inner, c % inner, grad_in);
}

template <class W>
__global__ void gather_kernel(const W* in, GatherIndex g, const std::int64_t* index, W* out, std::int64_t n) {
  XGRAD_GRID_LOOP(p, n) out[p] = in[g.input_offset(p, index[p])];
}

template <class T>
__global__ void gather_add_kernel(const T* grad, GatherIndex g, const std::int64_t* index, T* grad_in) {
  XGRAD_GRID_LOOP(c, g.outer * g.inner) g.column_add(grad, index, c / g.inner, c % g.inner, grad_in);
}

// Runs fn(W{}) with W the unsigned word of dtype's size: copies need no arithmetic.
template <class Fn>
void by_word(DType dtype, Fn&& fn) {
  if (dtype_size(dtype) == 4) fn(std::uint32_t{});
  else fn(std::uint64_t{});
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
    by_word(dtype, [&](auto w) {
      using W = decltype(w);
      strided_copy_kernel<W><<<grid_for(n), kThreads, 0, ctx_.stream>>>(static_cast<W*>(dst),
                                                                        static_cast<const W*>(src), n, ix);
    });
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

  std::int64_t index_select(DType dtype, const void* in, std::int64_t outer, std::int64_t in_extent,
                            std::int64_t inner, const std::int64_t* index, std::int64_t m, void* out) const override {
    const std::int64_t bad = first_out_of_range(ctx_, index, m, in_extent);
    const std::int64_t n = outer * m * inner;
    if (bad >= 0 || n == 0) return bad;
    by_word(dtype, [&](auto w) {
      using W = decltype(w);
      index_select_kernel<W><<<grid_for(n), kThreads, 0, ctx_.stream>>>(static_cast<const W*>(in), in_extent, inner,
                                                                       index, m, static_cast<W*>(out), n);
    });
    check_launch("index_select_kernel");
    return -1;
  }

  void index_select_add(DType dtype, const void* grad, std::int64_t outer, std::int64_t m, std::int64_t inner,
                        const std::int64_t* index, std::int64_t in_extent, void* grad_in) const override {
    if (outer * inner * m == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "shape.index_select_add", [&](auto t) {
      using T = decltype(t);
      index_select_add_kernel<T><<<grid_for(outer * inner), kThreads, 0, ctx_.stream>>>(
          static_cast<const T*>(grad), outer, m, inner, index, in_extent, static_cast<T*>(grad_in));
    });
    check_launch("index_select_add_kernel");
  }

  std::int64_t gather(DType dtype, const void* in, const Shape& in_shape, std::int64_t axis,
                      const std::int64_t* index, const Shape& index_shape, void* out) const override {
    const std::int64_t n = count_of(index_shape);
    const std::int64_t bad = first_out_of_range(ctx_, index, n, in_shape[static_cast<std::size_t>(axis)]);
    if (bad >= 0 || n == 0) return bad;
    const GatherIndex g = make_gather_index(in_shape, axis, index_shape);
    by_word(dtype, [&](auto w) {
      using W = decltype(w);
      gather_kernel<W><<<grid_for(n), kThreads, 0, ctx_.stream>>>(static_cast<const W*>(in), g, index,
                                                                 static_cast<W*>(out), n);
    });
    check_launch("gather_kernel");
    return -1;
  }

  void gather_add(DType dtype, const void* grad, const std::int64_t* index, const Shape& index_shape,
                  std::int64_t axis, void* grad_in, const Shape& in_shape) const override {
    if (count_of(index_shape) == 0) return;
    ctx_.activate();
    const GatherIndex g = make_gather_index(in_shape, axis, index_shape);
    dispatch_floating(dtype, "shape.gather_add", [&](auto t) {
      using T = decltype(t);
      gather_add_kernel<T><<<grid_for(g.outer * g.inner), kThreads, 0, ctx_.stream>>>(
          static_cast<const T*>(grad), g, index, static_cast<T*>(grad_in));
    });
    check_launch("gather_add_kernel");
  }

 private:
  const Context& ctx_;
};

}  // namespace

std::unique_ptr<ShapeKernels> make_shape(const Context& ctx) { return std::make_unique<CudaShapeKernels>(ctx); }

std::int64_t first_out_of_range(const Context& ctx, const std::int64_t* index, std::int64_t n, std::int64_t extent) {
  if (n == 0) return -1;
  ctx.activate();
  Scratch first_bad(ctx, sizeof(unsigned long long));
  set_value_kernel<unsigned long long><<<1, 1, 0, ctx.stream>>>(first_bad.as<unsigned long long>(), static_cast<unsigned long long>(n));
  first_bad_index_kernel<<<grid_for(n), kThreads, 0, ctx.stream>>>(index, n, extent, first_bad.as<unsigned long long>());
  check_launch("first_bad_index_kernel");
  unsigned long long bad = 0;
  ctx.to_host(&bad, first_bad.as<unsigned long long>(), sizeof bad);
  return bad < static_cast<unsigned long long>(n) ? static_cast<std::int64_t>(bad) : -1;
}

}  // namespace xgrad::cuda
