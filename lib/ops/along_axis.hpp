#pragma once
// Helpers of the ops that work along one axis (index_select, gather, topk, max/min with indices).
// Defined in indexing.cpp.
#include <cstdint>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::detail {

/// A shape seen as (outer, extent, inner) around one axis, the layout the axis kernels take.
struct AxisExtents {
  std::int64_t outer = 1;   ///< product of the extents before the axis
  std::int64_t extent = 1;  ///< extent of the axis
  std::int64_t inner = 1;   ///< product of the extents after the axis
};

/// `shape` around the (already normalised) `axis`.
AxisExtents extents_around(const Shape& shape, std::int64_t axis);

/// When `a` needs a gradient, records `op` (a string literal) for out[p] = a[p with its `axis` coordinate
/// replaced by index[p]], with `index_shape` of a's rank (out and index hold numel(index_shape) elements, in
/// any shape): the backward adds dout[p] into that element of da.
void record_gather(const char* op, const Tensor& a, Tensor& out, const Tensor& index, const Shape& index_shape,
                   std::int64_t axis);

}  // namespace xgrad::detail
