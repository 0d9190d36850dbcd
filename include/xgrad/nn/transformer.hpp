#pragma once
// GPT-2-style decoder-only Transformer: the pre-LayerNorm block and a small language model around it, with
// a key/value cache for incremental decoding.
//
//   nn::TransformerLM lm({.vocab_size = 65, .context_length = 64, .d_model = 128, .num_heads = 4,
//                         .num_layers = 2});
//   Tensor logits = lm(ids);                        // ids (B, T) int64 -> (B, T, vocab) logits
//   Tensor loss = cross_entropy(reshape(logits, {-1, 65}), reshape(targets, {-1}));
//   Generator gen(0);
//   Tensor text = lm.generate(prompt, 200, 0.8, gen);  // (B, T0) -> (B, T0 + 200), cached decoding
#include <cstdint>
#include <optional>
#include <memory>
#include <vector>

#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/layer_norm.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/multi_head_attention.hpp"
#include "xgrad/nn/positional.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::nn {

/// TransformerBlock's settings.
struct TransformerBlockOptions {
  std::int64_t d_model = 0;           ///< width of the residual stream (> 0, a multiple of num_heads)
  std::int64_t num_heads = 0;         ///< attention heads (> 0); each has key_dim d_model / num_heads
  std::int64_t mlp_ratio = 4;         ///< the MLP's hidden width is mlp_ratio * d_model
  double dropout = 0.0;               ///< rate of the attention-probability and both residual dropouts
  double layer_norm_epsilon = 1e-5;   ///< LayerNorm epsilon: torch's and GPT-2's 1e-5, not nn::LayerNorm's Keras 1e-3
  DType dtype = DType::float32;       ///< dtype of the weights (and of accepted inputs)
  std::optional<std::uint64_t> seed = {};  ///< seed of the initializers and dropout masks (default: next_seed())
  /// Keep only the MLP's pre-activation for the backward and compute its GELU once more there
  /// (activated_linear): mlp_ratio·d_model fewer numbers per token held from forward to backward, the same
  /// values and gradients. Off by default: at small sizes the extra GELU pass costs a few percent of the step.
  bool recompute_mlp_activation = false;
  /// Gradient checkpointing: a training forward keeps only the block's input, and the backward runs the block
  /// again (gradient_checkpoint) before differentiating it. What the block holds from forward to backward drops
  /// from about 14·d_model numbers per token at mlp_ratio 4 (plus dropout masks) to the d_model of its input,
  /// for one more forward pass of the block per step; the same values and gradients. Off by default.
  bool gradient_checkpointing = false;
};

/// GPT-2's pre-LayerNorm decoder block on x (B, T, d):
///   x = x + dropout(attn(ln1(x)))            (causal self-attention, biases on every projection)
///   x = x + dropout(mlp_out(gelu(mlp_in(ln2(x)))))   (d -> mlp_ratio*d -> d, GELU's tanh form like GPT-2)
/// Sub-modules: `ln1`, `attn`, `attn_dropout`, `ln2`, `mlp_in`, `mlp_out`, `mlp_dropout`; every weight exists
/// from construction. Same parameter count as torch's nn.LayerNorm + nn.Linear defaults. With
/// `recompute_mlp_activation`, forward() runs the MLP as linear() with mlp_in's weights, then activated_linear()
/// with GELU and mlp_out's weights; `mlp_in(z)` called alone still applies its GELU. With
/// `gradient_checkpointing`, a forward that records (and has no cache) runs through gradient_checkpoint.
class TransformerBlock : public Module {
 public:
  /// A block with `options`; throws ValueError for sizes that are not positive or heads not dividing d_model.
  explicit TransformerBlock(TransformerBlockOptions options);
  /// The block applied to x (B, T, d_model). With `cache` (one per block) the T rows are the positions after
  /// the cache->length() already seen: they attend over those too, and the cache grows by T rows.
  Tensor forward(const Tensor& x, KVCache* cache = nullptr);
  /// Same as forward().
  Tensor operator()(const Tensor& x, KVCache* cache = nullptr) { return forward(x, cache); }
  /// Restarts every dropout generator from `seed` (same seed, same masks: for gradcheck and replays).
  void reseed(std::uint64_t seed);
  /// The options the block was made with.
  const TransformerBlockOptions& options() const { return options_; }

  LayerNorm ln1;           ///< before attention
  MultiHeadAttention attn; ///< causal self-attention, key_dim = d_model / num_heads
  Dropout attn_dropout;    ///< on the attention output, before the residual add
  LayerNorm ln2;           ///< before the MLP
  Dense mlp_in;            ///< d -> mlp_ratio*d, GELU (tanh approximation)
  Dense mlp_out;           ///< mlp_ratio*d -> d
  Dropout mlp_dropout;     ///< on the MLP output, before the residual add

