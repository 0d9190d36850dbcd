#pragma once
// MultiHeadAttention's attention_axes bookkeeping and mask combination (docs/attention.md). Projected tensors
// (B, a1 … a_{R-2}, N, H) are brought to the core's (B', T', N, H) layout by one permutation — batch-like axes
// first, then the attention axes — that is the identity (no copy) for the default axes.
#include <optional>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn::detail {

/// Where every axis goes for one query/key pair of input shapes.
struct AttentionLayout {
  std::vector<std::int64_t> axes;        ///< attention axes (input indices, in the order given)
  std::vector<std::int64_t> batch_like;  ///< the other non-feature axes, increasing (head axis excluded)
  std::vector<std::int64_t> order;       ///< batch_like then axes: the permutation to core layout (of input axes)
  bool identity = true;                  ///< order is 0, 1, …, R-2: no permutation needed
  Shape batch_sizes, query_sizes, key_sizes;  ///< extents of batch_like, query and key attention axes
  std::int64_t Bp = 1, Tp = 1, Sp = 1;   ///< flattened extents seen by the core
  Shape score_shape;                     ///< batch_sizes + (N,) + query_sizes + key_sizes
};

/// Resolves `axes` (unset: 1 … R-2; negative: + R) for inputs of rank R; throws ValueError naming the axes and
/// rank when one lies outside [1, R-2] or repeats.
std::vector<std::int64_t> resolve_attention_axes(const std::optional<std::vector<std::int64_t>>& axes,
                                                 std::int64_t rank);

/// The layout for query (B, …, dq) and key (B, …, dk) shapes with `heads` heads; throws ShapeError naming both
/// shapes when their batch-like axes differ.
AttentionLayout attention_layout(const std::vector<std::int64_t>& axes, const Shape& query, const Shape& key,
                                 std::int64_t heads);

/// A projection (B, …, N, H) in core layout (B', T', N, H) (`of_query` picks T' or S').
Tensor to_core(const Tensor& projected, const AttentionLayout& layout, bool of_query);
/// The core's output (B', T', N, H) back in projected-query layout (B, …, N, H).
Tensor from_core(const Tensor& core, const AttentionLayout& layout);

/// The masks a call passes, before combination.
struct MaskInputs {
  Tensor attention_mask, query_mask, value_mask, key_mask;
};

/// The AND of every present mask as a keep-mask for the core, broadcastable to (B', N, T', S'); undefined when
/// there is none. Throws ShapeError naming the mask and the scores (or the input) when a mask does not fit.
Tensor combined_mask(const MaskInputs& masks, const AttentionLayout& layout, const Shape& query, const Shape& value,
                     const Shape& key, DType dtype);

}  // namespace xgrad::nn::detail
