#pragma once
// Kernel table of the elementwise op family (see backend.hpp). Pointers are device pointers to
// contiguous row-major data; shapes follow NumPy broadcasting against the output shape.
#include <cstdint>

#include "xgrad/backend/backend.hpp"
#include "xgrad/tensor/shape.hpp"

namespace xgrad {

/// Binary arithmetic a (op) b, and comparisons giving 1 where a (op) b holds and 0 elsewhere, in the
/// operands' dtype (NaN compares unequal to everything, itself included).
enum class BinaryOp : std::uint8_t { add, sub, mul, div, pow, eq, ne, lt, le, gt, ge };

/// True for the comparisons (eq ... ge): defined for every dtype, int64 included; arithmetic is floating only.
constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

/// One-input maps; the *_scalar forms take their scalar as the kernel's `param`.
enum class UnaryOp : std::uint8_t {
  neg, exp, log, sqrt, abs, tanh, sigmoid, relu, gelu, gelu_tanh,
  add_scalar,   ///< x + param
  mul_scalar,   ///< x * param
  rsub_scalar,  ///< param - x
  rdiv_scalar,  ///< param / x
  pow_scalar,   ///< x ** param
  clamp_min,    ///< max(x, param), NaN kept; gradient 1 where x >= param
  clamp_max,    ///< min(x, param), NaN kept; gradient 1 where x <= param
};

/// True when the backward of `op` is computed from the op's output (exp, sqrt, tanh, sigmoid, relu);
/// otherwise it is computed from the input (or needs neither).
constexpr bool backward_uses_output(UnaryOp op) {
  return op == UnaryOp::exp || op == UnaryOp::sqrt || op == UnaryOp::tanh || op == UnaryOp::sigmoid ||
         op == UnaryOp::relu;
}

/// Device kernels behind the elementwise ops.
class ElementwiseKernels {
 public:
  virtual ~ElementwiseKernels() = default;

  /// out = a (op) b, where a_shape and b_shape broadcast to out_shape; comparisons accept int64.
  virtual void binary(BinaryOp op, DType dtype, const void* a, const Shape& a_shape, const void* b,
                      const Shape& b_shape, void* out, const Shape& out_shape) const = 0;
  /// out[i] = op(in[i]) for n elements (param feeds the *_scalar forms).
  virtual void unary(UnaryOp op, DType dtype, const void* in, void* out, std::int64_t n,
                     double param) const = 0;
  /// grad_in[i] = grad[i] * op'(x[i]) in one pass; `saved` is the op's output when
  /// backward_uses_output(op), else its input. grad_in may be grad (in place).
  virtual void unary_backward(UnaryOp op, DType dtype, const void* grad, const void* saved, void* grad_in,
                              std::int64_t n, double param) const = 0;
  /// out = cond != 0 ? a : b, all broadcast to out_shape; cond may be of any dtype.
  virtual void where(DType cond_dtype, const void* cond, const Shape& cond_shape, DType dtype, const void* a,
                     const Shape& a_shape, const void* b, const Shape& b_shape, void* out,
                     const Shape& out_shape) const = 0;
  /// out = scale * in broadcast from in_shape to out_shape (the backward of a reduction).
  virtual void broadcast(DType dtype, const void* in, const Shape& in_shape, void* out, const Shape& out_shape,
                         double scale) const = 0;
};

}  // namespace xgrad
