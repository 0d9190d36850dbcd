// Losses composed from the ops (whose backwards are gradchecked), except cross-entropy's mean/sum,
// which is the fused op.
#include "xgrad/nn/losses.hpp"

#include <fmt/format.h>

#include "ops/checks.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

namespace {

Tensor reduce(const Tensor& loss, Reduction reduction) {
  switch (reduction) {
    case Reduction::none: return loss;
    case Reduction::sum: return sum(loss);
    case Reduction::mean: return mean(loss);
  }
  throw ValueError(fmt::format("loss: unknown reduction {}", static_cast<int>(reduction)));
}

/// Prediction and target: floating, one dtype and device, the same shape.
void check_same_shape(const char* loss, const Tensor& prediction, const Tensor& target) {
  detail::check_pair(loss, "prediction", prediction, "target", target);
  if (prediction.shape() != target.shape())
    throw ShapeError(fmt::format("{}: prediction {} and target {} must have the same shape", loss,
                                 shape_str(prediction.shape()), shape_str(target.shape())));
}

/// The smoothed one-hot target distribution of cross_entropy, zero on ignored rows (a constant).
Tensor target_distribution(const Tensor& logits, const Tensor& targets, const CrossEntropyLossOptions& o) {
  const std::int64_t classes = logits.size(-1);
  const std::int64_t rows = targets.numel();
  Tensor dist = zeros(logits.shape(), logits.dtype());
  const std::int64_t* t = targets.host_data<std::int64_t>();
  for (std::int64_t r = 0; r < rows; ++r) {
    if (t[r] == o.ignore_index) continue;
    if (t[r] < 0 || t[r] >= classes)
      throw IndexError(fmt::format("cross_entropy: target {} at position {} is outside [0, {}) for logits {}", t[r],
                                   r, classes, shape_str(logits.shape())));
    dispatch_floating(logits.dtype(), "cross_entropy", [&](auto zero) {
      using T = decltype(zero);
      T* row = dist.host_data<T>() + r * classes;
      for (std::int64_t c = 0; c < classes; ++c) row[c] = static_cast<T>(o.label_smoothing / classes);
      row[t[r]] += static_cast<T>(1.0 - o.label_smoothing);
    });
  }
  return dist;
}

}  // namespace

Tensor cross_entropy_loss(const Tensor& logits, const Tensor& targets, const CrossEntropyLossOptions& o) {
  if (o.reduction != Reduction::none)
    return xgrad::cross_entropy(logits, targets, {o.ignore_index, o.label_smoothing, o.reduction == Reduction::mean});
  detail::check_floating("cross_entropy", "logits", logits);
  require_defined(targets, "cross_entropy", "targets");
  if (targets.dtype() != DType::int64)
    throw TypeError(fmt::format("cross_entropy: targets must be int64 class indices, got {} of shape {}",
                                dtype_name(targets.dtype()), shape_str(targets.shape())));
  if (logits.dim() < 1 || Shape(logits.shape().begin(), logits.shape().end() - 1) != targets.shape())
    throw ShapeError(fmt::format("cross_entropy: logits {} need targets of shape (...) = logits' shape without "
                                 "its last (class) axis, got targets {}",
                                 shape_str(logits.shape()), shape_str(targets.shape())));
  if (!(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0))
    throw ValueError(fmt::format("cross_entropy: label_smoothing must be in [0, 1], got {}", o.label_smoothing));
  // loss[r] = -sum_c dist[r, c] * log_softmax(logits)[r, c]
  return neg(sum(mul(log_softmax(logits, -1), target_distribution(logits, targets, o)), {-1}));
}

Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& y, Reduction reduction,
                                        const Tensor& pos_weight) {
  check_same_shape("binary_cross_entropy_with_logits", x, y);
  // softplus(-x) = -x/2 + h(|x|) with h(a) = a/2 + log(1 + exp(-a)). h is even and smooth (h'(0) = 0), so
  // abs's zero gradient at 0 is exact and the composition is differentiable at x = 0; exp(-|x|) <= 1
  // never overflows.
  const Tensor a = abs(x);
  const Tensor h = a * 0.5 + log(exp(neg(a)) + 1.0);
  Tensor loss;
  if (!pos_weight.defined()) {
    loss = x * (0.5 - y) + h;  // (1 - y) x + softplus(-x)
  } else {
    detail::check_pair("binary_cross_entropy_with_logits", "logits", x, "pos_weight", pos_weight);
    bool fits = false;
    try {
      fits = broadcast_shapes(pos_weight.shape(), y.shape(), "binary_cross_entropy_with_logits") == y.shape();
    } catch (const ShapeError&) {  // rethrown below naming pos_weight
    }
    if (!fits)
      throw ShapeError(fmt::format("binary_cross_entropy_with_logits: pos_weight {} does not broadcast to targets {}",
                                   shape_str(pos_weight.shape()), shape_str(y.shape())));
    const Tensor log_weight = (pos_weight - 1.0) * y + 1.0;
    loss = (1.0 - y) * x + log_weight * (h - x * 0.5);
  }
  return reduce(loss, reduction);
}

Tensor mse_loss(const Tensor& prediction, const Tensor& target, Reduction reduction) {
  check_same_shape("mse_loss", prediction, target);
  if (reduction == Reduction::mean) return mse(prediction, target);  // fused
  const Tensor d = prediction - target;
  return reduce(d * d, reduction);
}

Tensor l1_loss(const Tensor& prediction, const Tensor& target, Reduction reduction) {
  check_same_shape("l1_loss", prediction, target);
  return reduce(abs(prediction - target), reduction);
}

}  // namespace xgrad::nn
