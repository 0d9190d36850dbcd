#pragma once
// Per-element formulas of the CUDA elementwise and random kernels, written once for the device and the
// host: tests/test_cuda_math.cpp runs them on the CPU against the CPU kernels. Each follows the CPU
// kernel's arithmetic operation by operation (lib/backend/cpu/elementwise.cpp, random.cpp), so float64
// results agree to rounding. A new BinaryOp or UnaryOp is one more case in a switch below.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "xgrad/backend/elementwise.hpp"
#include "xgrad/tensor/philox.hpp"

namespace xgrad::cuda {

// Constants of the GELU forms (as in torch and the CPU kernels).
inline constexpr double kInvSqrt2 = 0.70710678118654752440;
inline constexpr double kInvSqrt2Pi = 0.39894228040143267794;
inline constexpr double kSqrt2OverPi = 0.79788456080286535588;
inline constexpr double kGeluCubic = 0.044715;

/// 1 + exp(-2u), u = sqrt(2/pi) (x + c x^3): GELU's tanh form is x over it, sigmoid(2u) = (1 + tanh(u))/2 is
/// 1 over it (as on the CPU).
template <class T>
XGRAD_HOST_DEVICE inline T gelu_tanh_denominator(T x) {
  return T(1) + std::exp(T(-2 * kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x));
}

/// Whether x^p runs as integer_power: integer exponents up to 64 in magnitude (as on the CPU).
XGRAD_HOST_DEVICE inline bool is_small_integer(double p) { return std::nearbyint(p) == p && std::fabs(p) <= 64.0; }

/// x^k by repeated squaring, as PyTorch and the CPU kernels do for integer exponents.
template <class T>
XGRAD_HOST_DEVICE inline T integer_power(T x, std::int64_t k) {
  T result = T(1), base = x;
  for (std::int64_t e = k < 0 ? -k : k; e > 0; e >>= 1, base *= base)
    if (e & 1) result *= base;
  return k < 0 ? T(1) / result : result;
}

/// x (op) y; a comparison gives 1 or 0 in T. Arithmetic is floating only, so int64 T reaches only the
/// comparisons.
template <class T>
XGRAD_HOST_DEVICE inline T binary_value(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::eq: return T(x == y);
    case BinaryOp::ne: return T(x != y);
    case BinaryOp::lt: return T(x < y);
    case BinaryOp::le: return T(x <= y);
    case BinaryOp::gt: return T(x > y);
    case BinaryOp::ge: return T(x >= y);
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case BinaryOp::add: return x + y;
      case BinaryOp::sub: return x - y;
      case BinaryOp::mul: return x * y;
      case BinaryOp::div: return x / y;
      case BinaryOp::pow: return std::pow(x, y);
      default: break;
    }
  }
  return x;
}

/// op(x); `param` feeds the *_scalar forms.
template <class T>
XGRAD_HOST_DEVICE inline T unary_value(UnaryOp op, T x, double param) {
  const T p = static_cast<T>(param);
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::abs: return std::fabs(x);
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::sigmoid: return T(1) / (T(1) + std::exp(-x));  // exp overflow gives 1 / inf = 0, no NaN
    case UnaryOp::relu: return x > T(0) ? x : T(0);
    case UnaryOp::gelu: return T(0.5) * x * std::erfc(x * T(-kInvSqrt2));  // Phi(x) = erfc(-x/sqrt2)/2
    case UnaryOp::gelu_tanh:  // x/2 (1 + tanh(u)) = x sigmoid(2u): no cancellation in 1 + tanh(u) for x < 0
      return x / gelu_tanh_denominator(x);
    case UnaryOp::add_scalar: return x + p;
    case UnaryOp::mul_scalar: return x * p;
    case UnaryOp::rsub_scalar: return p - x;
    case UnaryOp::rdiv_scalar: return p / x;
    case UnaryOp::pow_scalar:
      if (param == 2.0) return x * x;
      if (param == 0.5) return std::sqrt(x);
      if (is_small_integer(param)) return integer_power(x, static_cast<std::int64_t>(param));
      return std::pow(x, p);
    // `x < p ? p : x` rather than fmax: a NaN x fails the test and is kept, as in torch.
    case UnaryOp::clamp_min: return x < p ? p : x;
    case UnaryOp::clamp_max: return x > p ? p : x;
  }
  return x;
}

