#pragma once
// Reductions over axes. An empty axis list reduces over every axis; negative axes count from the
// end; a bad or repeated axis is an IndexError. sum, mean, max, min and sum_to take float32 or
// float64 (else TypeError); the index-returning reductions (argmax, max_with_indices, topk, ...)
// take int64 too.
#include <cstdint>
#include <optional>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Sum over `axes` (all when empty), keeping reduced axes as size 1 when `keepdims`.
Tensor sum(const Tensor& a, const std::vector<std::int64_t>& axes = {}, bool keepdims = false);
/// Mean over `axes` (all when empty); NaN for an empty reduction.
Tensor mean(const Tensor& a, const std::vector<std::int64_t>& axes = {}, bool keepdims = false);
/// Maximum over `axes` (all when empty); NaN propagates. The gradient goes to the first maximal
/// element (row-major) of each reduced block only, so tied elements get none. Throws ValueError
/// when a reduced axis is empty.
Tensor max(const Tensor& a, const std::vector<std::int64_t>& axes = {}, bool keepdims = false);
/// Minimum over `axes` (all when empty); NaN propagates. The gradient goes to the first minimal element of
/// each reduced block. Throws ValueError when a reduced axis is empty.
Tensor min(const Tensor& a, const std::vector<std::int64_t>& axes = {}, bool keepdims = false);

/// What max_with_indices, min_with_indices and topk return (structured bindings work:
/// `auto [values, indices] = topk(logits, 5);`).
struct ValuesIndices {
  Tensor values = {};   ///< the selected elements, in a's dtype
  Tensor indices = {};  ///< int64 positions of those elements along the axis
};

/// The maximum of each slice along `axis` and its position there (torch.max(a, dim)): shapes are a's without
/// that axis, or with it as 1 when `keepdims`. Ties give the first position; NaN counts as the maximum (the
/// first NaN wins). Any dtype; the values are differentiable, the gradient going to the chosen element.
/// Throws IndexError for a bad axis, ValueError when the axis is empty.
ValuesIndices max_with_indices(const Tensor& a, std::int64_t axis, bool keepdims = false);
/// The minimum of each slice along `axis` and its position there (torch.min(a, dim)); NaN counts as the
/// minimum, like torch. Otherwise as max_with_indices.
ValuesIndices min_with_indices(const Tensor& a, std::int64_t axis, bool keepdims = false);
/// Positions (int64) of the maxima along `axis` (first one on ties, NaN counts as the maximum), as
/// max_with_indices(a, axis, keepdims).indices. Without an axis, the flat row-major position in a: a 0-d
/// tensor, or all axes kept as 1 with `keepdims` (as NumPy). Any dtype; no gradient.
Tensor argmax(const Tensor& a, std::optional<std::int64_t> axis = std::nullopt, bool keepdims = false);
/// Positions (int64) of the minima along `axis`; as argmax otherwise.
Tensor argmin(const Tensor& a, std::optional<std::int64_t> axis = std::nullopt, bool keepdims = false);

/// The `k` largest (or, unless `largest`, smallest) elements of each slice along `axis` and their positions there
/// (torch.topk): shapes are a's with that axis's extent k. When `sorted` they come best first, ties in position
/// order; otherwise in position order. NaN ranks above every number, like torch. Any dtype; the values are
/// differentiable, each gradient going to the element it was picked from. Throws ValueError unless
/// 0 <= k <= a.size(axis), IndexError for a bad axis.
ValuesIndices topk(const Tensor& a, std::int64_t k, std::int64_t axis = -1, bool largest = true, bool sorted = true);

/// Sums `a` down to `shape`, which must broadcast to a's shape (the backward of broadcasting): reduces
/// the leading axes and those where `shape` has 1. Returns `a` itself when the shapes are equal.
Tensor sum_to(const Tensor& a, const Shape& shape);

}  // namespace xgrad
