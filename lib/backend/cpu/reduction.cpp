// CPU reduction kernels. The input is walked once in row-major order with the output's strides
// set to 0 on reduced axes (after merging neighbouring axes of one kind), so every pattern becomes
// either "sum a contiguous row into one output" (reduced innermost axis, xsimd accumulators) or
// "add a contiguous row onto an output row" (kept innermost axis, a vectorised loop). No xtensor
// reducers: over the last axis they are many times slower than a plain loop (docs/benchmarks.md,
// "Measurements behind design comments").
#include "xgrad/backend/reduction.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/elementwise_strided.hpp"
#include "backend/cpu/parallel.hpp"

namespace xgrad {

namespace {

// Input strides and output strides (0 on reduced axes) over the input shape, merged.
cpu::StridedLoop<2> reduction_loop(const Shape& shape, const std::vector<std::int64_t>& axes) {
  std::vector<std::int64_t> out_strides(shape.size(), 0);
  std::int64_t stride = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(d)) != axes.end()) continue;
    out_strides[d] = stride;
    stride *= shape[d];
  }
  return cpu::collapse<2>(shape, {contiguous_strides(shape), out_strides});
}

std::int64_t kept_numel(const Shape& shape, const std::vector<std::int64_t>& axes) {
  std::int64_t n = 1;
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(d)) == axes.end()) n *= shape[d];
  return n;
}

// Sum of a contiguous row with two independent SIMD accumulators (also better rounding than a serial sum).
template <class T>
T row_sum(const T* x, std::int64_t n) {
  using B = xsimd::batch<T>;
  constexpr std::int64_t w = static_cast<std::int64_t>(B::size);
  B acc0(T(0)), acc1(T(0));
  std::int64_t i = 0;
  for (; i + 2 * w <= n; i += 2 * w) {
    acc0 += B::load_unaligned(x + i);
    acc1 += B::load_unaligned(x + i + w);
  }
  for (; i + w <= n; i += w) acc0 += B::load_unaligned(x + i);
  T s = xsimd::hadd(acc0 + acc1);
  for (; i < n; ++i) s += x[i];
  return s;
}

// Whether v replaces the running maximum: strictly greater keeps the first of ties; NaN wins once.
template <class T>
bool beats(T v, T best) {
  return v > best || (v != v && best == best);
}

// Index of the first maximum of a contiguous row of n >= 1 elements (of the first NaN, if any):
// a vectorised max and NaN scan, then a scan for the first element equal to the maximum.
template <class T>
std::int64_t row_argmax(const T* x, std::int64_t n) {
  using B = xsimd::batch<T>;
  constexpr std::int64_t w = static_cast<std::int64_t>(B::size);
  if (x[0] != x[0]) return 0;
  T best = x[0];
  std::int64_t i = 1;
  if (n >= w) {
    B acc = B::load_unaligned(x);
    auto nan = xsimd::isnan(acc);
    for (i = w; i + w <= n; i += w) {
      const B v = B::load_unaligned(x + i);
      acc = xsimd::max(acc, v);
      nan = nan | xsimd::isnan(v);
    }
    if (xsimd::any(nan))
      for (std::int64_t j = 0; j < i; ++j)
        if (x[j] != x[j]) return j;
    alignas(64) T lanes[w];
    acc.store_aligned(lanes);
    for (std::int64_t l = 0; l < w; ++l) best = lanes[l] > best ? lanes[l] : best;
  }
  for (; i < n; ++i) {  // the tail; no NaN before it
    if (x[i] != x[i]) return i;
    best = x[i] > best ? x[i] : best;
  }
  std::int64_t j = 0;
  for (; j + w <= n; j += w)  // find the block holding the first maximum, then the lane
    if (xsimd::any(B::load_unaligned(x + j) == B(best))) break;
  while (x[j] != best) ++j;
  return j;
}

class CpuReductionKernels final : public ReductionKernels {
 public:
  void sum(DType dtype, const void* in, const Shape& shape, const std::vector<std::int64_t>& axes, void* out,
           double scale) const override {
    dispatch_floating(dtype, "reduction.sum", [&](auto tag) {
      using T = decltype(tag);
      const T* x = static_cast<const T*>(in);
      T* o = static_cast<T*>(out);
      const std::int64_t n_out = kept_numel(shape, axes);
      for (std::int64_t i = 0; i < n_out; ++i) o[i] = T(0);
      if (numel(shape) > 0) {
        const auto loop = reduction_loop(shape, axes);
        const std::int64_t m = loop.inner();
        if (loop.inner_stride(1) == 0) {  // innermost axis reduced: one output per row
          cpu::for_each_row(loop, [&](const std::array<std::int64_t, 2>& off) { o[off[1]] += row_sum(x + off[0], m); });
        } else {  // innermost axis kept: accumulate whole rows
          cpu::for_each_row(loop, [&](const std::array<std::int64_t, 2>& off) {
            const T* xr = x + off[0];
            T* orow = o + off[1];
            for (std::int64_t j = 0; j < m; ++j) orow[j] += xr[j];
          });
        }
      }
      if (scale != 1.0)
        for (std::int64_t i = 0; i < n_out; ++i) o[i] *= static_cast<T>(scale);
    });
  }

