#pragma once
// Ops that rearrange elements without arithmetic.
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Same data viewed with `shape` (shares storage, no copy); one extent may be -1 to be inferred.
/// ShapeError when the element counts differ, ValueError on two -1s or another negative extent.
Tensor reshape(const Tensor& a, const Shape& shape);
/// Swaps axes `axis0` and `axis1` (copies into row-major order); IndexError on a bad axis.
Tensor transpose(const Tensor& a, std::int64_t axis0 = -2, std::int64_t axis1 = -1);
/// Reorders axes: output axis i is input axis `order[i]` (copies); ValueError unless `order` is a
/// permutation of the axes, IndexError on an axis out of range.
Tensor permute(const Tensor& a, const std::vector<std::int64_t>& order);
/// Elements start, start+step, ... (< stop) along `axis`, as Python's a[start:stop:step]: negative
/// bounds count from the end and out-of-range bounds clamp. ValueError when step < 1.
Tensor slice(const Tensor& a, std::int64_t axis, std::int64_t start, std::int64_t stop, std::int64_t step = 1);
/// `length` elements starting at `start` (negative counts from the end) along `axis`, as torch.narrow;
/// IndexError when the window does not fit.
Tensor narrow(const Tensor& a, std::int64_t axis, std::int64_t start, std::int64_t length);
/// Joins tensors along an existing `axis`; all other extents must match (ShapeError naming the
/// offending tensor's index and shape), as must dtypes; ValueError on an empty list.
Tensor concat(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
/// Joins equally shaped tensors along a new `axis` (ShapeError naming a tensor whose shape differs).
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
/// Inserts an axis of extent 1 at `axis` (a view, like reshape).
Tensor unsqueeze(const Tensor& a, std::int64_t axis);
/// Removes `axis`, which must have extent 1 (ShapeError otherwise); a view, like reshape.
Tensor squeeze(const Tensor& a, std::int64_t axis);

}  // namespace xgrad
