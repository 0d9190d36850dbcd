#pragma once
// Per-fiber and per-element arithmetic of the CUDA selection kernels (argmax/argmin along an axis, topk) and
// the indexing kernels (index_select, gather and their backwards), written once for the device and the host:
// tests/test_cuda_math.cpp runs them on the CPU against the CPU kernels. A kernel gives each thread one
// fiber or one column, so every result, the backwards' sums included, comes in a fixed order without atomics.
#include <cstdint>
#include <vector>

#include "index.hpp"

namespace xgrad::cuda {

/// Position along a fiber (`extent` >= 1 elements, `stride` apart) of its first maximum (`largest`) or
/// minimum, its value into `value`. NaN counts as the extreme either way: the first NaN wins.
template <class T>
XGRAD_HOST_DEVICE inline std::int64_t fiber_extreme(const T* fiber, std::int64_t extent, std::int64_t stride,
                                                    bool largest, T& value) {
  T best = fiber[0];
  std::int64_t at = 0;
  for (std::int64_t j = 1; j < extent; ++j) {
    const T y = fiber[j * stride];
    if ((largest ? y > best : y < best) || (y != y && best == best)) best = y, at = j;
  }
  value = best;
  return at;
}

/// topk's order on a fiber: whether element a at position p ranks ahead of element b at position q. NaN
/// ranks above every number (first when `largest`, last otherwise, as in torch), then by value, ties by
/// position. A strict total order, so the k first elements are unique.
template <class T>
XGRAD_HOST_DEVICE inline bool ranks_ahead(T a, std::int64_t p, T b, std::int64_t q, bool largest) {
  const bool a_nan = a != a, b_nan = b != b;
  if (a_nan != b_nan) return largest ? a_nan : b_nan;
  if (!a_nan && a != b) return largest ? a > b : a < b;
  return p < q;
}

/// The k first elements of a fiber in topk's order (ranks_ahead) and their positions, written `out_stride`
/// apart into `values` and `indices`: in that order when `sorted`, else in position order. Slot s is the
/// best element that ranks behind slot s-1's, so a thread needs no memory beyond the fiber: O(k extent).
template <class T>
XGRAD_HOST_DEVICE inline void fiber_topk(const T* fiber, std::int64_t extent, std::int64_t stride, std::int64_t k,
                                         bool largest, bool sorted, T* values, std::int64_t* indices,
                                         std::int64_t out_stride) {
  std::int64_t last = -1;
  for (std::int64_t s = 0; s < k; ++s) {
    std::int64_t pick = -1;
    for (std::int64_t j = 0; j < extent; ++j) {
      const T y = fiber[j * stride];
      if (last >= 0 && !ranks_ahead(fiber[last * stride], last, y, j, largest)) continue;  // already taken
      if (pick < 0 || ranks_ahead(y, j, fiber[pick * stride], pick, largest)) pick = j;
    }
    if (sorted) values[s * out_stride] = fiber[pick * stride], indices[s * out_stride] = pick;
    last = pick;
  }
  if (sorted || k == 0) return;
  // Unsorted: the selected elements are those at or ahead of the k-th, taken in position order.
  std::int64_t s = 0;
  for (std::int64_t j = 0; j < extent; ++j) {
    const T y = fiber[j * stride];
    if (j == last || ranks_ahead(y, j, fiber[last * stride], last, largest))
      values[s * out_stride] = y, indices[s * out_stride] = j, ++s;
  }
}

/// index_select's backward for one column (o, i) of the (outer x inner) plane: grad_in[o, index[j], i] +=
/// grad[o, j, i] for j in order, skipping indices outside [0, in_extent). Columns never share an element.
template <class T>
XGRAD_HOST_DEVICE inline void index_select_column_add(const T* grad, std::int64_t m, std::int64_t inner,
                                                      const std::int64_t* index, std::int64_t in_extent,
                                                      std::int64_t o, std::int64_t i, T* grad_in) {
  for (std::int64_t j = 0; j < m; ++j) {
    const std::int64_t at = index[j];
    if (at >= 0 && at < in_extent) grad_in[(o * in_extent + at) * inner + i] += grad[(o * m + j) * inner + i];
  }
}

/// A gather's index space seen as (outer, m, inner) around its axis, with the input's strides: the index
/// may be smaller than the input on every axis but the gathered one.
struct GatherIndex {
  StridedIndex<1> outer_axes;     ///< the index's axes before `axis`, with the input's strides
  StridedIndex<1> inner_axes;     ///< the index's axes after `axis`, with the input's strides
  std::int64_t outer = 1;         ///< product of the index's extents before `axis`
  std::int64_t m = 1;             ///< the index's extent along `axis`
  std::int64_t inner = 1;         ///< product of the index's extents after `axis`
  std::int64_t axis_stride = 1;   ///< the input's stride along `axis`
  std::int64_t axis_extent = 0;   ///< the input's extent along `axis`: indices must lie in [0, axis_extent)

  /// Input offset of the element that index element (o, j, i) = p (flat, row-major) selects with `at`.
  XGRAD_HOST_DEVICE std::int64_t input_offset(std::int64_t p, std::int64_t at) const {
    const std::int64_t i = p % inner, o = p / inner / m;
    std::int64_t before[1], after[1];
    outer_axes.offsets(o, before);
    inner_axes.offsets(i, after);
    return before[0] + at * axis_stride + after[0];
  }

  /// gather's backward for one column (o, i): grad_in[input_offset(p, index[p])] += grad[p] for j in order,
  /// skipping out-of-range indices. Two index elements reach one input element only within a column.
  template <class T>
  XGRAD_HOST_DEVICE void column_add(const T* grad, const std::int64_t* index, std::int64_t o, std::int64_t i,
                                    T* grad_in) const {
    for (std::int64_t j = 0; j < m; ++j) {
      const std::int64_t p = (o * m + j) * inner + i, at = index[p];
      if (at >= 0 && at < axis_extent) grad_in[input_offset(p, at)] += grad[p];
    }
  }
};

/// The GatherIndex of gathering `index_shape` from a contiguous input of `in_shape` along `axis`.
inline GatherIndex make_gather_index(const std::vector<std::int64_t>& in_shape, std::int64_t axis,
                                     const std::vector<std::int64_t>& index_shape) {
  std::vector<std::int64_t> in_strides(in_shape.size());
  std::int64_t stride = 1;
  for (std::size_t d = in_shape.size(); d-- > 0;) in_strides[d] = stride, stride *= in_shape[d];
  GatherIndex g;
  std::vector<std::int64_t> before_shape, before_strides, after_shape, after_strides;
  const auto ax = static_cast<std::size_t>(axis);
  for (std::size_t d = 0; d < index_shape.size(); ++d) {
    if (d < ax) g.outer *= index_shape[d], before_shape.push_back(index_shape[d]), before_strides.push_back(in_strides[d]);
    if (d > ax) g.inner *= index_shape[d], after_shape.push_back(index_shape[d]), after_strides.push_back(in_strides[d]);
  }
  g.m = index_shape[ax];
  g.axis_stride = in_strides[ax];
  g.axis_extent = in_shape[ax];
  g.outer_axes = make_strided_index<1>(before_shape, {before_strides}, "gather");
  g.inner_axes = make_strided_index<1>(after_shape, {after_strides}, "gather");
  return g;
}

}  // namespace xgrad::cuda
