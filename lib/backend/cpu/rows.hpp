#pragma once
// Row kernels shared by the CPU softmax, cross-entropy and attention kernels: horizontal reductions of xsimd
// batches, the max and dot product of a row, and the softmax of a row. Lanes are combined pairwise in
// registers (log2 W steps): softmax rows of 64 scores are short enough for a serial chain of lane loads to
// cost as much as the row. Not xsimd::hadd: with AVX-512 doubles GCC 12 reports a false "used
// uninitialized" inside the extract intrinsic it uses; and xsimd 8 has no horizontal max.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace xgrad::cpu {

namespace detail {
// Lane i takes lane (i + Shift) mod n.
template <std::size_t Shift>
struct RotateLanes {
  static constexpr unsigned get(unsigned i, unsigned n) { return (i + Shift) % n; }
};
}  // namespace detail

/// Combines the lanes of `b` pairwise with `op`: in registers by lane rotations where xsimd has them (AVX
/// and later), else through a stored copy.
template <class Batch, class Op, class T = typename Batch::value_type>
T lane_reduce(Batch b, Op op) {
#if XSIMD_WITH_AVX
// GCC 12 reports a false "used uninitialized" inside the AVX-512 permute intrinsic that swizzle uses.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
  using Index = xsimd::batch<xsimd::as_unsigned_integer_t<T>, typename Batch::arch_type>;
  [&]<std::size_t... Level>(std::index_sequence<Level...>) {  // rotate by W/2, W/4, ..., 1
    using xsimd::make_batch_constant;
    ((b = op(b, xsimd::swizzle(b, make_batch_constant<Index, detail::RotateLanes<(Batch::size >> (Level + 1))>>()))),
     ...);
  }(std::make_index_sequence<std::bit_width(Batch::size) - 1>{});
#pragma GCC diagnostic pop
  return b.get(0);
#else
  alignas(64) T lanes[Batch::size];
  b.store_aligned(lanes);
  for (std::size_t width = Batch::size / 2; width > 0; width /= 2)
    for (std::size_t l = 0; l < width; ++l) lanes[l] = op(lanes[l], lanes[l + width]);
  return lanes[0];
#endif
}

/// Σ of the lanes of `b`.
template <class Batch, class T = typename Batch::value_type>
T lane_sum(const Batch& b) {
  return lane_reduce(b, [](const auto& x, const auto& y) { return x + y; });
}

/// max(a, b), NaN when either is: std::max(a, b) returns a when b is NaN, so a row maximum built from it
/// would skip a NaN, and a row of NaN logits would pass for a fully blocked one.
template <class T>
T max_or_nan(T a, T b) {
  return std::isnan(b) || b > a ? b : a;
}

/// max of x[0, n), NaN when any entry is NaN (the SIMD max instructions, like std::max, keep or drop a NaN
/// depending on its operand position); -inf for n = 0.
template <class T>
T row_max(const T* x, std::int64_t n) {
  using Batch = xsimd::batch<T>;
  constexpr std::int64_t W = Batch::size;
  Batch acc(-std::numeric_limits<T>::infinity());
  xsimd::batch_bool<T> nan(false);
  std::int64_t i = 0;
  for (; i + W <= n; i += W) {
    const Batch b = Batch::load_unaligned(x + i);
    acc = xsimd::max(acc, b);
    nan = nan | xsimd::isnan(b);  // not b != b: xsimd 8 compares AVX batches ordered, so NaN != NaN is false
  }
  T m = xsimd::any(nan) ? std::numeric_limits<T>::quiet_NaN()
                        : lane_reduce(acc, [](const auto& x, const auto& y) { return xsimd::max(x, y); });
  for (; i < n; ++i) m = max_or_nan(m, x[i]);
  return m;
}

/// Σ a[i]·b[i] over i < n.
template <class T>
T row_dot(const T* a, const T* b, std::int64_t n) {
  using Batch = xsimd::batch<T>;
  constexpr std::int64_t W = Batch::size;
  Batch acc(T(0));
  std::int64_t i = 0;
  for (; i + W <= n; i += W) acc = xsimd::fma(Batch::load_unaligned(a + i), Batch::load_unaligned(b + i), acc);
  T sum = lane_sum(acc);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

/// p[0, n) = softmax(z[0, n)) given its maximum m (finite, or NaN / +inf when z holds one), with xsimd's exp
/// (GCC vectorises std::exp only under -ffast-math, which is unsafe with -inf logits); p[n, end) = 0 exactly.
/// A NaN or +inf logit makes the sum NaN, and then every p[0, end) is NaN: the row cannot be normalised, and
/// a NaN must reach the output rather than vanish into weights that look valid. p may be z.
template <class T>
void softmax_prefix(const T* z, T* p, std::int64_t n, std::int64_t end, T m) {
  using Batch = xsimd::batch<T>;
  constexpr std::int64_t W = Batch::size;
  Batch acc(T(0));
  std::int64_t i = 0;
  for (; i + W <= n; i += W) {
    const Batch e = xsimd::exp(Batch::load_unaligned(z + i) - m);
    e.store_unaligned(p + i);
    acc += e;
  }
  T sum = lane_sum(acc);
  for (; i < n; ++i) sum += (p[i] = std::exp(z[i] - m));
  const T inv = T(1) / sum;
  for (i = 0; i < n; ++i) p[i] *= inv;
  std::fill(p + n, p + end, std::isnan(inv) ? inv : T(0));
}

}  // namespace xgrad::cpu
