#include "backend/cpu/cpu_backend.hpp"

#include <cblas.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace xgrad {

namespace {
constexpr std::size_t kAlignment = 64;  // one cache line; also the widest SIMD register
}

CpuBackend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

void* CpuBackend::allocate(std::size_t bytes) {
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (!p) throw std::bad_alloc();
  return p;
}

void CpuBackend::deallocate(void* ptr, std::size_t) noexcept { std::free(ptr); }

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
    const T v = static_cast<T>(value);
    for (std::int64_t i = 0; i < n; ++i) p[i] = v;
  });
}

void CpuBackend::accumulate(DType dtype, void* dst, const void* src, std::int64_t n) {
  dispatch_floating(dtype, "accumulate", [&](auto t) {
    using T = decltype(t);
    T* __restrict d = static_cast<T*>(dst);
    const T* __restrict s = static_cast<const T*>(src);
    for (std::int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

void set_num_threads(int threads) {
  if (threads < 1) throw ValueError("set_num_threads: need at least 1 thread");
  openblas_set_num_threads(threads);
}

int num_threads() { return openblas_get_num_threads(); }

}  // namespace xgrad
