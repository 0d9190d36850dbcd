#pragma once
// Loss functions with PyTorch's names and semantics (reduction "none", "mean" or "sum"):
//   Tensor loss = nn::cross_entropy(logits, labels, {.label_smoothing = 0.1});
// Each takes the prediction first and the target second; shapes must match exactly (no silent
// broadcasting of a (N,) target against (N, 1) predictions).
#include <cstdint>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

/// How a loss combines its per-element values.
enum class Reduction : std::uint8_t {
  none,  ///< one value per element (per target for cross_entropy)
  mean,  ///< their mean (over non-ignored targets for cross_entropy)
  sum,   ///< their sum
};

/// Options of cross_entropy (torch.nn.functional.cross_entropy).
struct CrossEntropyLossOptions {
  Reduction reduction = Reduction::mean;  ///< how per-target losses combine
  std::int64_t ignore_index = -100;       ///< targets equal to this contribute neither loss nor gradient
  double label_smoothing = 0.0;           ///< in [0, 1]: target = (1 - s) one_hot + s / C
};

/// Cross-entropy of `logits` (..., C) against int64 class indices `targets` (...), log-softmax fused in
/// (Keras: SparseCategoricalCrossentropy(from_logits=True)). With Reduction::none the result has the
/// targets' shape and ignored positions hold 0. nn::cross_entropy is this function.
Tensor cross_entropy_loss(const Tensor& logits, const Tensor& targets, const CrossEntropyLossOptions& options = {});

/// cross_entropy_loss() under PyTorch's functional name. A template only for overload resolution: Tensor lives
/// in namespace xgrad, so an unqualified call always sees the fused op xgrad::cross_entropy as well (and both are
/// in scope under `using namespace xgrad; using namespace xgrad::nn;`). A call whose options fit both option
/// structs (none, or only ignore_index / label_smoothing) then picks the op, which computes the same mean; a
/// call with a `reduction` can only be this one. Without the template such calls were ambiguous.
template <class = void>
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyLossOptions& options = {}) {
  return cross_entropy_loss(logits, targets, options);
}

/// Binary cross-entropy on logits x against targets y in [0, 1] (same shape), computed stably as
/// max(x, 0) - x y + log(1 + exp(-|x|)) (Keras: BinaryCrossentropy(from_logits=True)). `pos_weight`
/// (optional, broadcast against the targets, e.g. one weight per class (C,)) scales the positive term:
/// (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x), like torch.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        Reduction reduction = Reduction::mean, const Tensor& pos_weight = {});

/// Squared error (prediction - target)^2 (Keras: MeanSquaredError).
Tensor mse_loss(const Tensor& prediction, const Tensor& target, Reduction reduction = Reduction::mean);

/// Absolute error |prediction - target|, gradient 0 where they are equal (Keras: MeanAbsoluteError).
Tensor l1_loss(const Tensor& prediction, const Tensor& target, Reduction reduction = Reduction::mean);

/// Keras name of mse_loss with the mean reduction.
inline Tensor mean_squared_error(const Tensor& prediction, const Tensor& target) {
  return mse_loss(prediction, target);
}
/// Keras name of l1_loss with the mean reduction.
inline Tensor mean_absolute_error(const Tensor& prediction, const Tensor& target) {
  return l1_loss(prediction, target);
}

}  // namespace xgrad::nn
