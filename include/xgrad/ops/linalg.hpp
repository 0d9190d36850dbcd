#pragma once
// Matrix products through CBLAS GEMM, with transpose flags instead of transposed copies.
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Matrix product of the last two axes: (..., n, k) x (..., k, m) -> (..., n, m), leading (batch)
/// axes broadcast as in NumPy; a 1-D operand is a vector as in numpy.matmul. With `transpose_a`
/// or `transpose_b`, the last two axes of that operand are swapped first (no copy is made; ValueError
/// for a 1-D operand). ShapeError when the inner dimensions differ or the batch axes do not broadcast.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

}  // namespace xgrad
