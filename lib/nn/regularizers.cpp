#include "xgrad/nn/regularizers.hpp"

#include <fmt/format.h>

#include <cmath>

#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

namespace {

// Keras's validate_float_arg: a penalty factor must be a finite, non-negative number.
double check_factor(const char* who, const char* arg, double value) {
  if (!std::isfinite(value) || value < 0)
    throw ValueError(fmt::format("{}: invalid value for argument {}: expected a non-negative float, got {}", who,
                                 arg, value));
  return value;
}

void check_input(const char* who, const Tensor& x) {
  require_defined(x, who, "x");
  if (!is_floating(x.dtype()))
    throw TypeError(fmt::format("{}: expected a float32 or float64 tensor, got {} of shape {}", who,
                                dtype_name(x.dtype()), shape_str(x.shape())));
}

Tensor l1_term(double factor, const Tensor& x) { return mul(sum(abs(x)), factor); }
Tensor l2_term(double factor, const Tensor& x) { return mul(sum(mul(x, x)), factor); }

}  // namespace

Regularizer::Regularizer(const std::string& name) {
  if (name == "l1" || name == "L1") fn_ = L1();
  else if (name == "l2" || name == "L2") fn_ = L2();
  else if (name == "l1_l2" || name == "L1L2") fn_ = L1L2();
  else
    throw ValueError(fmt::format("Regularizer: unknown regularizer '{}'; valid names are: l1, l2, l1_l2", name));
}

Tensor Regularizer::operator()(const Tensor& x) const {
  if (!fn_) throw ValueError("Regularizer: called an empty regularizer");
  return fn_(x);
}

L1::L1(double factor) : l1(check_factor("L1", "l1", factor)) {}

Tensor L1::operator()(const Tensor& x) const {
  check_input("L1", x);
  return l1_term(l1, x);
}

L2::L2(double factor) : l2(check_factor("L2", "l2", factor)) {}

Tensor L2::operator()(const Tensor& x) const {
  check_input("L2", x);
  return l2_term(l2, x);
}

L1L2::L1L2(double l1_factor, double l2_factor)
    : l1(check_factor("L1L2", "l1", l1_factor)), l2(check_factor("L1L2", "l2", l2_factor)) {}

Tensor L1L2::operator()(const Tensor& x) const {
  check_input("L1L2", x);
  if (l1 == 0 && l2 == 0) return scalar(0.0, x.dtype(), x.device());
  if (l2 == 0) return l1_term(l1, x);
  if (l1 == 0) return l2_term(l2, x);
  return add(l1_term(l1, x), l2_term(l2, x));
}

}  // namespace xgrad::nn
