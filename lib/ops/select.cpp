// Selection: where and masked_fill. The condition/mask may be of any dtype (nonzero = true) and
// gets no gradient; each branch's gradient is the output gradient where that branch was chosen.
#include <fmt/format.h>

#include "ops/checks.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad {

namespace {

// out = cond ? a : b, broadcast to `shape` (already validated).
Tensor select(const Tensor& cond, const Tensor& a, const Tensor& b, const Shape& shape) {
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  a.backend().elementwise().where(cond.dtype(), cond.raw_data(), cond.shape(), a.dtype(), a.raw_data(), a.shape(),
                                  b.raw_data(), b.shape(), out.raw_data(), shape);
  return out;
}

void check_condition(const char* op, const char* arg, const Tensor& cond, const Tensor& a) {
  require_defined(cond, op, arg);
  if (cond.device() != a.device())
    throw DeviceError(fmt::format("{}: argument '{}' lives on {} but 'a' on {}", op, arg, device_str(cond.device()),
                                  device_str(a.device())));
}

}  // namespace

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  detail::check_pair("where", a, b);
  check_condition("where", "condition", condition, a);
  Shape shape;
  try {
    shape = broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
  } catch (const ShapeError&) {
    throw ShapeError(fmt::format("where: condition {}, a {} and b {} do not broadcast together",
                                 shape_str(condition.shape()), shape_str(a.shape()), shape_str(b.shape())));
  }
  Tensor out = select(condition, a, b, shape);
  if (needs_recording({&a, &b}))
    record("where", {&a, &b}, out,
           [cond = condition.detach(), as = a.shape(), bs = b.shape(), shape](BackwardContext& ctx) {
             // out = cond ? a : b  =>  da += dout where cond ; db += dout where !cond
             const Tensor& g = ctx.grad_output();
             const Tensor zero = zeros({}, g.dtype(), g.device());
             if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to(select(cond, g, zero, shape), as));
             if (ctx.needs_grad(1)) ctx.accumulate(1, sum_to(select(cond, zero, g, shape), bs));
           });
  return out;
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  detail::check_floating("masked_fill", "a", a);
  check_condition("masked_fill", "mask", mask, a);
  bool fits = mask.dim() <= a.dim();
  if (fits) {
    try {
      fits = broadcast_shapes(mask.shape(), a.shape(), "masked_fill") == a.shape();
    } catch (const ShapeError&) {
      fits = false;
    }
  }
  if (!fits)
    throw ShapeError(fmt::format("masked_fill: mask shape {} does not broadcast to the shape {} of argument 'a'",
                                 shape_str(mask.shape()), shape_str(a.shape())));
  Tensor out = select(mask, full({}, value, a.dtype(), a.device()), a, a.shape());
  if (needs_recording({&a}))
    record("masked_fill", {&a}, out, [m = mask.detach()](BackwardContext& ctx) {
      // out = mask ? value : a  =>  da += dout where !mask
      const Tensor& g = ctx.grad_output();
      ctx.accumulate(0, select(m, zeros({}, g.dtype(), g.device()), g, g.shape()));
    });
  return out;
}

}  // namespace xgrad
