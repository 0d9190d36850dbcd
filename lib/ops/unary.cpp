// One-input math functions and activations. Each forward is one kernel call and each backward one
// fused kernel call; the derivative formulas sit in the CPU kernel beside their forward
// (lib/backend/cpu/elementwise.cpp), restated here:
//   neg: -g              exp: g*y               log: g/x            sqrt: g/(2y)
//   abs: g*sign(x)       tanh: g*(1-y^2)        sigmoid: g*y*(1-y)  relu: g*[y>0]
//   gelu: g*(Phi(x) + x*phi(x))                 gelu_tanh: g*((1+t)/2 + x/2*(1-t^2)*k*(1+3c*x^2))
//   clamp_min: g*[x>=min]                       clamp_max: g*[x<=max]
// The backward saves y (the output) where the derivative is cheaper from it, x otherwise.
#include "ops/elementwise_apply.hpp"

#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "ops/checks.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"

namespace xgrad {

namespace detail {

namespace {
// Ops whose derivative needs neither input nor output.
bool needs_saved(UnaryOp kind) {
  return kind != UnaryOp::neg && kind != UnaryOp::add_scalar && kind != UnaryOp::mul_scalar &&
         kind != UnaryOp::rsub_scalar;
}
}  // namespace

Tensor apply_unary(const char* op, UnaryOp kind, const Tensor& a, double param) {
  check_floating(op, "a", a);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  a.backend().elementwise().unary(kind, a.dtype(), a.raw_data(), out.raw_data(), a.numel(), param);
  if (needs_recording({&a})) {
    Tensor saved = !needs_saved(kind) ? Tensor() : backward_uses_output(kind) ? out.detach() : a.detach();
    record(op, {&a}, out, [kind, param, saved = std::move(saved)](BackwardContext& ctx) {
      const Tensor& g = ctx.grad_output();
      Tensor grad_in = Tensor::empty(g.shape(), g.dtype(), g.device());
      g.backend().elementwise().unary_backward(kind, g.dtype(), g.raw_data(),
                                               saved.defined() ? saved.raw_data() : nullptr,
                                               grad_in.raw_data(), g.numel(), param);
      ctx.accumulate(0, std::move(grad_in));
    });
  }
  return out;
}

}  // namespace detail

Tensor neg(const Tensor& a) { return detail::apply_unary("neg", UnaryOp::neg, a); }
Tensor exp(const Tensor& a) { return detail::apply_unary("exp", UnaryOp::exp, a); }
Tensor log(const Tensor& a) { return detail::apply_unary("log", UnaryOp::log, a); }
Tensor sqrt(const Tensor& a) { return detail::apply_unary("sqrt", UnaryOp::sqrt, a); }
Tensor abs(const Tensor& a) { return detail::apply_unary("abs", UnaryOp::abs, a); }
Tensor tanh(const Tensor& a) { return detail::apply_unary("tanh", UnaryOp::tanh, a); }
Tensor sigmoid(const Tensor& a) { return detail::apply_unary("sigmoid", UnaryOp::sigmoid, a); }
Tensor relu(const Tensor& a) { return detail::apply_unary("relu", UnaryOp::relu, a); }
Tensor gelu(const Tensor& a, bool approximate_tanh) {
  return approximate_tanh ? detail::apply_unary("gelu", UnaryOp::gelu_tanh, a)
                          : detail::apply_unary("gelu", UnaryOp::gelu, a);
}

Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max) {
  if (!min && !max) throw ValueError("clamp: give min, max or both; both are absent");
  for (const auto& [name, bound] : {std::pair{"min", min}, std::pair{"max", max}})
    if (bound && std::isnan(*bound)) throw ValueError(fmt::format("clamp: argument '{}' is NaN", name));
  // Two passes when both bounds are given: [x >= min] * [max(x, min) <= max] is exactly [min <= x <= max].
  Tensor out = min ? detail::apply_unary("clamp", UnaryOp::clamp_min, a, *min) : a;
  return max ? detail::apply_unary("clamp", UnaryOp::clamp_max, out, *max) : out;
}

}  // namespace xgrad
