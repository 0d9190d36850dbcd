// Binary arithmetic with NumPy broadcasting, its scalar forms, and pow. Each backward reduces the
// incoming gradient over the axes an input was broadcast along (sum_to), and computes an input's
// gradient only when that input needs one.
#include "xgrad/ops/elementwise.hpp"

#include "ops/checks.hpp"
#include "ops/elementwise_apply.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad {

Tensor detail::apply_binary(const char* op, BinaryOp kind, const Tensor& a, const Tensor& b) {
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  a.backend().elementwise().binary(kind, a.dtype(), a.raw_data(), a.shape(), b.raw_data(), b.shape(),
                                   out.raw_data(), shape);
  return out;
}

namespace {

Tensor binary_forward(const char* op, BinaryOp kind, const Tensor& a, const Tensor& b) {
  detail::check_pair(op, a, b);
  return detail::apply_binary(op, kind, a, b);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("add", BinaryOp::add, a, b);
  if (needs_recording({&a, &b}))
    record("add", {&a, &b}, out, [as = a.shape(), bs = b.shape()](BackwardContext& ctx) {
      // out = a + b  =>  da += dout ; db += dout   (summed over broadcast axes)
      // b first: a takes dout itself, moved rather than copied when its shape is dout's.
      if (ctx.needs_grad(1)) ctx.accumulate(1, sum_to(ctx.grad_output(), bs));
      if (ctx.needs_grad(0)) {
        Tensor da = sum_to(ctx.take_grad_output(), as);  // the taken dout dies here: da may own it alone
        ctx.accumulate(0, std::move(da));
      }
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("sub", BinaryOp::sub, a, b);
  if (needs_recording({&a, &b}))
    record("sub", {&a, &b}, out, [as = a.shape(), bs = b.shape()](BackwardContext& ctx) {
      // out = a - b  =>  da += dout ; db -= dout   (b first: a takes dout itself, see add)
      if (ctx.needs_grad(1)) ctx.accumulate(1, neg(sum_to(ctx.grad_output(), bs)));
      if (ctx.needs_grad(0)) {
        Tensor da = sum_to(ctx.take_grad_output(), as);  // the taken dout dies here: da may own it alone
        ctx.accumulate(0, std::move(da));
      }
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("mul", BinaryOp::mul, a, b);
  if (needs_recording({&a, &b}))
    // a is needed only for b's gradient and vice versa.
    record("mul", {&a, &b}, out,
           [sa = save_if(b.requires_grad(), a), sb = save_if(a.requires_grad(), b), as = a.shape(),
            bs = b.shape()](BackwardContext& ctx) {
             // out = a * b  =>  da += dout * b ; db += dout * a
             if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to(ctx.grad_output() * sb, as));
             if (ctx.needs_grad(1)) ctx.accumulate(1, sum_to(ctx.grad_output() * sa, bs));
           });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("div", BinaryOp::div, a, b);
  if (needs_recording({&a, &b}))
    record("div", {&a, &b}, out,
           [sb = b.detach(), so = save_if(b.requires_grad(), out), as = a.shape(), bs = b.shape()](
               BackwardContext& ctx) {
             // out = a / b  =>  da += dout / b ; db -= dout * a / b^2 = dout * out / b
             if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to(ctx.grad_output() / sb, as));
             if (ctx.needs_grad(1)) ctx.accumulate(1, neg(sum_to(ctx.grad_output() * so / sb, bs)));
           });
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("pow", BinaryOp::pow, a, b);
  if (needs_recording({&a, &b}))
    record("pow", {&a, &b}, out,
           [sa = a.detach(), sb = save_if(a.requires_grad(), b), so = save_if(b.requires_grad(), out),
            as = a.shape(), bs = b.shape()](BackwardContext& ctx) {
             // out = a^b  =>  da += dout * b * a^(b-1) ; db += dout * out * log(a)
             // where out = 0 (a = 0 < b) db is 0, not 0 * log(0) = NaN; `where` tests out != 0.
             const Tensor& g = ctx.grad_output();
             if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to(g * sb * pow(sa, sb - 1.0), as));
             if (ctx.needs_grad(1))
               ctx.accumulate(1, sum_to(where(so, g * so * log(sa), zeros({}, g.dtype(), g.device())), bs));
           });
  return out;
}

// Scalar forms: one forward kernel and one fused backward kernel each (see unary.cpp):
//   a + s: da += dout    a * s: da += dout * s    s - a: da -= dout
//   s / a: da -= dout * s / a^2                   a^p: da += dout * p * a^(p-1)  (0 for p = 0)
Tensor add(const Tensor& a, double s) { return detail::apply_unary("add", UnaryOp::add_scalar, a, s); }
Tensor mul(const Tensor& a, double s) { return detail::apply_unary("mul", UnaryOp::mul_scalar, a, s); }
Tensor rsub(double s, const Tensor& a) { return detail::apply_unary("rsub", UnaryOp::rsub_scalar, a, s); }
Tensor rdiv(double s, const Tensor& a) { return detail::apply_unary("rdiv", UnaryOp::rdiv_scalar, a, s); }
Tensor pow(const Tensor& a, double exponent) {
  return detail::apply_unary("pow", UnaryOp::pow_scalar, a, exponent);
}

}  // namespace xgrad
