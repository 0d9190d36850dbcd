#pragma once
// Keras's Attention layer (Luong dot-product or Bahdanau-like concat scores, docs/attention.md) and the result type
// shared by the attention layers.
#include <cstdint>
#include <optional>
#include <string>

#include "xgrad/nn/module.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::nn {

/// What an attention layer returns: the output and, when asked for, the attention scores.
struct AttentionOutputs {
  Tensor output = {};  ///< the layer's output
  Tensor scores = {};  ///< attention weights; undefined unless return_attention_scores
  /// Keras's output mask (what it propagates to the next layer): the call's query_mask, as given;
  /// undefined without one. Pass it on as the next masked layer's query/value mask.
  Tensor mask = {};
};

/// Keras Attention's constructor arguments.
struct AttentionLayerOptions {
  bool use_scale = false;           ///< learn a scalar `scale` (initialised to 1) for the scores
  std::string score_mode = "dot";   ///< "dot" (q·k) or "concat" (c·Σ tanh(q + k))
  double dropout = 0.0;             ///< rate of dropout on the attention weights, in [0, 1]
  DType dtype = DType::float32;     ///< dtype of the scalar weights (and of accepted inputs)
  std::optional<std::uint64_t> seed = {};  ///< seed of the dropout generator (default: next_seed())
};

/// Keras Attention's call arguments besides query and value. Masks: nonzero = keep, any dtype.
struct AttentionCall {
  Tensor key = {};                          ///< (*batch, Tv, d); undefined: the value is the key
  Tensor query_mask = {};                   ///< (*batch, Tq): zeroes the output rows of padded queries
  Tensor value_mask = {};                   ///< (*batch, Tv): padded keys get no weight
  bool return_attention_scores = false;  ///< also return the weights (*batch, Tq, Tv), after dropout
  std::optional<bool> training = {};        ///< dropout active; unset: the module's training mode
  bool use_causal_mask = false;        ///< query i attends only keys j <= i (top-left aligned)
};

/// Keras Attention: out = softmax(scores(query, key)) · value over the last two axes, every leading axis a
/// batch axis. No 1/√d factor. Weights: `scale` (if use_scale) and `concat_score_weight` (if score_mode is
/// "concat"), scalars initialised to 1. A fully masked row gives zero weights (xgrad rule).
class Attention : public Module {
 public:
  /// A layer with `options`; throws ValueError on an unknown score_mode or dropout outside [0, 1].
  explicit Attention(AttentionLayerOptions options = {});
  /// Attends from `query` (*batch, Tq, d) over `value` (*batch, Tv, dv) (keyed by call.key, default value):
  /// output (*batch, Tq, dv). Throws ShapeError naming the shapes when they or the masks disagree.
  AttentionOutputs forward(const Tensor& query, const Tensor& value, const AttentionCall& call = {});
  /// Same as forward().
  AttentionOutputs operator()(const Tensor& query, const Tensor& value, const AttentionCall& call = {}) {
    return forward(query, value, call);
  }
  /// Restarts the dropout generator from `seed` (same seed, same masks).
  void reseed(std::uint64_t seed) { gen_.seed(seed); }
  /// The learnable scale (undefined unless use_scale).
  const Tensor& scale() const { return scale_; }
  /// The learnable concat score weight (undefined unless score_mode is "concat").
  const Tensor& concat_score_weight() const { return concat_score_weight_; }
  /// The options the layer was made with.
  const AttentionLayerOptions& options() const { return options_; }

 protected:
  /// score_mode, use_scale and dropout, for summary().
  std::string describe() const override;

 private:
  AttentionLayerOptions options_;
  Generator gen_;
  Tensor scale_;
  Tensor concat_score_weight_;
};

}  // namespace xgrad::nn
