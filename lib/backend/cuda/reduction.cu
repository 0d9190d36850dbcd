// CUDA reductions, deterministic: the reduced extent of each output is cut into fixed chunks, stage 1 reduces
// every (output, chunk) pair (a warp over a contiguous row when the innermost axis is reduced, else one
// thread per pair with neighbouring threads on neighbouring outputs, so reads coalesce), and stage 2 folds
// each output's chunks in order. The partition depends only on the shape, so every run adds in the same
// order. scatter_rows_add sorts the indices (CUB's stable radix sort) and lets one thread own each
// destination element, adding its contributions in index order: no atomics. The selections along an axis
// (argmax/argmin, topk) give one thread each fiber (math/select.hpp).
#include <cub/device/device_radix_sort.cuh>

#include "backend/cuda/device.cuh"
#include "backend/cuda/math/index.hpp"
#include "backend/cuda/math/select.hpp"
#include "backend/cuda/tables.hpp"

namespace xgrad::cuda {

namespace {

// Elements one (output, chunk) pair reduces: a warp's row chunk, or one thread's column chunk.
constexpr std::int64_t kRowChunk = 8192;
constexpr std::int64_t kColumnChunk = 64;

/// Sum: the accumulator is T.
template <class T>
struct SumOp {
  using Acc = T;
  __device__ static Acc identity() { return T(0); }
  __device__ static Acc from(T x, std::int64_t) { return x; }
  __device__ static Acc combine(Acc a, Acc b) { return a + b; }
  __device__ static Acc warp_combine(Acc a) { return warp_sum(a); }
};

/// Max with argmax: the accumulator is the winning (value, flat index) candidate.
template <class T>
struct MaxOp {
  using Acc = ArgMax<T>;
  __device__ static Acc identity() { return {T(0), -1}; }
  __device__ static Acc from(T x, std::int64_t i) { return {x, i}; }
  __device__ static Acc combine(Acc a, Acc b) { return better(a, b); }
  __device__ static Acc warp_combine(Acc a) { return warp_argmax(a); }
};

/// Pair p = c * outputs + o (chunk c of output o) reduces elements [c L, min(R, (c + 1) L)) of output o.
struct Plan {
  ReductionIndex ix;
  std::int64_t chunk = 1;   // L
  std::int64_t chunks = 1;  // ceil(R / L)
  XGRAD_HOST_DEVICE std::int64_t pairs() const { return chunks * ix.outputs; }
};

Plan make_plan(const Shape& shape, const std::vector<std::int64_t>& axes, const char* op) {
  Plan p{make_reduction_index(shape, axes, op)};
  p.chunk = p.ix.inner_reduced ? kRowChunk : kColumnChunk;
  p.chunks = p.ix.reduced_count == 0 ? 1 : (p.ix.reduced_count + p.chunk - 1) / p.chunk;
  return p;
}

// Stage 1, innermost axis reduced: one warp per pair, lanes striding along the row.
template <class Op, class T>
__global__ void reduce_rows_kernel(const T* x, Plan p, typename Op::Acc* partial) {
  const int lane = threadIdx.x % kWarp;
  const std::int64_t warps = grid_stride() / kWarp;
  for (std::int64_t pair = global_thread() / kWarp; pair < p.pairs(); pair += warps) {
    const std::int64_t o = pair % p.ix.outputs, c = pair / p.ix.outputs;
    const std::int64_t r0 = c * p.chunk, r1 = r0 + p.chunk < p.ix.reduced_count ? r0 + p.chunk : p.ix.reduced_count;
    std::int64_t base[1];
    p.ix.kept.offsets(o, base);
    typename Op::Acc acc = Op::identity();
    for (std::int64_t r = r0 + lane; r < r1; r += kWarp) {
      std::int64_t off[1];
      p.ix.reduced.offsets(r, off);
      acc = Op::combine(acc, Op::from(x[base[0] + off[0]], base[0] + off[0]));
    }
    acc = Op::warp_combine(acc);
    if (lane == 0) partial[pair] = acc;
  }
}

// Stage 1, innermost axis kept: one thread per pair; neighbouring threads take neighbouring outputs.
template <class Op, class T>
__global__ void reduce_columns_kernel(const T* x, Plan p, typename Op::Acc* partial) {
  XGRAD_GRID_LOOP(pair, p.pairs()) {
    const std::int64_t o = pair % p.ix.outputs, c = pair / p.ix.outputs;
    const std::int64_t r0 = c * p.chunk, r1 = r0 + p.chunk < p.ix.reduced_count ? r0 + p.chunk : p.ix.reduced_count;
    std::int64_t base[1];
    p.ix.kept.offsets(o, base);
    typename Op::Acc acc = Op::identity();
    for (std::int64_t r = r0; r < r1; ++r) {
      std::int64_t off[1];
      p.ix.reduced.offsets(r, off);
      acc = Op::combine(acc, Op::from(x[base[0] + off[0]], base[0] + off[0]));
    }
    partial[pair] = acc;
  }
}

// Stage 2: output o folds its chunks in chunk order.
template <class T>
__global__ void finish_sum_kernel(const T* partial, Plan p, T* out, T scale, bool scaled) {
  XGRAD_GRID_LOOP(o, p.ix.outputs) {
    T acc = T(0);
    for (std::int64_t c = 0; c < p.chunks; ++c) acc += partial[c * p.ix.outputs + o];
    out[o] = scaled ? acc * scale : acc;
  }
}

template <class T>
__global__ void finish_max_kernel(const ArgMax<T>* partial, Plan p, T* out, std::int64_t* argmax) {
  XGRAD_GRID_LOOP(o, p.ix.outputs) {
    ArgMax<T> acc{T(0), -1};
    for (std::int64_t c = 0; c < p.chunks; ++c) acc = better(acc, partial[c * p.ix.outputs + o]);
    out[o] = acc.value;
    argmax[o] = acc.index;
  }
}

template <class Op, class T>
void reduce_stage1(const Context& ctx, const T* x, const Plan& p, typename Op::Acc* partial) {
  if (p.ix.inner_reduced)
    reduce_rows_kernel<Op, T><<<grid_for(p.pairs() * kWarp), kThreads, 0, ctx.stream>>>(x, p, partial);
  else
    reduce_columns_kernel<Op, T><<<grid_for(p.pairs()), kThreads, 0, ctx.stream>>>(x, p, partial);
  check_launch("reduce_rows_kernel / reduce_columns_kernel");
}

__global__ void iota_kernel(std::int64_t* out, std::int64_t n) {
  XGRAD_GRID_LOOP(i, n) out[i] = i;
}

// Thread (k, j) owns dst[key_k * width + j] when k starts a run of equal sorted keys, and adds the run's
// sources in order of their original position (the sort is stable).
template <class T>
__global__ void segment_add_kernel(const std::int64_t* keys, const std::int64_t* positions, std::int64_t n,
                                   const T* src, std::int64_t width, T* dst) {
  XGRAD_GRID_LOOP(item, n * width) {
    const std::int64_t k = item / width, j = item % width;
    const std::int64_t key = keys[k];
    if (k > 0 && keys[k - 1] == key) continue;
    T acc = dst[key * width + j];
    for (std::int64_t q = k; q < n && keys[q] == key; ++q) acc += src[positions[q] * width + j];
    dst[key * width + j] = acc;
  }
}

// Fiber f = (o, i) of `in` seen as (outer, extent, inner): its elements sit `inner` apart.
template <class T>
__global__ void extreme_kernel(const T* in, std::int64_t outer, std::int64_t extent, std::int64_t inner, bool largest,
                               T* values, std::int64_t* indices) {
  XGRAD_GRID_LOOP(f, outer * inner) {
    const std::int64_t o = f / inner, i = f % inner;
    T value;
    indices[f] = fiber_extreme(in + o * extent * inner + i, extent, inner, largest, value);
    if (values) values[f] = value;
  }
}

template <class T>
__global__ void topk_kernel(const T* in, std::int64_t outer, std::int64_t extent, std::int64_t inner, std::int64_t k,
                            bool largest, bool sorted, T* values, std::int64_t* indices) {
  XGRAD_GRID_LOOP(f, outer * inner) {
    const std::int64_t o = f / inner, i = f % inner, out = o * k * inner + i;
    fiber_topk(in + o * extent * inner + i, extent, inner, k, largest, sorted, values + out, indices + out, inner);
  }
}

class CudaReductionKernels final : public ReductionKernels {
 public:
  explicit CudaReductionKernels(const Context& ctx) : ctx_(ctx) {}

