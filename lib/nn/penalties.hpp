#pragma once
// Helpers the layers share for Keras's regularization bookkeeping.
#include "xgrad/nn/regularizers.hpp"
#include "xgrad/ops/elementwise.hpp"

namespace xgrad::nn::detail {

/// Adds regularizer(weight) to `total` when both are set (total may start undefined).
inline void add_penalty(Tensor& total, const Regularizer& regularizer, const Tensor& weight) {
  if (!regularizer || !weight.defined()) return;
  Tensor term = regularizer(weight);
  total = total.defined() ? add(total, term) : term;
}

/// Keras's activity penalty: regularizer(output) divided by the batch size (the first extent;
/// 0 for an empty batch, as divide_no_nan gives).
inline Tensor activity_penalty(const Regularizer& regularizer, const Tensor& output) {
  Tensor loss = regularizer(output);
  if (output.dim() == 0) return loss;
  const auto batch = output.size(0);
  return mul(loss, batch > 0 ? 1.0 / static_cast<double>(batch) : 0.0);
}

}  // namespace xgrad::nn::detail
