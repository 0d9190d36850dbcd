#pragma once
// What the elementwise ops share. The one-input ops: a forward kernel and a fused backward kernel
// (grad * f'(.) in one pass) from the elementwise table, defined in unary.cpp. The two-input ops
// (arithmetic and comparisons): one broadcasting kernel call, defined in elementwise.cpp.
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::detail {

/// Applies `kind` to `a` (checked as argument 'a' of `op`, a string literal) and records its backward,
/// saving the output or the input as the kernel's backward needs (backward_uses_output).
Tensor apply_unary(const char* op, UnaryOp kind, const Tensor& a, double param = 0.0);

/// a (kind) b broadcast together (a ShapeError naming `op` when they do not), in a's dtype on a's device;
/// records nothing. The caller has checked the dtypes and devices.
Tensor apply_binary(const char* op, BinaryOp kind, const Tensor& a, const Tensor& b);

}  // namespace xgrad::detail
