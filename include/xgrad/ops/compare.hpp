#pragma once
// Comparisons returning masks. xgrad has no bool dtype: a mask holds 1 where the comparison holds and
// 0 elsewhere, in the dtype of the operands (float32, float64 or int64), and every op that takes a
// mask (where, masked_fill, attention masks) reads any dtype with nonzero = true. Tensor operands must
// share dtype and device (TypeError, DeviceError) and broadcast as in NumPy (ShapeError). NaN compares
// unequal to everything, itself included, as in IEEE 754 and torch. No gradient flows through a
// comparison: its result never requires grad.
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// 1 where a == b, else 0 (broadcasting).
Tensor eq(const Tensor& a, const Tensor& b);
/// 1 where a != b, else 0 (broadcasting); 1 where either is NaN.
Tensor ne(const Tensor& a, const Tensor& b);
/// 1 where a < b, else 0 (broadcasting).
Tensor lt(const Tensor& a, const Tensor& b);
/// 1 where a <= b, else 0 (broadcasting).
Tensor le(const Tensor& a, const Tensor& b);
/// 1 where a > b, else 0 (broadcasting).
Tensor gt(const Tensor& a, const Tensor& b);
/// 1 where a >= b, else 0 (broadcasting).
Tensor ge(const Tensor& a, const Tensor& b);

// The scalar forms compare with `s` converted to a's dtype, like torch: a float32 tensor compares with
// float(s). For an int64 tensor the comparison is exact: lt(ids, 2.5) is ids <= 2, eq(ids, 2.5) is all 0.

/// 1 where a == s, else 0.
Tensor eq(const Tensor& a, double s);
/// 1 where a != s, else 0.
Tensor ne(const Tensor& a, double s);
/// 1 where a < s, else 0.
Tensor lt(const Tensor& a, double s);
/// 1 where a <= s, else 0.
Tensor le(const Tensor& a, double s);
/// 1 where a > s, else 0.
Tensor gt(const Tensor& a, double s);
/// 1 where a >= s, else 0.
Tensor ge(const Tensor& a, double s);

}  // namespace xgrad
