#pragma once
// Reductions over axes. An empty axis list reduces over every axis; negative axes count from the
// end; a bad or repeated axis is an IndexError. Inputs must be float32 or float64 (else TypeError).
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
/// Sums `a` down to `shape`, which must broadcast to a's shape (the backward of broadcasting): reduces
/// the leading axes and those where `shape` has 1. Returns `a` itself when the shapes are equal.
Tensor sum_to(const Tensor& a, const Shape& shape);

}  // namespace xgrad
