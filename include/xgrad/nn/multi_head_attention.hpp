#pragma once
// Keras 3's MultiHeadAttention (docs/attention.md): einsum-dense projections laid out as Keras stores them, the fused
// attention core per (batch-like position, head), attention over any set of axes of N-D inputs.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "xgrad/nn/attention.hpp"
#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/regularizers.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::nn {

/// Keras MultiHeadAttention's constructor arguments (sliding_window, use_gate, flash_attention are out of scope).
struct MultiHeadAttentionOptions {
  std::int64_t num_heads = 0;                        ///< heads N (> 0)
  std::int64_t key_dim = 0;                          ///< per-head query/key width Hk (> 0)
  std::optional<std::int64_t> value_dim = {};             ///< per-head value width Hv (> 0); unset: key_dim
  double dropout = 0.0;                              ///< dropout rate on the attention probabilities, in [0, 1]
  bool use_bias = true;                              ///< whether the four projections have biases
  std::optional<Shape> output_shape = {};                 ///< trailing output axes O (positive); unset: query's last dim
  std::optional<std::vector<std::int64_t>> attention_axes = {};  ///< axes attended over; unset: all but batch and features
  std::optional<Initializer> kernel_initializer = {};  ///< Keras name or callable; unset: glorot-uniform, fans = contracted / produced axes
  std::optional<Initializer> bias_initializer = {};    ///< Keras name or callable; unset: zeros
  Regularizer kernel_regularizer = {};                 ///< penalty on each kernel
  Regularizer bias_regularizer = {};                   ///< penalty on each bias
  Regularizer activity_regularizer = {};               ///< penalty on the output, divided by the batch size
  Constraint kernel_constraint = {};                   ///< projection of each kernel in apply_constraints()
  Constraint bias_constraint = {};                     ///< projection of each bias
  DType dtype = DType::float32;                      ///< dtype of the weights (and of accepted inputs)
  std::optional<std::uint64_t> seed = {};            ///< seed of the initializers and of dropout (default: next_seed())
};

/// The projected keys and values of the positions a MultiHeadAttention has already seen, for incremental
/// decoding: pass the same cache on every call and each call attends over the cached positions plus its own,
/// projecting only the new ones. One cache per attention layer; clear() (or a fresh cache) starts a new sequence.
/// Holds whatever graph built it: decode under a NoGradGuard.
struct KVCache {
  Tensor key = {};    ///< projected keys (B, S, N, Hk) of the S cached positions; undefined when empty
  Tensor value = {};  ///< projected values (B, S, N, Hv)
  /// Number of cached positions S (the absolute position of the next query).
  std::int64_t length() const { return key.defined() ? key.size(1) : 0; }
  /// Forgets every position.
  void clear() { key = {}, value = {}; }
};

/// MultiHeadAttention's call arguments besides query and value. Masks: nonzero = may attend, any dtype.
struct MultiHeadAttentionCall {
  Tensor key = {};                  ///< undefined: the value is the key (one tensor, gradients accumulate)
  Tensor attention_mask = {};       ///< broadcast to the scores after inserting axes before the query axes (§3.5)
  Tensor query_mask = {};           ///< query.shape[:-1]: padded queries attend nothing (output row = output bias)
  Tensor value_mask = {};           ///< value.shape[:-1]: padded keys get no weight
  Tensor key_mask = {};             ///< key.shape[:-1]: same as value_mask, ANDed with it
  bool return_attention_scores = false;  ///< also return the probabilities, before dropout
  std::optional<bool> training = {};          ///< dropout active; unset: the module's training mode
  bool use_causal_mask = false;          ///< query t attends only keys s <= t (one attention axis only)
  /// Incremental decoding (rank-3 inputs (B, T, d), default attention axes, no masks besides causal): the
  /// new keys/values are appended to the cache and the T queries, at absolute positions past … past+T-1
  /// (past = cache->length() before the call), attend over all past + T positions (causal: keys <= their own).
  KVCache* cache = nullptr;
};

/// Keras MultiHeadAttention. Weights (built on the first call, or by build()), in get/set order:
/// `query.kernel` (dq, N, Hk), `query.bias` (N, Hk), `key.kernel` (dk, N, Hk), `key.bias` (N, Hk),
/// `value.kernel` (dv, N, Hv), `value.bias` (N, Hv), `attention_output.kernel` (N, Hv, *O),
/// `attention_output.bias` O — Keras's `query/kernel` etc.; biases only with use_bias.
class MultiHeadAttention : public Module {
 public:
  /// A layer with `options`; throws ValueError naming the argument when one is out of range.
  explicit MultiHeadAttention(MultiHeadAttentionOptions options);
  /// MultiHeadAttention({.num_heads = num_heads, .key_dim = key_dim}).
  MultiHeadAttention(std::int64_t num_heads, std::int64_t key_dim);

  /// Attends from `query` (B, ..., dq) over `value` (B, ..., dv): output query.shape[:-1] + O; scores in the
  /// layout of docs/attention.md ((B, N, T, S) for rank-3 inputs), before dropout. Throws ShapeError naming the shapes
  /// when inputs, masks or built weights disagree, ValueError on bad attention_axes or causal over several axes.
  AttentionOutputs forward(const Tensor& query, const Tensor& value, const MultiHeadAttentionCall& call = {});
  /// Same as forward().
  AttentionOutputs operator()(const Tensor& query, const Tensor& value, const MultiHeadAttentionCall& call = {}) {
    return forward(query, value, call);
  }

  /// Creates the weights for inputs of these shapes (what the first call does); throws ShapeError when
  /// already built for other feature sizes.
  void build(const Shape& query_shape, const Shape& value_shape, const Shape& key_shape);
  /// Whether the weights exist.
  bool built() const override { return built_; }
  /// The weights in Keras's order (8 with biases, 4 without); empty before build.
  std::vector<Tensor> get_weights() const;
  /// Copies `weights` (Keras order and shapes) into the built weights; throws ShapeError/ValueError on a mismatch.
  void set_weights(const std::vector<Tensor>& weights);
  /// Restarts the dropout generator from `seed` (same seed, same masks).
  void reseed(std::uint64_t seed) { dropout_gen_.seed(seed); }
  /// The generator the attention-weight dropout draws from (for gradient_checkpoint's replay).
  Generator& dropout_generator() { return dropout_gen_; }
  /// The options the layer was made with.
  const MultiHeadAttentionOptions& options() const { return options_; }

 protected:
  /// Kernel and bias penalties of the four projections.
  Tensor own_regularization_loss() const override;
  /// Projects kernels and biases onto their constraints.
  void apply_own_constraints() override;
  /// Heads, widths and (unbuilt), for summary().
  std::string describe() const override;
  /// The ways to build the weights before a call, for the error of an unbuilt model.
  std::string build_hint() const override;
  /// build() from the `query.kernel`, `key.kernel` and `value.kernel` shapes (d, N, H).
  void build_own_from_shapes(const std::function<const Shape*(const std::string&)>& shape_of) override;

 private:
  MultiHeadAttentionOptions options_;
  Generator init_gen_;
  Generator dropout_gen_;
  bool built_ = false;
  std::int64_t dq_ = 0, dk_ = 0, dv_ = 0;
  Module query_{"EinsumDense"}, key_{"EinsumDense"}, value_{"EinsumDense"}, output_{"EinsumDense"};
  std::array<Tensor, 4> kernels_;  // query, key, value, attention_output
  std::array<Tensor, 4> biases_;   // same order; undefined without use_bias
};

}  // namespace xgrad::nn
