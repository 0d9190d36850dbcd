// Fused nn ops: each forward is one kernel call and saves exactly what its one-kernel backward needs.
#include "xgrad/ops/nn.hpp"

#include <fmt/format.h>

#include <cmath>

#include "ops/checks.hpp"
#include "ops/composed.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/nn.hpp"
#include "xgrad/backend/random.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad {

namespace {

Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }

// Throws unless the optional `param` (weight or bias) is undefined or a (features,) tensor matching `a`.
void check_affine(const char* op, const char* arg, const Tensor& param, const Tensor& a) {
  if (!param.defined()) return;
  detail::check_pair(op, "input", a, arg, param);
  if (param.shape() != Shape{a.shape().back()})
    throw ShapeError(fmt::format("{}: {} must have shape ({},) to match input {}, got {}", op, arg,
                                 a.shape().back(), shape_str(a.shape()), shape_str(param.shape())));
}

const NNKernels& kernels(const Tensor& t) {
  if (const NNKernels* k = t.backend().nn()) return *k;
  throw DeviceError(fmt::format("the {} backend has no fused nn kernels", t.backend().name()));
}

Tensor softmax_op(const char* op, const Tensor& a, std::int64_t axis, bool log) {
  detail::check_floating(op, "a", a);
  const Shape& s = a.shape();
  AxisView v;
  if (!s.empty()) {  // a 0-d tensor is one slice of one element
    const std::int64_t ax = normalize_axis(axis, a.dim(), op);
    for (std::int64_t i = 0; i < ax; ++i) v.outer *= s[i];
    v.axis = s[ax];
    for (std::int64_t i = ax + 1; i < a.dim(); ++i) v.inner *= s[i];
  } else {
    normalize_axis(axis, 1, op);
  }
  if (!a.backend().nn()) return detail::composed_softmax(a, axis, log);
  Tensor out = empty_like(a);
  kernels(a).softmax_forward(a.dtype(), a.raw_data(), out.raw_data(), v, log);
  if (needs_recording({&a})) {
    // softmax: y = exp(x - lse)  =>  dx = y * (dy - sum(dy * y));  log_softmax: y = x - lse  =>
    // dx = dy - exp(y) * sum(dy). Both need only the output.
    record(log ? "log_softmax" : "softmax", {&a}, out, [y = out.detach(), v, log](BackwardContext& ctx) {
      Tensor dx = empty_like(y);
      kernels(y).softmax_backward(y.dtype(), y.raw_data(), ctx.grad_output().raw_data(), dx.raw_data(), v, log);
      ctx.accumulate(0, std::move(dx));
    });
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& a, std::int64_t axis) { return softmax_op("softmax", a, axis, false); }

Tensor log_softmax(const Tensor& a, std::int64_t axis) { return softmax_op("log_softmax", a, axis, true); }

Tensor layer_norm(const Tensor& a, const Tensor& weight, const Tensor& bias, double epsilon) {
  detail::check_floating("layer_norm", "a", a);
  if (a.dim() == 0) throw ShapeError("layer_norm: input must have at least one axis, got shape ()");
  check_affine("layer_norm", "weight", weight, a);
  check_affine("layer_norm", "bias", bias, a);
  if (!(epsilon > 0.0))
    throw ValueError(fmt::format("layer_norm: epsilon must be positive, got {}", epsilon));
  if (!a.backend().nn()) return detail::composed_layer_norm(a, weight, bias, epsilon);
  const std::int64_t cols = a.shape().back();
  const std::int64_t rows = cols ? a.numel() / cols : 0;
  Tensor out = empty_like(a);
  Tensor mean = Tensor::empty({rows}, a.dtype(), a.device());
  Tensor rstd = Tensor::empty({rows}, a.dtype(), a.device());
  const auto ptr = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
  kernels(a).layer_norm_forward(a.dtype(), a.raw_data(), ptr(weight), ptr(bias), out.raw_data(), mean.raw_data(),
                                rstd.raw_data(), rows, cols, epsilon);
  if (needs_recording({&a, &weight, &bias})) {
    const bool wants_x = a.requires_grad() || (weight.defined() && weight.requires_grad());
    record("layer_norm", {&a, &weight, &bias}, out,
           [x = save_if(wants_x, a), w = save_if(a.requires_grad() && weight.defined(), weight), mean, rstd, rows,
            cols, ptr](BackwardContext& ctx) {
             // y = (x - mean) * rstd * w + b  =>  db += sum_rows dy ; dw += sum_rows dy * xhat ;
             // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w (the kernel's formula)
             const Tensor& dy = ctx.grad_output();
             Tensor dx = ctx.needs_grad(0) ? empty_like(dy) : Tensor();
             void* dw = ctx.needs_grad(1) ? ctx.grad_buffer(1).raw_data() : nullptr;
             void* db = ctx.needs_grad(2) ? ctx.grad_buffer(2).raw_data() : nullptr;
             kernels(dy).layer_norm_backward(dy.dtype(), ptr(x), ptr(w), mean.raw_data(), rstd.raw_data(),
                                             dy.raw_data(), ptr(dx), dw, db, rows, cols);
             if (dx.defined()) ctx.accumulate(0, std::move(dx));
           });
  }
  return out;
}

Tensor embedding(const Tensor& indices, const Tensor& weight) {
  detail::check_index_tensor("embedding", "indices", indices);
  detail::check_floating("embedding", "weight", weight);
  if (weight.dim() != 2)
    throw ShapeError(fmt::format("embedding: weight must be 2-D (vocab, dim), got {}", shape_str(weight.shape())));
  detail::check_same_device("embedding", "indices", indices, weight);
  const std::int64_t vocab = weight.shape()[0], dim = weight.shape()[1];
  Shape shape = indices.shape();
  shape.push_back(dim);
  if (!weight.backend().nn()) return detail::composed_embedding(indices, weight);
  Tensor out = Tensor::empty(shape, weight.dtype(), weight.device());
  const std::int64_t* ids = indices.data<std::int64_t>();
  const std::int64_t bad = kernels(weight).embedding_forward(weight.dtype(), ids, indices.numel(),
                                                             weight.raw_data(), vocab, dim, out.raw_data());
  if (bad >= 0)
    throw IndexError(fmt::format("embedding: index {} (at flat position {} of indices {}) is out of range for "
                                 "a vocabulary of {} rows",
                                 detail::index_at(indices, bad), bad, shape_str(indices.shape()), vocab));
  if (needs_recording({&weight})) {
    record("embedding", {&indices, &weight}, out, [ids = indices.detach(), dim](BackwardContext& ctx) {
      // out[i] = weight[ids[i]]  =>  dweight[ids[i]] += dout[i]
      const Tensor& g = ctx.grad_output();
      kernels(g).embedding_backward(g.dtype(), ids.data<std::int64_t>(), ids.numel(), g.raw_data(), dim,
                                    ctx.grad_buffer(1).raw_data());
    });
  }
  return out;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options) {
  detail::check_floating("cross_entropy", "logits", logits);
  detail::check_index_tensor("cross_entropy", "targets", targets);
  if (logits.dim() == 0 ||
      targets.shape() != Shape(logits.shape().begin(), logits.shape().end() - 1))
    throw ShapeError(fmt::format("cross_entropy: targets {} must have the shape of logits {} without its last "
                                 "(class) axis",
                                 shape_str(targets.shape()), shape_str(logits.shape())));
  detail::check_same_device("cross_entropy", "targets", targets, logits);
  const double ls = options.label_smoothing;
  if (!(ls >= 0.0 && ls <= 1.0))
    throw ValueError(fmt::format("cross_entropy: label_smoothing must be in [0, 1], got {}", ls));
  if (!logits.backend().nn()) return detail::composed_cross_entropy(logits, targets, options);
  const std::int64_t classes = logits.shape().back(), rows = targets.numel();
  Tensor lse = Tensor::empty({rows}, logits.dtype(), logits.device());
  Tensor per_target = options.per_target ? Tensor::empty(targets.shape(), logits.dtype(), logits.device()) : Tensor();
  double total = 0.0;
  std::int64_t count = 0;
  const std::int64_t bad = kernels(logits).cross_entropy_forward(
      logits.dtype(), logits.raw_data(), targets.data<std::int64_t>(), rows, classes, options.ignore_index, ls,
      lse.raw_data(), per_target.defined() ? per_target.raw_data() : nullptr, &total, &count);
  if (bad >= 0)
    throw IndexError(fmt::format("cross_entropy: target {} (at flat position {} of targets {}) is not a class in "
                                 "[0, {}) nor ignore_index {}",
                                 detail::index_at(targets, bad), bad, shape_str(targets.shape()), classes,
                                 options.ignore_index));
  // All targets ignored: torch divides 0 by 0; xgrad gives a loss of 0 with a zero gradient.
  const double scale = !options.mean || options.per_target ? 1.0 : count ? 1.0 / static_cast<double>(count) : 0.0;
  Tensor out = per_target.defined() ? per_target : scalar(total * scale, logits.dtype(), logits.device());
  const std::int64_t dloss_stride = per_target.defined() ? 1 : 0;
  if (needs_recording({&logits})) {
    record("cross_entropy", {&logits, &targets}, out,
           [x = logits.detach(), t = targets.detach(), lse, classes, options, scale, dloss_stride](BackwardContext& ctx) {
             // loss_r = (1 - ls)(lse - x_t) + ls (lse - mean(x)), summed with `scale` unless per target  =>
             // dx_r = scale * dloss_r * (softmax(x) - (1 - ls) onehot(t) - ls / C) on non-ignored rows
             Tensor dx = empty_like(x);
             kernels(x).cross_entropy_backward(x.dtype(), x.raw_data(), t.data<std::int64_t>(), lse.raw_data(),
                                               t.numel(), classes, options.ignore_index, options.label_smoothing,
                                               ctx.grad_output().raw_data(), dloss_stride, scale, dx.raw_data());
             ctx.accumulate(0, std::move(dx));
           });
  }
  return out;
}

Tensor mse(const Tensor& a, const Tensor& b) {
  detail::check_pair("mse", a, b);
  if (a.shape() != b.shape())
    throw ShapeError(fmt::format("mse: shapes must match exactly, got {} and {} (mse does not broadcast)",
                                 shape_str(a.shape()), shape_str(b.shape())));
  if (!a.backend().nn()) return detail::composed_mse(a, b);
  Tensor out = Tensor::empty({}, a.dtype(), a.device());
  kernels(a).mse_forward(a.dtype(), a.raw_data(), b.raw_data(), a.numel(), out.raw_data());
  if (needs_recording({&a, &b})) {
    record("mse", {&a, &b}, out, [sa = a.detach(), sb = b.detach()](BackwardContext& ctx) {
      // out = mean((a - b)^2)  =>  da = 2 (a - b) dout / n ; db = -da
      Tensor da = ctx.needs_grad(0) ? empty_like(sa) : Tensor();
      Tensor db = ctx.needs_grad(1) ? empty_like(sb) : Tensor();
      const auto ptr = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
      kernels(sa).mse_backward(sa.dtype(), sa.raw_data(), sb.raw_data(), ctx.grad_output().raw_data(), sa.numel(),
                               ptr(da), ptr(db));
      if (da.defined()) ctx.accumulate(0, std::move(da));
      if (db.defined()) ctx.accumulate(1, std::move(db));
    });
  }
  return out;
}

Tensor dropout(const Tensor& a, double rate, Generator& gen, bool training) {
  detail::check_floating("dropout", "a", a);
  if (!(rate >= 0.0 && rate <= 1.0))
    throw ValueError(fmt::format("dropout: rate must be in [0, 1], got {}", rate));
  if (!training || rate == 0.0) return a;
  if (rate == 1.0) {  // everything dropped; 1 / (1 - rate) would be inf
    Tensor out = zeros_like(a);
    if (needs_recording({&a}))
      record("dropout", {&a}, out, [](BackwardContext& ctx) { ctx.accumulate(0, zeros_like(ctx.grad_output())); });
    return out;
  }
  Tensor mask = empty_like(a);
  a.backend().random().dropout_mask(a.dtype(), mask.raw_data(), a.numel(), rate, gen.reserve(dropout_blocks(a.numel())));
  // out = a * mask  =>  da = dout * mask (the very mask the forward drew)
  return mul(a, mask);
}

}  // namespace xgrad
