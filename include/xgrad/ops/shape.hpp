#pragma once
// Ops that rearrange elements without arithmetic.
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Same data viewed with `shape` (no copy); one extent may be -1 to be inferred.
Tensor reshape(const Tensor& a, const Shape& shape);
/// Swaps axes `axis0` and `axis1` (copies into row-major order).
Tensor transpose(const Tensor& a, std::int64_t axis0 = -2, std::int64_t axis1 = -1);
/// Reorders axes: output axis i is input axis `order[i]`.
Tensor permute(const Tensor& a, const std::vector<std::int64_t>& order);
/// Elements start, start+step, ... (< stop) along `axis`, Python-style negative bounds allowed.
Tensor slice(const Tensor& a, std::int64_t axis, std::int64_t start, std::int64_t stop, std::int64_t step = 1);
/// `length` elements starting at `start` along `axis` (torch.narrow).
Tensor narrow(const Tensor& a, std::int64_t axis, std::int64_t start, std::int64_t length);
/// Joins tensors along an existing `axis`; all other extents must match.
Tensor concat(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
/// Joins equally shaped tensors along a new `axis`.
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
/// Inserts an axis of extent 1 at `axis`.
Tensor unsqueeze(const Tensor& a, std::int64_t axis);
/// Removes `axis`, which must have extent 1.
Tensor squeeze(const Tensor& a, std::int64_t axis);

}  // namespace xgrad
