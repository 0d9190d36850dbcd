#include "backend/cpu/cpu_backend.hpp"

#include "backend/cpu/parallel.hpp"
#include "xgrad/backend/threads.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace xgrad {

namespace {

constexpr std::size_t kAlignment = 64;  // one cache line; also the widest SIMD register

// Freed large blocks are kept for reuse. glibc hands blocks this large back to the kernel on free, so each
// training step's activations would arrive as fresh pages, faulted in and zeroed 4 KiB at a time (a measurable
// share of a Tiny LM step: docs/benchmarks.md), and the page-table lock serialises the threads. A step allocates the same sizes every
// time, so a cache keyed by exact (page-rounded) size serves nearly every request after the first step.
constexpr std::size_t kCachedMin = std::size_t{64} << 10;  // smaller blocks stay with glibc, which reuses them
constexpr std::size_t kPage = std::size_t{4} << 10;
constexpr std::size_t kCacheLimit = std::size_t{256} << 20;  // beyond this many idle bytes, blocks go back
#ifdef __SANITIZE_ADDRESS__
constexpr bool kCaching = false;  // AddressSanitizer must see every free to catch a use after it
#else
constexpr bool kCaching = true;
#endif

class BlockCache {
 public:
  void* take(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    idle_ -= bytes;
    return p;
  }
  // Keeps the block when there is room; false: the caller frees it.
  bool give(void* p, std::size_t bytes) {
    std::lock_guard lock(mutex_);
    if (idle_ + bytes > kCacheLimit) return false;
    free_[bytes].push_back(p);
    idle_ += bytes;
    return true;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t idle_ = 0;
};

// Never destroyed: tensors in other static objects may be freed after any destructor of ours has run.
BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache;
  return *cache;
}

std::size_t rounded_size(std::size_t bytes) {
  const std::size_t unit = bytes >= kCachedMin ? kPage : kAlignment;
  return std::max(unit, (bytes + unit - 1) / unit * unit);
}

}  // namespace

CpuBackend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

void* CpuBackend::allocate(std::size_t bytes) {
  const std::size_t size = rounded_size(bytes);
  if (kCaching && size >= kCachedMin)
    if (void* p = block_cache().take(size)) return p;
  void* p = std::aligned_alloc(kAlignment, size);
  if (!p) throw std::bad_alloc();
  return p;
}

void CpuBackend::deallocate(void* ptr, std::size_t bytes) noexcept {
  const std::size_t size = rounded_size(bytes);
  if (kCaching && ptr && size >= kCachedMin && block_cache().give(ptr, size)) return;
  std::free(ptr);
}

void CpuBackend::copy_from_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void CpuBackend::copy_to_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void CpuBackend::copy(void* dst, const void* src, std::size_t bytes) {
  if (bytes) std::memmove(dst, src, bytes);
}

void CpuBackend::fill(DType dtype, void* dst, std::int64_t n, double value) {
  dispatch_any(dtype, [&](auto t) {
    using T = decltype(t);
    T* p = static_cast<T*>(dst);
    const T v = element_from_double<T>(value, "fill");
    cpu::parallel_elements(n, [&](std::int64_t i0, std::int64_t i1) { std::fill(p + i0, p + i1, v); });
  });
}

void CpuBackend::accumulate(DType dtype, void* dst, const void* src, std::int64_t n) {
  dispatch_floating(dtype, "accumulate", [&](auto t) {
    using T = decltype(t);
    T* __restrict d = static_cast<T*>(dst);
    const T* __restrict s = static_cast<const T*>(src);
    cpu::parallel_elements(n, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) d[i] += s[i];
    });
  });
}

void set_num_threads(int threads) {
  if (threads < 1) throw ValueError(fmt::format("set_num_threads: need at least 1 thread, got {}", threads));
  cpu::set_pool_threads(threads);
}

int num_threads() { return cpu::pool_threads(); }

}  // namespace xgrad
