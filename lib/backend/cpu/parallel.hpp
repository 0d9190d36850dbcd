#pragma once
// xgrad's CPU thread pool, the one owner of the cores. OpenBLAS runs single-threaded inside it: two
// pools spinning on the same cores fight over them (docs/benchmarks.md, "Measurements behind design
// comments"), and a GEMM split into row or column blocks parallelises as well as OpenBLAS's own threads
// on our shapes.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace xgrad::cpu {

/// Threads the CPU kernels use: the calling thread plus the pool's workers.
int pool_threads();

/// Sets the thread count (>= 1), restarting the workers; waits for a running parallel region to end.
void set_pool_threads(int threads);

namespace detail {
using RangeFn = void (*)(void* ctx, std::int64_t begin, std::int64_t end);
/// Runs fn on the chunks [i * chunk, min(n, (i + 1) * chunk)) across the pool, or one after another on the
/// calling thread when the pool is busy or this is a nested region; rethrows a chunk's exception. At most
/// kMaxChunks chunks.
void run_parallel(std::int64_t n, std::int64_t chunk, RangeFn fn, void* ctx);
}  // namespace detail

/// A region is cut into up to this many chunks per thread, taken one at a time by whichever thread is free:
/// when a worker is preempted (another process wants its core), the others take over its share, all but the
/// one chunk it is running. More chunks shrink that remainder but cost per-call overhead; under load, 1, 2, 4
/// and 8 measured alike in wall time, and CPU time per step rose weakly with the count (docs/benchmarks.md).
/// GEMMs, whose blocks each pack a shared operand again, ask for one block per thread through their grain.
constexpr std::int64_t kChunksPerThread = 2;
/// The most chunks a region is cut into (the pool's claim counter has 16 bits).
constexpr std::int64_t kMaxChunks = 4096;

/// The chunk size parallel_for cuts n items into at `threads` threads: about n / (threads * kChunksPerThread),
/// at least `grain`, a multiple of `align`. It depends on nothing else, so neither does any result.
inline std::int64_t chunk_size(std::int64_t n, std::int64_t grain, std::int64_t align, std::int64_t threads) {
  const std::int64_t pieces = std::min(threads * kChunksPerThread, kMaxChunks);
  std::int64_t chunk = std::max<std::int64_t>({(n + pieces - 1) / pieces, grain, 1});
  chunk = (chunk + align - 1) / align * align;
  return std::max(chunk, (n + kMaxChunks - 1) / kMaxChunks);
}

/// Calls fn(begin, end) on disjoint chunks covering [0, n) (chunk_size() of them), on the pool's threads. Each
/// chunk holds at least `grain` items and, but for the last, a multiple of `align` items, so chunk starts keep
/// the memory alignment of item 0 (xtensor's SIMD math takes a scalar path on a misaligned head, and results
/// must not depend on the thread count). The chunks depend only on n, grain, align and the configured thread
/// count (set_num_threads), never on which thread runs which chunk, nor on whether the pool was free: a region
/// nested in another, or opened while another user thread holds the pool, runs the same chunks one after
/// another on its caller. One thread, or one chunk, runs fn(0, n) inline.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& fn, std::int64_t align = 1) {
  if (n <= 0) return;
  const std::int64_t threads = pool_threads();
  const std::int64_t chunk = threads <= 1 ? n : chunk_size(n, grain, align, threads);
  if (chunk >= n) {
    fn(std::int64_t{0}, n);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  detail::run_parallel(
      n, chunk, [](void* ctx, std::int64_t b, std::int64_t e) { (*static_cast<Fn*>(ctx))(b, e); },
      const_cast<void*>(static_cast<const void*>(&fn)));
}

/// Elementwise kernels split flat ranges into chunks of at least this many items: below it, waking a
/// worker costs about as much as the work it would take over.
constexpr std::int64_t kElementGrain = 32768;

/// parallel_for over a flat range of elementwise work, in chunks aligned to 64 items (a multiple of every
/// SIMD width), so the result is the same on any number of threads.
template <class F>
void parallel_elements(std::int64_t n, F&& fn) {
  parallel_for(n, kElementGrain, std::forward<F>(fn), 64);
}

/// parallel_for over rows of `row_size` items each, at least kElementGrain items per chunk.
template <class F>
void parallel_rows(std::int64_t rows, std::int64_t row_size, F&& fn) {
  parallel_for(rows, std::max<std::int64_t>(1, kElementGrain / std::max<std::int64_t>(1, row_size)),
               std::forward<F>(fn));
}

/// Splits [0, n) into parts for a reduction: fn(part, begin, end) runs once per part, each part on one thread,
/// and the part count (returned, at most pool_threads()) depends only on n, `grain` and the thread count, so
/// per-part partial results combined in part order give the same answer on every run.
template <class F>
std::int64_t parallel_parts(std::int64_t n, std::int64_t grain, F&& fn) {
  if (n <= 0) return 0;
  const std::int64_t parts = std::clamp<std::int64_t>(n / std::max<std::int64_t>(1, grain), 1, pool_threads());
  const std::int64_t chunk = (n + parts - 1) / parts;
  parallel_for(parts, 1, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) fn(p, std::min(n, p * chunk), std::min(n, (p + 1) * chunk));
  });
  return parts;
}

}  // namespace xgrad::cpu
