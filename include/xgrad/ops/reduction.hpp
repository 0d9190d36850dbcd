#pragma once
// Reductions over axes. An empty axis list reduces over every axis.
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Sum over `axes` (all when empty), keeping reduced axes as size 1 when `keepdims`.
Tensor sum(const Tensor& a, const std::vector<std::int64_t>& axes = {}, bool keepdims = false);
/// Mean over `axes` (all when empty).
Tensor mean(const Tensor& a, const std::vector<std::int64_t>& axes = {}, bool keepdims = false);
/// Maximum over `axes` (all when empty); the gradient goes to the first maximal element of each block.
Tensor max(const Tensor& a, const std::vector<std::int64_t>& axes = {}, bool keepdims = false);
/// Sums `a` down to `shape`, which must broadcast to a's shape (the backward of broadcasting).
Tensor sum_to(const Tensor& a, const Shape& shape);

}  // namespace xgrad
