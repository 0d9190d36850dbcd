#pragma once
// Argument checks shared by the ops: each throws a typed error naming the op, argument and shapes.
#include <fmt/format.h>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::detail {

/// Throws unless `t` is defined and float32/float64.
inline void check_floating(const char* op, const char* arg, const Tensor& t) {
  require_defined(t, op, arg);
  if (!is_floating(t.dtype()))
    throw TypeError(fmt::format("{}: argument '{}' must be float32 or float64, got {} of shape {}", op, arg,
                                dtype_name(t.dtype()), shape_str(t.shape())));
}

/// Throws unless `a` and `b` are floating, of one dtype and on one device.
inline void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_floating(op, "a", a);
  check_floating(op, "b", b);
  if (a.dtype() != b.dtype())
    throw TypeError(fmt::format("{}: dtypes differ: {} {} and {} {}; convert one with .to(dtype)", op,
                                dtype_name(a.dtype()), shape_str(a.shape()), dtype_name(b.dtype()),
                                shape_str(b.shape())));
  if (a.device() != b.device())
    throw DeviceError(fmt::format("{}: operands live on {} and {}", op, device_str(a.device()),
                                  device_str(b.device())));
}

/// Throws unless `a` and `b` are floating, of one dtype and on one device; the messages name both arguments.
inline void check_pair(const char* op, const char* a_arg, const Tensor& a, const char* b_arg, const Tensor& b) {
  check_floating(op, a_arg, a);
  check_floating(op, b_arg, b);
  if (a.dtype() != b.dtype())
    throw TypeError(fmt::format("{}: {} {} is {} but {} {} is {}; convert one with .to(dtype)", op, b_arg,
                                shape_str(b.shape()), dtype_name(b.dtype()), a_arg, shape_str(a.shape()),
                                dtype_name(a.dtype())));
  if (a.device() != b.device())
    throw DeviceError(fmt::format("{}: {} {} lives on {} but {} {} on {}", op, b_arg, shape_str(b.shape()),
                                  device_str(b.device()), a_arg, shape_str(a.shape()), device_str(a.device())));
}

}  // namespace xgrad::detail