  void max(DType dtype, const void* in, const Shape& shape, const std::vector<std::int64_t>& axes, void* out,
           std::int64_t* argmax) const override {
    dispatch_floating(dtype, "reduction.max", [&](auto tag) {
      using T = decltype(tag);
      const T* x = static_cast<const T*>(in);
      T* o = static_cast<T*>(out);
      const std::int64_t n_out = kept_numel(shape, axes);
      for (std::int64_t i = 0; i < n_out; ++i) argmax[i] = -1;
      if (numel(shape) == 0) return;
      const auto loop = reduction_loop(shape, axes);
      const std::int64_t m = loop.inner();
      if (loop.inner_stride(1) == 0) {  // innermost axis reduced: the row's first maximum
        cpu::for_each_row(loop, [&](const std::array<std::int64_t, 2>& off) {
          const std::int64_t at = off[0] + row_argmax(x + off[0], m);
          if (argmax[off[1]] < 0 || beats(x[at], o[off[1]])) o[off[1]] = x[at], argmax[off[1]] = at;
        });
      } else {  // innermost axis kept: the first row of a block initialises, later rows compete (branch-free)
        cpu::for_each_row(loop, [&](const std::array<std::int64_t, 2>& off) {
          const T* xr = x + off[0];
          T* best = o + off[1];
          std::int64_t* at = argmax + off[1];
          if (at[0] < 0) {
            for (std::int64_t j = 0; j < m; ++j) best[j] = xr[j], at[j] = off[0] + j;
            return;
          }
          for (std::int64_t j = 0; j < m; ++j) {
            const bool take = beats(xr[j], best[j]);
            best[j] = take ? xr[j] : best[j];
            at[j] = take ? off[0] + j : at[j];
          }
        });
      }
    });
  }

  void scatter_add(DType dtype, const void* grad, const std::int64_t* index, std::int64_t n,
                   void* grad_in) const override {
    dispatch_floating(dtype, "reduction.scatter_add", [&](auto tag) {
      using T = decltype(tag);
      const T* g = static_cast<const T*>(grad);
      T* gi = static_cast<T*>(grad_in);
      for (std::int64_t i = 0; i < n; ++i) gi[index[i]] += g[i];
    });
  }

  void extreme_along_axis(DType dtype, const void* in, std::int64_t outer, std::int64_t extent, std::int64_t inner,
                          bool largest, void* values, std::int64_t* indices) const override {
    dispatch_any(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* x = static_cast<const T*>(in);
      T* v = static_cast<T*>(values);
      // Each chunk of fibers (o, i) reads the rows j = 0 .. extent-1 of its block and keeps, per column, the
      // first element that beats every earlier one: the first extreme, or the first NaN.
      cpu::parallel_rows(outer, extent * inner, [&](std::int64_t o0, std::int64_t o1) {
        std::vector<T> best(static_cast<std::size_t>(inner));
        for (std::int64_t o = o0; o < o1; ++o) {
          const T* block = x + o * extent * inner;
          std::int64_t* at = indices + o * inner;
          for (std::int64_t i = 0; i < inner; ++i) best[i] = block[i], at[i] = 0;
          for (std::int64_t j = 1; j < extent; ++j) {
            const T* row = block + j * inner;
            for (std::int64_t i = 0; i < inner; ++i) {
              const T y = row[i], b = best[i];
              const bool take = (largest ? y > b : y < b) || (y != y && b == b);
              best[i] = take ? y : b;
              at[i] = take ? j : at[i];
            }
          }
          if (v) std::copy(best.begin(), best.end(), v + o * inner);
        }
      });
    });
  }

  void topk(DType dtype, const void* in, std::int64_t outer, std::int64_t extent, std::int64_t inner, std::int64_t k,
            bool largest, bool sorted, void* values, std::int64_t* indices) const override {
    dispatch_any(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* x = static_cast<const T*>(in);
      T* v = static_cast<T*>(values);
      // Ranks a fiber's positions: NaN above every number, then by value, ties by position (a strict order, so
      // partial_sort's result is unique).
      auto ahead = [&](const T* fiber, std::int64_t p, std::int64_t q) {
        const T a = fiber[p * inner], b = fiber[q * inner];
        const bool a_nan = a != a, b_nan = b != b;
        if (a_nan != b_nan) return largest ? a_nan : b_nan;
        if (!a_nan && a != b) return largest ? a > b : a < b;
        return p < q;
      };
      cpu::parallel_rows(outer * inner, extent, [&](std::int64_t f0, std::int64_t f1) {
        std::vector<std::int64_t> order(static_cast<std::size_t>(extent));
        for (std::int64_t f = f0; f < f1; ++f) {
          const std::int64_t o = f / inner, i = f % inner;
          const T* fiber = x + o * extent * inner + i;
          for (std::int64_t j = 0; j < extent; ++j) order[j] = j;
          std::partial_sort(order.begin(), order.begin() + k, order.end(),
                            [&](std::int64_t p, std::int64_t q) { return ahead(fiber, p, q); });
          if (!sorted) std::sort(order.begin(), order.begin() + k);
          for (std::int64_t j = 0; j < k; ++j) {
            const std::int64_t out = (o * k + j) * inner + i;
            indices[out] = order[j];
            v[out] = fiber[order[j] * inner];
          }
        }
      });
    });
  }
};

}  // namespace

const ReductionKernels& CpuBackend::reduction() const {
  static const CpuReductionKernels kernels;
  return kernels;
}

}  // namespace xgrad
