#pragma once
// Fused neural-network ops: each forward saves exactly what its hand-written backward needs.
#include <cstdint>

#include "xgrad/tensor/generator.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// exp(a) / sum(exp(a)) along `axis`, computed with the slice maximum subtracted (logits of 1e4 stay
/// finite). -inf entries get weight 0; xgrad rule: a slice that is entirely -inf gives zeros (torch gives
/// NaN) and passes no gradient back. A slice holding a NaN or +inf is NaN throughout.
Tensor softmax(const Tensor& a, std::int64_t axis = -1);
/// log(softmax(a)) along `axis`, computed as a - max - log(sum(exp(a - max))). -inf entries give -inf;
/// xgrad rule: a slice that is entirely -inf gives zeros (torch gives NaN) and passes no gradient back. A
/// slice holding a NaN or +inf is NaN throughout.
Tensor log_softmax(const Tensor& a, std::int64_t axis = -1);
/// Normalises the last axis to zero mean and unit variance, then scales by `weight` and adds `bias`
/// (each of shape (last,) or undefined); saves mean and 1/std for the backward. Uses the biased variance,
/// like torch. Throws ShapeError on a weight/bias of another shape, ValueError unless epsilon > 0.
Tensor layer_norm(const Tensor& a, const Tensor& weight, const Tensor& bias, double epsilon = 1e-5);
/// Rows of `weight` (V, D) picked by the int64 `indices` (any shape): output indices.shape + (D,);
/// the backward scatter-adds into the rows that were picked. Throws IndexError on an id outside [0, V).
Tensor embedding(const Tensor& indices, const Tensor& weight);

/// Options of cross_entropy.
struct CrossEntropyOptions {
  std::int64_t ignore_index = -100;  ///< targets equal to this contribute neither loss nor gradient
  double label_smoothing = 0.0;      ///< in [0, 1]: mixes the one-hot target with the uniform one
  bool mean = true;                  ///< average over non-ignored targets (else sum)
  bool per_target = false;           ///< no reduction: one loss per target, shaped like targets (0 where ignored)
};
/// Cross-entropy of `logits` (N, C) (or (..., C)) against int64 class `targets` (N) (or (...)),
/// fused with log_softmax like torch.nn.functional.cross_entropy: per target,
/// (1 - label_smoothing) * nll + label_smoothing * mean over classes of -log_softmax. xgrad rule: when every
/// target is ignored the mean is 0 with a zero gradient (torch gives NaN). Throws IndexError on a target
/// outside [0, C) that is not ignore_index, ShapeError when targets.shape != logits.shape[:-1].
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options = {});
/// Mean of (a - b)^2 over all elements; shapes must match exactly.
Tensor mse(const Tensor& a, const Tensor& b);
/// Inverted dropout: in training zeroes each element with probability `rate` and scales the rest by
/// 1/(1-rate); the mask is drawn once from `gen` (32 random bits per element) and reused by the backward.
/// Returns `a` itself (same handle, nothing recorded) when not training or rate is 0; zeros when rate is 1.
/// Throws ValueError unless rate is in [0, 1].
Tensor dropout(const Tensor& a, double rate, Generator& gen, bool training = true);

}  // namespace xgrad
