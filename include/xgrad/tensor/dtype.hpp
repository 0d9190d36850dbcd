#pragma once
// Element types a tensor can hold.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "xgrad/errors.hpp"

namespace xgrad {

/// Element type of a tensor: float32 for training, float64 for exact gradient checks,
/// int64 for indices (class labels, token ids); int64 tensors take part in no arithmetic.
enum class DType : std::uint8_t { float32, float64, int64 };

/// Size in bytes of one element of `dtype`.
constexpr std::size_t dtype_size(DType dtype) { return dtype == DType::float32 ? 4 : 8; }

/// NumPy-style name of `dtype` ("float32", "float64", "int64").
constexpr std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
  }
  return "?";
}

/// True for float32 and float64.
constexpr bool is_floating(DType dtype) { return dtype != DType::int64; }

/// The DType of C++ type T (float, double or std::int64_t).
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::float32;
  else if constexpr (std::is_same_v<T, double>) return DType::float64;
  else {
    static_assert(std::is_same_v<T, std::int64_t>, "xgrad tensors hold float, double or int64_t");
    return DType::int64;
  }
}

/// Calls `fn(T{})` with T = float or double matching `dtype`; throws TypeError naming `op` for int64.
template <class Fn>
decltype(auto) dispatch_floating(DType dtype, std::string_view op, Fn&& fn) {
  if (dtype == DType::float32) return fn(float{});
  if (dtype == DType::float64) return fn(double{});
  throw TypeError(std::string(op) + ": expected a float32 or float64 tensor, got " +
                  std::string(dtype_name(dtype)));
}

/// `value` as an int64; throws ValueError naming `op` when it is NaN, infinite or outside int64's range
/// (a C++ conversion of such a value is undefined behaviour). Fractions truncate toward zero.
std::int64_t to_int64(double value, std::string_view op);

/// `value` as element type T: to_int64 for int64, a plain conversion for float and double.
template <class T>
T element_from_double(double value, std::string_view op) {
  if constexpr (std::is_same_v<T, std::int64_t>)
    return to_int64(value, op);
  else
    return static_cast<T>(value);
}

/// Calls `fn(T{})` with T = float, double or std::int64_t matching `dtype`.
template <class Fn>
decltype(auto) dispatch_any(DType dtype, Fn&& fn) {
  if (dtype == DType::float32) return fn(float{});
  if (dtype == DType::float64) return fn(double{});
  return fn(std::int64_t{});
}

}  // namespace xgrad