  void sum(DType dtype, const void* in, const Shape& shape, const std::vector<std::int64_t>& axes, void* out,
           double scale) const override {
    const Plan p = make_plan(shape, axes, "reduction.sum");
    if (p.ix.outputs == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "reduction.sum", [&](auto t) {
      using T = decltype(t);
      Scratch partial(ctx_, static_cast<std::size_t>(p.pairs()) * sizeof(T));
      if (p.ix.reduced_count == 0) fill(ctx_, dtype, partial.as<T>(), p.pairs(), 0.0);
      else reduce_stage1<SumOp<T>>(ctx_, static_cast<const T*>(in), p, partial.as<T>());
      finish_sum_kernel<T><<<grid_for(p.ix.outputs), kThreads, 0, ctx_.stream>>>(
          partial.as<T>(), p, static_cast<T*>(out), static_cast<T>(scale), scale != 1.0);
      check_launch("finish_sum_kernel");
    });
  }

  void max(DType dtype, const void* in, const Shape& shape, const std::vector<std::int64_t>& axes, void* out,
           std::int64_t* argmax) const override {
    const Plan p = make_plan(shape, axes, "reduction.max");
    if (p.ix.outputs == 0 || p.ix.reduced_count == 0) return;  // empty reduced axes are the caller's error
    ctx_.activate();
    dispatch_floating(dtype, "reduction.max", [&](auto t) {
      using T = decltype(t);
      Scratch partial(ctx_, static_cast<std::size_t>(p.pairs()) * sizeof(ArgMax<T>));
      reduce_stage1<MaxOp<T>>(ctx_, static_cast<const T*>(in), p, partial.as<ArgMax<T>>());
      finish_max_kernel<T><<<grid_for(p.ix.outputs), kThreads, 0, ctx_.stream>>>(partial.as<ArgMax<T>>(), p,
                                                                                 static_cast<T*>(out), argmax);
      check_launch("finish_max_kernel");
    });
  }

