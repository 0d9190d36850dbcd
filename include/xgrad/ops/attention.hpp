#pragma once
// The attention core shared by nn::Attention, nn::MultiHeadAttention, functional::multi_head_attention
// and the Flux-style constructor: scores = scale * Q·Kᵀ (+ bias), the masked softmax (docs/attention.md,
// "The masked softmax"), dropout, then weights·V — one fused op with a hand-written backward.
#include "xgrad/tensor/generator.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Settings of attention(): masks, bias, scaling and dropout.
struct AttentionOptions {
  double scale = 1.0;           ///< multiplies Q·Kᵀ before bias and masking
  Tensor mask = {};                 ///< keep-mask broadcastable to (B, N, T, S): nonzero = may attend; undefined = none
  Tensor bias = {};                 ///< additive score bias broadcastable to (B, N, T, S) (float; -inf blocks); differentiable
  bool causal = false;          ///< also block j > i (top-left aligned when T != S)
  double dropout = 0.0;         ///< inverted dropout rate on the weights, applied only when `training`
  bool training = false;        ///< whether dropout is active
  Generator* generator = nullptr;  ///< source of the dropout mask (required when dropout is active)
  bool return_scores = false;   ///< also return the softmax weights (before dropout)
  bool scores_after_dropout = false;  ///< return the weights after dropout instead (Keras Attention, Ivy, Flux)
};

/// What attention() returns.
struct AttentionResult {
  Tensor output = {};  ///< (B, T, N, Dv): per-head context vectors, in projection layout
  Tensor scores = {};  ///< (B, N, T, S) softmax weights (before dropout unless scores_after_dropout); undefined unless return_scores
};

/// Multi-head attention core in projection layout: q (B, T, N, Dk), k (B, S, N, Dk), v (B, S, N, Dv)
/// (the layout a projection produces, so no transposes are needed). Fully blocked rows give zero
/// weights and zero output, never NaN; a NaN among a row's unblocked scores makes that row's weights and
/// output NaN, and a NaN at a blocked position is ignored. Differentiable in q, k, v and bias (output and
/// scores). Throws ShapeError when q, k, v disagree or a mask/bias does not broadcast to (B, N, T, S), TypeError on dtypes,
/// ValueError for dropout outside [0, 1] or active dropout without a generator.
AttentionResult attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options = {});

}  // namespace xgrad
