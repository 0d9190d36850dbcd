#pragma once
// The fused nn ops composed from primitive ops, for backends that leave the fused tables out
// (Backend::nn() or attention() null). Each follows its fused kernel's rules exactly (masked rows,
// NaN propagation, empty axes), and the tape differentiates it like any composition.
#include <cstdint>

#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::detail {

/// softmax (or log_softmax with `log`) along a normalised `axis` from max, exp, sum and where: a slice
/// that is entirely -inf gives zeros, a NaN anywhere in a slice makes the slice NaN.
Tensor composed_softmax(const Tensor& a, std::int64_t axis, bool log);

/// (a - mean) / sqrt(var + epsilon) * weight + bias over the last axis, biased variance; weight and bias
/// may be undefined.
Tensor composed_layer_norm(const Tensor& a, const Tensor& weight, const Tensor& bias, double epsilon);

/// mean((a - b)^2).
Tensor composed_mse(const Tensor& a, const Tensor& b);

/// Rows of `weight` picked by `indices`: index_select along axis 0, reshaped to indices.shape + (dim,).
Tensor composed_embedding(const Tensor& indices, const Tensor& weight);

/// cross_entropy from a composed log-sum-exp and the target logits picked with a one-hot where: per row
/// (1 - ls)(lse - x_t) + ls (lse - mean(x)), 0 on ignored rows, then summed, averaged over the counted rows
/// (0 when none is counted) or kept per target, as `options` say. Targets are validated like the fused op's.
Tensor composed_cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options);

/// The attention core from permutes, batched matmuls, where and composed_softmax, with the fused core's
/// blocking rules; `dropout_mask` (B, N, T, S) scales the weights when defined.
AttentionResult composed_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o,
                                   const Tensor& dropout_mask);

}  // namespace xgrad::detail
