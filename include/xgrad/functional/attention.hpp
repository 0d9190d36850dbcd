#pragma once
// The functional multi-head attention of Ivy (`multi_head_attention`) and PyTorch
// (`multi_head_attention_forward`), docs/attention.md, built on the shared core xgrad::attention().
// Masks keep PyTorch's polarity: an int64 mask is boolean with nonzero = blocked, a float mask is
// added to the logits (-inf blocks). Fully blocked rows give zero weights, never NaN (docs/attention.md,
// "The masked softmax").
#include <cstdint>
#include <optional>

#include "xgrad/tensor/generator.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::functional {

/// Everything multi_head_attention() takes besides query, key and value; undefined tensors are absent.
struct MultiHeadAttentionOptions {
  std::int64_t num_heads = 8;          ///< heads; must divide the projected width E (Ivy default 8)
  bool batch_first = true;             ///< (N, L, E) inputs and output; false: (L, N, E) (PyTorch's layout)
  std::optional<double> scale;         ///< multiplies q·kᵀ; default 1/√(E / num_heads); 0 is used as given
  Tensor in_proj_weights;              ///< packed (3E, E'): rows [0,E) query, [E,2E) key, [2E,3E) value
  Tensor q_proj_weights;               ///< (E, Q) query projection, used when in_proj_weights is absent
  Tensor k_proj_weights;               ///< (E, K) key projection (with q_ and v_: all three or none)
  Tensor v_proj_weights;               ///< (E, V) value projection
  Tensor in_proj_bias;                 ///< (3E,) split in thirds in query, key, value order
  Tensor out_proj_weights;             ///< (O, E) output projection; absent: the output is the concatenated heads
  Tensor out_proj_bias;                ///< (O,) output bias (needs out_proj_weights)
  Tensor attention_mask;               ///< (L, S) or (N·num_heads, L, S); int64: nonzero = blocked; float: added
  Tensor key_padding_mask;             ///< (N, S), unbatched (S,); int64: nonzero = ignore that key; float: added
  bool is_causal = false;              ///< block key s > query t; attention_mask is then ignored (Ivy's meaning)
  Tensor bias_k;                       ///< (E,) or (1, 1, E): one key position appended after projection
  Tensor bias_v;                       ///< (E,) or (1, 1, E): one value position appended (with bias_k)
  bool add_zero_attn = false;          ///< append one all-zero key and value per batch and head
  Tensor static_k;                     ///< (N·num_heads, S', E/num_heads): replaces the projected, split keys
  Tensor static_v;                     ///< (N·num_heads, S', E/num_heads): replaces the projected, split values
  bool return_attention_weights = false;   ///< also return the attention weights (after dropout)
  bool average_attention_weights = true;   ///< weights averaged over heads (N, L, S) instead of (N, heads, L, S)
  double dropout = 0.0;                ///< dropout rate on the attention weights, active only when `training`
  bool training = false;               ///< whether dropout is applied
  Generator* generator = nullptr;      ///< dropout's random source; takes precedence over `seed`
  std::optional<std::uint64_t> seed;   ///< without a generator: dropout draws from Generator(seed) made per call
};

/// What multi_head_attention() returns.
struct MultiHeadAttentionResult {
  Tensor output;             ///< (N, L, O), (L, N, O) when not batch_first, (L, O) unbatched
  Tensor attention_weights;  ///< (N, L, S_f) averaged or (N, heads, L, S_f); undefined unless requested
};

/// Multi-head attention in the Ivy/PyTorch functional form. Argument order is query, key, value; key and
/// value both undefined means self-attention (both must be given or neither). Differentiable in the
/// inputs, every weight and bias, static_k/static_v and float masks. Throws ShapeError naming the argument
/// and shapes for every mismatch (docs/attention.md lists them), ValueError for bad settings.
MultiHeadAttentionResult multi_head_attention(const Tensor& query, const Tensor& key = {}, const Tensor& value = {},
                                              const MultiHeadAttentionOptions& options = {});

}  // namespace xgrad::functional
