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

/// Throws unless the defined tensors `a` and `b` are of one dtype and on one device.
inline void check_same_dtype_and_device(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw TypeError(fmt::format("{}: dtypes differ: {} {} and {} {}; convert one with .to(dtype)", op,
                                dtype_name(a.dtype()), shape_str(a.shape()), dtype_name(b.dtype()),
                                shape_str(b.shape())));
  if (a.device() != b.device())
    throw DeviceError(fmt::format("{}: operands live on {} and {}", op, device_str(a.device()),
                                  device_str(b.device())));
}

/// Throws unless `a` and `b` are floating, of one dtype and on one device.
inline void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_floating(op, "a", a);
  check_floating(op, "b", b);
  check_same_dtype_and_device(op, a, b);
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

/// Throws unless `t` is defined and int64 (indices, class targets).
inline void check_index_tensor(const char* op, const char* arg, const Tensor& t) {
  require_defined(t, op, arg);
  if (t.dtype() != DType::int64)
    throw TypeError(fmt::format("{}: argument '{}' must be int64, got {} of shape {}", op, arg,
                                dtype_name(t.dtype()), shape_str(t.shape())));
}

/// Throws DeviceError unless argument `arg` lives on the device of `data`, the tensor it goes with.
inline void check_same_device(const char* op, const char* arg, const Tensor& t, const Tensor& data) {
  if (t.device() != data.device())
    throw DeviceError(fmt::format("{}: argument '{}' {} lives on {} but the data {} lives on {}", op, arg,
                                  shape_str(t.shape()), device_str(t.device()), shape_str(data.shape()),
                                  device_str(data.device())));
}

/// The int64 element at flat position `pos` of `t`, wherever it lives. For error messages only: it copies
/// from the device and so synchronizes with it.
inline std::int64_t index_at(const Tensor& t, std::int64_t pos) {
  std::int64_t v = 0;
  t.backend().copy_to_host(&v, t.data<std::int64_t>() + pos, sizeof v);
  return v;
}

}  // namespace xgrad::detail
