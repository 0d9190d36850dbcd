// Comparisons: one elementwise kernel call each (BinaryOp::eq ... ge), never recorded on the tape.
#include "xgrad/ops/compare.hpp"

#include <fmt/format.h>

#include <cmath>

#include "ops/checks.hpp"
#include "ops/elementwise_apply.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad {

namespace {

Tensor compare(const char* op, BinaryOp kind, const Tensor& a, const Tensor& b) {
  require_defined(a, op, "a");
  require_defined(b, op, "b");
  detail::check_same_dtype_and_device(op, a, b);
  return detail::apply_binary(op, kind, a, b);
}

// Whether s lies in int64's range [-2^63, 2^63) (false for NaN).
bool fits_int64(double s) { return s >= -0x1p63 && s < 0x1p63; }

// An int64 tensor against a scalar that no int64 equals (a fraction, NaN, ±inf, beyond the range): either an
// integer bound that gives the same answer (a < 2.5 iff a < 3, a <= 2.5 iff a <= 2), or the one answer every
// element gets (a == 2.5 never holds, a < inf always does).
Tensor compare_int64(const char* op, BinaryOp kind, const Tensor& a, double s) {
  const bool above = kind == BinaryOp::lt || kind == BinaryOp::le;  // holds for a small enough
  double answer = 0.0;
  if (kind == BinaryOp::eq || kind == BinaryOp::ne || std::isnan(s)) {
    answer = kind == BinaryOp::ne ? 1.0 : 0.0;
  } else if (!fits_int64(s)) {
    answer = (s > 0) == above ? 1.0 : 0.0;
  } else {
    const bool round_up = kind == BinaryOp::lt || kind == BinaryOp::ge;
    return compare(op, kind, a, scalar(round_up ? std::ceil(s) : std::floor(s), DType::int64, a.device()));
  }
  return full(a.shape(), answer, DType::int64, a.device());
}

Tensor compare(const char* op, BinaryOp kind, const Tensor& a, double s) {
  require_defined(a, op, "a");
  if (a.dtype() == DType::int64 && !(fits_int64(s) && std::nearbyint(s) == s)) return compare_int64(op, kind, a, s);
  return compare(op, kind, a, scalar(s, a.dtype(), a.device()));
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare("eq", BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare("ne", BinaryOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare("lt", BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare("le", BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare("gt", BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare("ge", BinaryOp::ge, a, b); }
Tensor eq(const Tensor& a, double s) { return compare("eq", BinaryOp::eq, a, s); }
Tensor ne(const Tensor& a, double s) { return compare("ne", BinaryOp::ne, a, s); }
Tensor lt(const Tensor& a, double s) { return compare("lt", BinaryOp::lt, a, s); }
Tensor le(const Tensor& a, double s) { return compare("le", BinaryOp::le, a, s); }
Tensor gt(const Tensor& a, double s) { return compare("gt", BinaryOp::gt, a, s); }
Tensor ge(const Tensor& a, double s) { return compare("ge", BinaryOp::ge, a, s); }

}  // namespace xgrad
