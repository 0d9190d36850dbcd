#pragma once
// Elementwise ops: arithmetic with NumPy broadcasting, math functions, activations, selection.
// Every op records itself on the tape when an input requires grad. Operands must be float32 or
// float64 and of one dtype (else TypeError); shapes that do not broadcast are a ShapeError.
#include <optional>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// a + b with NumPy broadcasting; the backward sums over broadcast axes.
Tensor add(const Tensor& a, const Tensor& b);
/// a - b with NumPy broadcasting.
Tensor sub(const Tensor& a, const Tensor& b);
/// a * b with NumPy broadcasting.
Tensor mul(const Tensor& a, const Tensor& b);
/// a / b with NumPy broadcasting.
Tensor div(const Tensor& a, const Tensor& b);
/// a + s.
Tensor add(const Tensor& a, double s);
/// a * s.
Tensor mul(const Tensor& a, double s);
/// s - a.
Tensor rsub(double s, const Tensor& a);
/// s / a.
Tensor rdiv(double s, const Tensor& a);
/// -a.
Tensor neg(const Tensor& a);
/// a ** exponent, elementwise; an integer exponent (|p| <= 64) multiplies, so (-2) ** 3 is exactly -8.
Tensor pow(const Tensor& a, double exponent);
/// a ** b with broadcasting (a must be positive where b is not an integer); where a = 0 < b the
/// gradient for b is 0, like torch.
Tensor pow(const Tensor& a, const Tensor& b);

/// e ** a.
Tensor exp(const Tensor& a);
/// Natural logarithm.
Tensor log(const Tensor& a);
/// Square root.
Tensor sqrt(const Tensor& a);
/// |a|; the gradient at 0 is 0.
Tensor abs(const Tensor& a);
/// Hyperbolic tangent.
Tensor tanh(const Tensor& a);
/// 1 / (1 + e ** -a), computed without overflow.
Tensor sigmoid(const Tensor& a);
/// max(a, 0); the gradient at 0 is 0.
Tensor relu(const Tensor& a);
/// Gaussian error linear unit: exact x*Phi(x) or, with `approximate_tanh`,
/// 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) (torch's approximate='tanh').
Tensor gelu(const Tensor& a, bool approximate_tanh = false);

/// a limited to [min, max] elementwise; either bound may be absent ({}), not both (ValueError), and a NaN
/// bound is a ValueError. NaN elements stay NaN. The gradient is 1 where min <= a <= max, the bounds
/// included (like torch), and 0 outside and at NaN; when min > max every element becomes max, like torch.
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max);

/// Elementwise choice: condition != 0 ? a : b, all three broadcast together; condition may be of any
/// dtype (int64 or floating) and gets no gradient.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
/// a with `value` wherever mask != 0 (mask, of any dtype, must broadcast to a's shape without
/// enlarging it); filled positions get zero gradient.
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);

/// Sum of a.
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
/// Difference of a and b.
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
/// Elementwise product.
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
/// Elementwise quotient.
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
/// a + s.
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
/// s + a.
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
/// a - s.
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
/// s - a.
inline Tensor operator-(double s, const Tensor& a) { return rsub(s, a); }
/// a * s.
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
/// s * a.
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
/// a / s.
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
/// s / a.
inline Tensor operator/(double s, const Tensor& a) { return rdiv(s, a); }
/// -a.
inline Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace xgrad
