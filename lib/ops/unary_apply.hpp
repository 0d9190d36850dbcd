#pragma once
// The one-input elementwise ops share one shape: a forward kernel and a fused backward kernel
// (grad * f'(.) in one pass) from the elementwise table. Defined in unary.cpp.
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::detail {

/// Applies `kind` to `a` (checked as argument 'a' of `op`, a string literal) and records its backward,
/// saving the output or the input as the kernel's backward needs (backward_uses_output).
Tensor apply_unary(const char* op, UnaryOp kind, const Tensor& a, double param = 0.0);

}  // namespace xgrad::detail