  void scatter_add(DType dtype, const void* grad, const std::int64_t* index, std::int64_t n,
                   void* grad_in) const override {
    ctx_.activate();
    scatter_rows_add(ctx_, dtype, index, n, grad, 1, grad_in);
  }

  void extreme_along_axis(DType dtype, const void* in, std::int64_t outer, std::int64_t extent, std::int64_t inner,
                          bool largest, void* values, std::int64_t* indices) const override {
    if (outer * inner == 0 || extent == 0) return;
    ctx_.activate();
    dispatch_any(dtype, [&](auto t) {
      using T = decltype(t);
      extreme_kernel<T><<<grid_for(outer * inner), kThreads, 0, ctx_.stream>>>(
          static_cast<const T*>(in), outer, extent, inner, largest, static_cast<T*>(values), indices);
    });
    check_launch("extreme_kernel");
  }

  // One thread per fiber, O(k extent) each: suits the small k of sampling and metrics.
  void topk(DType dtype, const void* in, std::int64_t outer, std::int64_t extent, std::int64_t inner, std::int64_t k,
            bool largest, bool sorted, void* values, std::int64_t* indices) const override {
    if (outer * inner * k == 0) return;
    ctx_.activate();
    dispatch_any(dtype, [&](auto t) {
      using T = decltype(t);
      topk_kernel<T><<<grid_for(outer * inner), kThreads, 0, ctx_.stream>>>(
          static_cast<const T*>(in), outer, extent, inner, k, largest, sorted, static_cast<T*>(values), indices);
    });
    check_launch("topk_kernel");
  }

 private:
  const Context& ctx_;
};

}  // namespace

std::unique_ptr<ReductionKernels> make_reduction(const Context& ctx) {
  return std::make_unique<CudaReductionKernels>(ctx);
}

void scatter_rows_add(const Context& ctx, DType dtype, const std::int64_t* index, std::int64_t n, const void* src,
                      std::int64_t width, void* dst) {
  if (n == 0 || width == 0) return;
  const auto bytes = static_cast<std::size_t>(n) * sizeof(std::int64_t);
  Scratch positions(ctx, bytes), sorted_keys(ctx, bytes), sorted_positions(ctx, bytes);
  iota_kernel<<<grid_for(n), kThreads, 0, ctx.stream>>>(positions.as<std::int64_t>(), n);
  check_launch("iota_kernel");
  std::size_t temp_bytes = 0;
  XGRAD_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, index, sorted_keys.as<std::int64_t>(),
                                                   positions.as<std::int64_t>(), sorted_positions.as<std::int64_t>(), n,
                                                   0, 64, ctx.stream));
  Scratch temp(ctx, temp_bytes);
  XGRAD_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, index, sorted_keys.as<std::int64_t>(),
                                                   positions.as<std::int64_t>(), sorted_positions.as<std::int64_t>(), n,
                                                   0, 64, ctx.stream));
  dispatch_floating(dtype, "scatter_add", [&](auto t) {
    using T = decltype(t);
    segment_add_kernel<T><<<grid_for(n * width), kThreads, 0, ctx.stream>>>(
        sorted_keys.as<std::int64_t>(), sorted_positions.as<std::int64_t>(), n, static_cast<const T*>(src), width,
        static_cast<T*>(dst));
  });
  check_launch("segment_add_kernel");
}

}  // namespace xgrad::cuda