/// grad * op'(.) from `s`: the op's output when backward_uses_output(op), else its input.
template <class T>
XGRAD_HOST_DEVICE inline T unary_grad(UnaryOp op, T g, T s, double param) {
  const T p = static_cast<T>(param);
  switch (op) {
    case UnaryOp::neg:
    case UnaryOp::rsub_scalar: return -g;
    case UnaryOp::add_scalar: return g;
    case UnaryOp::mul_scalar: return g * p;
    case UnaryOp::exp: return g * s;                       // y = exp(x)  => dx = g y
    case UnaryOp::log: return g / s;                       // y = log(x)  => dx = g / x
    case UnaryOp::sqrt: return g * T(0.5) / s;             // y = sqrt(x) => dx = g / (2 y)
    case UnaryOp::abs: return s > T(0) ? g : (s < T(0) ? -g : T(0));
    case UnaryOp::tanh: return g * (T(1) - s * s);         // y = tanh(x) => dx = g (1 - y^2)
    case UnaryOp::sigmoid: return g * s * (T(1) - s);      // y = sigmoid(x) => dx = g y (1 - y)
    case UnaryOp::relu: return s > T(0) ? g : T(0);
    case UnaryOp::gelu:  // y = x Phi(x) => dx = g (Phi(x) + x phi(x))
      return g * (T(0.5) * std::erfc(s * T(-kInvSqrt2)) + s * T(kInvSqrt2Pi) * std::exp(T(-0.5) * s * s));
    case UnaryOp::gelu_tanh: {  // dx = g ((1 + t)/2 + x/2 (1 - t^2) k (1 + 3c x^2)), t = tanh(k (x + c x^3));
      // with q = (1 + t)/2 = sigmoid(2u) and 1 - t^2 = 4 q (1 - q): dx = g (q + 2 x q (1 - q) k (1 + 3c x^2))
      const T q = T(1) / gelu_tanh_denominator(s);
      return g * (q + T(2 * kSqrt2OverPi) * s * q * (T(1) - q) * (T(1) + T(3 * kGeluCubic) * s * s));
    }
    case UnaryOp::rdiv_scalar: return -g * p / (s * s);  // y = p / x => dx = -g p / x^2
    case UnaryOp::pow_scalar:                            // y = x^p => dx = g p x^(p-1); exactly 0 for p = 0
      if (param == 0.0) return T(0);
      if (param == 1.0) return g;
      if (param == 2.0) return T(2) * g * s;
      if (is_small_integer(param)) return g * p * integer_power(s, static_cast<std::int64_t>(param) - 1);
      return g * p * std::pow(s, p - T(1));
    case UnaryOp::clamp_min: return s >= p ? g : T(0);  // the bound passes the gradient (torch); NaN gets 0
    case UnaryOp::clamp_max: return s <= p ? g : T(0);
  }
  return g;
}

/// Element `index` of a uniform fill in [low, high) (RandomKernels::fill); rounding to T never lands on high.
template <class T>
XGRAD_HOST_DEVICE inline T uniform_value(std::uint64_t seed, std::uint64_t index, double low, double high) {
  const PhiloxBlock b = philox_block(seed, index);
  const T v = static_cast<T>(low + (high - low) * philox_unit_double(b.w[0], b.w[1]));
  return v < static_cast<T>(high) || !(high > low) ? v : std::nextafter(static_cast<T>(high), static_cast<T>(low));
}

/// Element i of a dropout mask: `keep` (1 / (1 - rate)) when dropout_keeps, else 0.
template <class T>
XGRAD_HOST_DEVICE inline T dropout_value(const PhiloxKey& key, std::uint64_t i, std::uint64_t threshold, T keep) {
  return dropout_keeps(key, i, threshold) ? keep : T(0);
}

}  // namespace xgrad::cuda
