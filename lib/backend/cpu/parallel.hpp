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
/// Runs fn on the chunks [i * chunk, min(n, (i + 1) * chunk)) across the pool; rethrows a chunk's exception.
void run_parallel(std::int64_t n, std::int64_t chunk, RangeFn fn, void* ctx);
}  // namespace detail

/// Calls fn(begin, end) on disjoint chunks covering [0, n), one per thread at most. Each chunk holds at
/// least `grain` items and, but for the last, a multiple of `align` items, so chunk starts keep the memory
/// alignment of item 0 (xtensor's SIMD math takes a scalar path on a misaligned head, and results must not
/// depend on the thread count). Runs inline when one chunk suffices, on one thread, or nested in a region.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& fn, std::int64_t align = 1) {
  if (n <= 0) return;
  const std::int64_t threads = pool_threads();
  std::int64_t chunk = std::max<std::int64_t>({(n + threads - 1) / threads, grain, 1});
  chunk = (chunk + align - 1) / align * align;
  if (threads <= 1 || chunk >= n) {
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
