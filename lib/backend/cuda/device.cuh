#pragma once
// Device-side building blocks shared by the CUDA kernels: the grid-stride loop and warp/block reductions.
// Every reduction combines lanes by a fixed butterfly (xor shuffles) and warps in a fixed order, so a
// result depends only on the launch shape, which depends only on the tensor shapes: deterministic.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/context.hpp"
#include "backend/cuda/math/index.hpp"

namespace xgrad::cuda {

/// This thread's flat index and the grid's stride, in 64 bits (blockIdx.x * blockDim.x overflows 32).
__device__ inline std::int64_t global_thread() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

/// for (i = this thread; i < n; i += grid stride): every element once, whatever the grid size.
#define XGRAD_GRID_LOOP(i, n) \
  for (std::int64_t i = ::xgrad::cuda::global_thread(); i < (n); i += ::xgrad::cuda::grid_stride())

/// for (row = this thread's warp; row < rows; row += warps in the grid): one warp per row, every row once.
#define XGRAD_WARP_ROWS(row, rows)                                                                       \
  for (std::int64_t row = ::xgrad::cuda::global_thread() / 32, row_stride_ = ::xgrad::cuda::grid_stride() / 32; \
       row < (rows); row += row_stride_)

/// Blocks for one warp per row over `rows` rows.
inline unsigned grid_for_rows(std::int64_t rows) { return grid_for(rows * 32); }

/// *p = value, one thread: sets a device-side flag or counter in stream order.
template <class T>
__global__ void set_value_kernel(T* p, T value) {
  *p = value;
}

inline constexpr unsigned kFullMask = 0xffffffffu;
inline constexpr int kWarp = 32;

/// f-reduction of v over the 32 lanes of a warp by an xor butterfly; every lane gets the result. All lanes
/// must call it; f must be commutative (lane i computes f(v_i, v_j) where lane j computes f(v_j, v_i)).
template <class T, class F>
__device__ inline T warp_reduce(T v, F f) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = f(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

/// Σ of v over the 32 lanes of a warp; every lane gets the same sum. All lanes must call it.
template <class T>
__device__ inline T warp_sum(T v) {
  return warp_reduce(v, [](T a, T b) { return a + b; });
}

/// max of v over the lanes of a warp, ignoring NaN (a NaN lane loses unless all are NaN). All lanes call it.
template <class T>
__device__ inline T warp_max(T v) {
  return warp_reduce(v, [](T a, T b) { return b > a || a != a ? b : a; });  // commutative, NaN or not
}

/// The winning candidate of max over the lanes of a warp (see beats in math/index.hpp).
template <class T>
__device__ inline ArgMax<T> warp_argmax(ArgMax<T> v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    ArgMax<T> o;
    o.value = __shfl_xor_sync(kFullMask, v.value, offset);
    o.index = __shfl_xor_sync(kFullMask, v.index, offset);
    v = better(v, o);
  }
  return v;
}

/// f-reduction of v over a block of up to 1024 threads (a multiple of 32); every thread gets the result.
/// Every thread of the block must call it; `shared` holds 32 values; `identity` pads the missing warps.
template <class T, class F>
__device__ inline T block_reduce(T v, T* shared, F f, T identity) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  v = warp_reduce(v, f);
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  return warp_reduce(lane < warps ? shared[lane] : identity, f);
}

/// Σ of v over a block (see block_reduce).
template <class T>
__device__ inline T block_sum(T v, T* shared) {
  return block_reduce(v, shared, [](T a, T b) { return a + b; }, T(0));
}

// Blocks of stage 1 of reduce_to_device: a fixed number, so the partition depends only on n.
inline constexpr int kReduceBlocks = 1024;

/// Stage 1 of reduce_to_device: block b folds map(i) for i = b*blockDim + tid + k*gridDim*blockDim.
template <class Acc, class Map, class Combine>
__global__ void reduce_partials_kernel(std::int64_t n, Map map, Combine f, Acc identity, Acc* partial) {
  __shared__ Acc shared[kWarp];
  Acc acc = identity;
  XGRAD_GRID_LOOP(i, n) acc = f(acc, map(i));
  acc = block_reduce(acc, shared, f, identity);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

/// Stage 2 of reduce_to_device: one block folds the partials and thread 0 hands the total to `finish`.
template <class Acc, class Combine, class Finish>
__global__ void reduce_finish_kernel(const Acc* partial, int count, Combine f, Acc identity, Finish finish) {
  __shared__ Acc shared[kWarp];
  Acc acc = identity;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc = f(acc, partial[i]);
  acc = block_reduce(acc, shared, f, identity);
  if (threadIdx.x == 0) finish(acc);
}

/// Folds map(0), ..., map(n - 1) with the commutative, associative `f` (identity: its neutral value) in two
/// deterministic stages on the device, then calls finish(total) on one device thread. Map, Combine and
/// Finish are functor types with __device__ call operators.
template <class Acc, class Map, class Combine, class Finish>
void reduce_to_device(const Context& ctx, std::int64_t n, Map map, Combine f, Acc identity, Finish finish) {
  const unsigned blocks = n == 0 ? 1 : (grid_for(n) < kReduceBlocks ? grid_for(n) : kReduceBlocks);
  Scratch partial(ctx, blocks * sizeof(Acc));
  reduce_partials_kernel<Acc><<<blocks, kThreads, 0, ctx.stream>>>(n, map, f, identity, partial.as<Acc>());
  check_launch("reduce_partials_kernel");
  reduce_finish_kernel<Acc><<<1, kThreads, 0, ctx.stream>>>(partial.as<Acc>(), static_cast<int>(blocks), f, identity,
                                                            finish);
  check_launch("reduce_finish_kernel");
}

/// Combine functor: a + b.
struct Plus {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};

/// Finish functor: *out = total.
template <class Acc>
struct StoreTo {
  Acc* out;
  __device__ void operator()(Acc total) const { *out = total; }
};

}  // namespace xgrad::cuda
