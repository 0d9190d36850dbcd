// Losses composed from the ops (whose backwards are gradchecked), except cross-entropy, which is the
// fused op.
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

}  // namespace

Tensor cross_entropy_loss(const Tensor& logits, const Tensor& targets, const CrossEntropyLossOptions& o) {
  return xgrad::cross_entropy(logits, targets,
                              {.ignore_index = o.ignore_index,
                               .label_smoothing = o.label_smoothing,
                               .mean = o.reduction == Reduction::mean,
                               .per_target = o.reduction == Reduction::none});
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