 private:
  // The block's layers on x, recorded as they run.
  Tensor layers_forward(const Tensor& x, KVCache* cache);

  TransformerBlockOptions options_;
};

/// One KVCache per layer of a TransformerLM: pass the same object to successive forward() calls to decode
/// incrementally. Holds whatever graph built it: decode under a NoGradGuard (generate() does).
struct TransformerCache {
  std::vector<KVCache> layers;  ///< one per block (sized by the first forward)
  /// Positions cached so far (the absolute position of the next token).
  std::int64_t length() const { return layers.empty() ? 0 : layers.front().length(); }
  /// Forgets every position.
  void clear() { layers.clear(); }
};

/// TransformerLM's settings.
struct TransformerLMOptions {
  std::int64_t vocab_size = 0;        ///< token ids lie in [0, vocab_size)
  std::int64_t context_length = 0;    ///< largest number of positions (learned position table size)
  std::int64_t d_model = 0;           ///< width of the residual stream
  std::int64_t num_heads = 0;         ///< attention heads per block
  std::int64_t num_layers = 0;        ///< number of blocks
  std::int64_t mlp_ratio = 4;         ///< MLP width factor of each block
  double dropout = 0.0;               ///< rate of the embedding dropout and of every block's dropouts
  double layer_norm_epsilon = 1e-5;   ///< every LayerNorm's epsilon (1e-5 as in GPT-2; nn::LayerNorm alone: 1e-3)
  DType dtype = DType::float32;       ///< dtype of the weights
  std::optional<std::uint64_t> seed = {};  ///< seed of every initializer and dropout (default: next_seed())
  bool recompute_mlp_activation = false;   ///< every block's TransformerBlockOptions::recompute_mlp_activation
  /// TransformerBlockOptions::gradient_checkpointing of every block but the last: the backward starts with the
  /// last one, so recomputing it would cost a forward pass and lower no peak.
  bool gradient_checkpointing = false;
};

/// A GPT-2-shaped language model: token Embedding (vocab, d) + learned positions (context, d) + dropout,
/// num_layers TransformerBlocks, a final LayerNorm and a Dense(d, vocab) head with bias (untied).
/// Sub-modules: `token_embedding`, `position_embedding`, `dropout`, `blocks` (`blocks.0` …), `ln_f`, `head`.
class TransformerLM : public Module {
 public:
  /// A model with `options`; throws ValueError for sizes that are not positive.
  explicit TransformerLM(TransformerLMOptions options);
  /// Logits (B, T, vocab) for ids (B, T) int64. With `cache` the ids are the positions after the
  /// cache->length() already seen (the position offset) and the cache grows by T. Throws ShapeError when ids
  /// is not 2-D or positions pass context_length, IndexError for ids outside the vocabulary.
  Tensor forward(const Tensor& ids, TransformerCache* cache = nullptr);
  /// Same as forward().
  Tensor operator()(const Tensor& ids, TransformerCache* cache = nullptr) { return forward(ids, cache); }
  /// Appends `n_new` tokens to `prompt` (B, T0) int64, each drawn from softmax(logits / temperature) of the
  /// last position (argmax when temperature == 0), and returns (B, T0 + n_new). Runs in eval mode without
  /// recording (the training mode is restored). With `use_cache`, each new token costs one position through
  /// the cached keys/values; without, every step recomputes the last context_length tokens. Past the context
  /// the cached path restarts from the last context_length / 2 tokens (so both agree only within it).
  /// Throws ValueError for a negative temperature or n_new, ShapeError for an empty or too long prompt.
  Tensor generate(const Tensor& prompt, std::int64_t n_new, double temperature, Generator& gen,
                  bool use_cache = true);
  /// Restarts every dropout generator from `seed`.
  void reseed(std::uint64_t seed);
  /// The options the model was made with.
  const TransformerLMOptions& options() const { return options_; }
  /// The i-th block; throws IndexError past num_layers.
  TransformerBlock& block(std::size_t i);

 private:
  TransformerLMOptions options_;

 public:
  Embedding token_embedding;              ///< (vocab, d), drawn N(0, 0.02²) like GPT-2
  PositionalEmbedding position_embedding; ///< (context, d)
  Dropout dropout;                        ///< on the summed embeddings
  Module blocks{"Blocks"};                ///< holds `0` … `num_layers-1`
  LayerNorm ln_f;                         ///< final LayerNorm
  Dense head;                             ///< d -> vocab, with bias

 private:
  std::vector<TransformerBlock*> blocks_list_;
};

}  // namespace xgrad::nn
