#pragma once
// Index math of the CUDA kernels that walk an index space through per-operand strides (broadcasting
// elementwise ops, where, broadcast, strided copies, reductions). The host merges the index space into at
// most kMaxDims axes; a kernel thread then turns its flat index into each operand's element offset. Plain
// C++ outside nvcc, so tests/test_cuda_math.cpp checks it on the CPU against the CPU kernels.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "xgrad/errors.hpp"
#include "xgrad/tensor/philox.hpp"  // XGRAD_HOST_DEVICE

namespace xgrad::cuda {

/// Most axes an index space may keep after merging (a kernel argument of fixed size).
inline constexpr int kMaxDims = 8;

/// An index space of `rank` axes (row-major, outermost first) and N operands' element strides over it.
template <int N>
struct StridedIndex {
  int rank = 0;                                    ///< number of axes; 0 is a single element
  std::int64_t shape[kMaxDims] = {};               ///< extents, outermost first
  std::int64_t strides[N][kMaxDims] = {};          ///< per operand, in elements (0 on broadcast axes)

  /// Each operand's element offset of flat (row-major) index i.
  XGRAD_HOST_DEVICE void offsets(std::int64_t i, std::int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const std::int64_t q = i / shape[d];
      const std::int64_t c = i - q * shape[d];
      i = q;
      for (int k = 0; k < N; ++k) off[k] += c * strides[k][d];
    }
  }
};

/// Builds the StridedIndex of `shape` with each operand's `strides`: extent-1 axes are dropped and
/// neighbours that every operand walks contiguously are merged (a bias add becomes 2-D, a same-shape op
/// 1-D). Throws ValueError naming `op` if more than kMaxDims axes remain.
template <int N>
StridedIndex<N> make_strided_index(const std::vector<std::int64_t>& shape,
                                   const std::array<std::vector<std::int64_t>, N>& strides, const char* op) {
  StridedIndex<N> ix;
  std::vector<std::int64_t> merged_shape;
  std::array<std::vector<std::int64_t>, N> merged;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !merged_shape.empty();
    for (int k = 0; k < N && merge; ++k) merge = merged[k].back() == strides[k][d] * shape[d];
    if (merge) {
      merged_shape.back() *= shape[d];
      for (int k = 0; k < N; ++k) merged[k].back() = strides[k][d];
      continue;
    }
    merged_shape.push_back(shape[d]);
    for (int k = 0; k < N; ++k) merged[k].push_back(strides[k][d]);
  }
  if (merged_shape.size() > static_cast<std::size_t>(kMaxDims))
    throw ValueError(std::string(op) + ": the cuda backend walks at most 8 non-mergeable axes, got " +
                     std::to_string(merged_shape.size()));
  ix.rank = static_cast<int>(merged_shape.size());
  for (int d = 0; d < ix.rank; ++d) {
    ix.shape[d] = merged_shape[static_cast<std::size_t>(d)];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = merged[k][static_cast<std::size_t>(d)];
  }
  return ix;
}

/// The reduction of a contiguous tensor of `shape` over sorted `axes`, seen as `outputs` blocks of
/// `reduced` elements: element r of block o sits at kept.offsets(o) + reduced.offsets(r) (flat input
/// indices, which max's argmax reports).
struct ReductionIndex {
  StridedIndex<1> kept;     ///< the kept axes with the input's strides
  StridedIndex<1> reduced;  ///< the reduced axes with the input's strides
  std::int64_t outputs = 1;   ///< product of the kept extents
  std::int64_t reduced_count = 1;  ///< product of the reduced extents
  bool inner_reduced = false;  ///< whether the innermost non-unit axis is reduced (rows are contiguous)
};

/// Splits `shape` into kept and reduced axes for a reduction over `axes` (sorted, distinct).
inline ReductionIndex make_reduction_index(const std::vector<std::int64_t>& shape,
                                           const std::vector<std::int64_t>& axes, const char* op) {
  const std::vector<std::int64_t> strides = [&] {
    std::vector<std::int64_t> s(shape.size());
    std::int64_t stride = 1;
    for (std::size_t d = shape.size(); d-- > 0;) s[d] = stride, stride *= shape[d];
    return s;
  }();
  std::vector<std::int64_t> kept_shape, kept_strides, red_shape, red_strides;
  ReductionIndex r;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    bool is_reduced = false;
    for (std::int64_t a : axes) is_reduced = is_reduced || a == static_cast<std::int64_t>(d);
    (is_reduced ? red_shape : kept_shape).push_back(shape[d]);
    (is_reduced ? red_strides : kept_strides).push_back(strides[d]);
    if (is_reduced) r.reduced_count *= shape[d];
    else r.outputs *= shape[d];
    if (shape[d] != 1) r.inner_reduced = is_reduced;
  }
  r.kept = make_strided_index<1>(kept_shape, {kept_strides}, op);
  r.reduced = make_strided_index<1>(red_shape, {red_strides}, op);
  return r;
}

/// A candidate of max's search: a value and its flat input index.
template <class T>
struct ArgMax {
  T value;             ///< the value
  std::int64_t index;  ///< its flat input index; -1 for "nothing yet"
};

/// Whether `a` wins over `b` in max: NaN beats every number, a larger value beats a smaller one, and
/// among equals (or two NaNs) the lower index wins. A total order, so any tree of comparisons finds the
/// same winner: the first maximum, or the first NaN.
template <class T>
XGRAD_HOST_DEVICE inline bool beats(const ArgMax<T>& a, const ArgMax<T>& b) {
  if (b.index < 0) return a.index >= 0;
  if (a.index < 0) return false;
  const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
  if (a_nan || b_nan) return a_nan && (!b_nan || a.index < b.index);
  return a.value > b.value || (a.value == b.value && a.index < b.index);
}

/// The winner of two candidates (see beats).
template <class T>
XGRAD_HOST_DEVICE inline ArgMax<T> better(const ArgMax<T>& a, const ArgMax<T>& b) {
  return beats(a, b) ? a : b;
}

/// Offset of element (b, n, t, s) of an operand broadcast to the (B, N, T, S) attention scores.
XGRAD_HOST_DEVICE inline std::int64_t score_offset(const std::int64_t (&strides)[4], std::int64_t b,
                                                   std::int64_t n, std::int64_t t, std::int64_t s) {
  return b * strides[0] + n * strides[1] + t * strides[2] + s * strides[3];
}

}  // namespace xgrad::cuda
