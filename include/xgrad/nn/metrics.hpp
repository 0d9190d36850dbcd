#pragma once
// Metrics for logging a training loop: classification accuracy from logits and a running mean. They
// live in nn beside the losses because they read what a model returns; they record nothing on the
// tape and return host numbers (each call reads its result back from the device once).
#include <cstdint>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

/// Fraction of the targets whose class gets the largest logit (Keras SparseCategoricalAccuracy): `logits`
/// (..., C) floating, `targets` int64 of shape logits.shape[:-1]; targets equal to `ignore_index` are left
/// out, and NaN is returned when every target is (there is nothing to score). A tie between logits goes to
/// the lower class, a NaN logit counts as the largest (as argmax). Throws ShapeError or TypeError on such
/// shapes or dtypes, IndexError for a target outside [0, C) that is not ignore_index.
double accuracy(const Tensor& logits, const Tensor& targets, std::int64_t ignore_index = -100);

/// Fraction of the targets whose class is among the `k` largest logits (Keras
/// SparseTopKCategoricalAccuracy); top_k_accuracy(logits, targets, 1) is accuracy(). Ties and NaN as in
/// topk. Throws ValueError unless 1 <= k <= C, otherwise as accuracy().
double top_k_accuracy(const Tensor& logits, const Tensor& targets, std::int64_t k,
                      std::int64_t ignore_index = -100);

/// A running weighted mean for logging (Keras metrics.Mean): update() once per batch, read mean() at the
/// end of an epoch, reset() to start the next. Weighting each batch by its size gives the mean over examples.
class RunningMean {
 public:
  /// Adds `value` with `weight` (>= 0 and finite, else ValueError). A weight of 0 adds nothing, even a NaN
  /// value (a batch with nothing to score); a NaN value with a positive weight makes the mean NaN.
  void update(double value, double weight = 1.0);
  /// Adds the value of a one-element tensor (a loss), read back from its device.
  void update(const Tensor& value, double weight = 1.0);
  /// The weighted mean of the values added since the last reset(); NaN before any weight was added.
  double mean() const;
  /// Sum of the weights added since the last reset().
  double total_weight() const { return weight_; }
  /// Number of update() calls since the last reset().
  std::int64_t count() const { return count_; }
  /// Forgets every value.
  void reset() { *this = RunningMean(); }

 private:
  double sum_ = 0.0;
  double weight_ = 0.0;
  std::int64_t count_ = 0;
};

}  // namespace xgrad::nn
