#pragma once
// Float64 ops written by hand in the tests and recorded through the public record() API, so the
// autograd and gradcheck tests depend on no op library. Some take a planted bug.
#include <functional>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::test {

/// Derivative of an elementwise function at x, for flat entry k (k lets a test plant a bug).
using Derivative = std::function<double(double x, std::int64_t k)>;

/// y = f(x) elementwise; the backward is dx += dy * df(x).
inline Tensor hand_unary(const Tensor& x, double (*f)(double), Derivative df) {
  Tensor y = Tensor::empty(x.shape(), DType::float64);
  for (std::int64_t k = 0; k < x.numel(); ++k) y.host_data<double>()[k] = f(x.host_data<double>()[k]);
  if (needs_recording({&x}))
    record("hand_unary", {&x}, y, [xs = x.detach(), df = std::move(df)](BackwardContext& ctx) {
      Tensor g = Tensor::empty(xs.shape(), DType::float64);
      const double* dy = ctx.grad_output().host_data<double>();
      for (std::int64_t k = 0; k < xs.numel(); ++k) g.host_data<double>()[k] = dy[k] * df(xs.host_data<double>()[k], k);
      ctx.accumulate(0, std::move(g));
    });
  return y;
}

/// y = c * x; the backward is dx += c * dy. Saves nothing.
inline Tensor hand_scale(const Tensor& x, double c) {
  Tensor y = Tensor::empty(x.shape(), DType::float64);
  for (std::int64_t k = 0; k < x.numel(); ++k) y.host_data<double>()[k] = c * x.host_data<double>()[k];
  if (needs_recording({&x}))
    record("hand_scale", {&x}, y, [c](BackwardContext& ctx) {
      Tensor g = ctx.grad_output().clone();
      for (std::int64_t k = 0; k < g.numel(); ++k) g.host_data<double>()[k] *= c;
      ctx.accumulate(0, std::move(g));
    });
  return y;
}

/// y = a * b (equal shapes); the backward is da += dy * b, db += dy * a, with db multiplied by
/// `b_bug` at flat entry `bug_at` to plant a wrong gradient.
inline Tensor hand_mul(const Tensor& a, const Tensor& b, std::int64_t bug_at = -1, double b_bug = 1.0) {
  Tensor y = Tensor::empty(a.shape(), DType::float64);
  for (std::int64_t k = 0; k < a.numel(); ++k)
    y.host_data<double>()[k] = a.host_data<double>()[k] * b.host_data<double>()[k];
  if (needs_recording({&a, &b}))
    record("hand_mul", {&a, &b}, y,
           [as = save_if(b.requires_grad(), a), bs = save_if(a.requires_grad(), b), bug_at, b_bug](BackwardContext& ctx) {
             const double* dy = ctx.grad_output().host_data<double>();
             const std::int64_t n = ctx.grad_output().numel();
             if (ctx.needs_grad(0)) {
               Tensor da = Tensor::empty(bs.shape(), DType::float64);
               for (std::int64_t k = 0; k < n; ++k) da.host_data<double>()[k] = dy[k] * bs.host_data<double>()[k];
               ctx.accumulate(0, std::move(da));
             }
             if (ctx.needs_grad(1)) {
               Tensor db = Tensor::empty(as.shape(), DType::float64);
               for (std::int64_t k = 0; k < n; ++k)
                 db.host_data<double>()[k] = dy[k] * as.host_data<double>()[k] * (k == bug_at ? b_bug : 1.0);
               ctx.accumulate(1, std::move(db));
             }
           });
  return y;
}

/// The sum of all entries as a 0-d tensor; the backward is dx += dy everywhere.
inline Tensor hand_sum(const Tensor& x) {
  double total = 0;
  for (std::int64_t k = 0; k < x.numel(); ++k) total += x.host_data<double>()[k];
  Tensor y = scalar(total, DType::float64);
  if (needs_recording({&x}))
    record("hand_sum", {&x}, y, [shape = x.shape()](BackwardContext& ctx) {
      ctx.accumulate(0, full(shape, ctx.grad_output().item(), DType::float64));
    });
  return y;
}

/// A float64 leaf that requires grad.
inline Tensor leaf(const std::vector<double>& values, const Shape& shape) {
  return from_vector(values, shape, DType::float64).set_requires_grad();
}

}  // namespace xgrad::test
