#pragma once
// The Tiny LM: a decoder-only, pre-LayerNorm Transformer over characters, composed from xgrad's
// layers and the fused attention core (nn::TransformerBlock can replace Block once it exists).
#include <cstdint>

#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/layer_norm.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/tensor/generator.hpp"

namespace char_lm {

/// The model's shape; the defaults are the Tiny LM raced against LibTorch (421,697 parameters).
struct ModelConfig {
  std::int64_t vocab = 65, context = 64, d_model = 128, heads = 4, layers = 2, d_ff = 512;
  double dropout = 0.0;  ///< on attention weights and on each residual branch, in training only
  std::uint64_t seed = 0;
};

/// x + attn(LN(x)), then x + MLP(LN(x)) with a GELU MLP of width d_ff; causal self-attention.
class Block : public xgrad::nn::Module {
 public:
  /// A block of `c.d_model` features; weights drawn from seeds derived from `c.seed` and `index`.
  Block(const ModelConfig& c, std::int64_t index);
  /// x (B, T, d_model) -> (B, T, d_model); `gen` draws the dropout masks.
  xgrad::Tensor forward(const xgrad::Tensor& x, xgrad::Generator& gen);

 private:
  ModelConfig c_;
  xgrad::nn::LayerNorm ln1_, ln2_;
  xgrad::nn::Dense query_, key_, value_, out_, fc1_, fc2_;
};

/// Token + learned position embeddings, `layers` Blocks, a final LayerNorm and the vocabulary head.
class TinyLM : public xgrad::nn::Module {
 public:
  /// The model of `c`, built now (every parameter exists after construction).
  explicit TinyLM(const ModelConfig& c);
  /// ids (B, T) int64 with T <= context -> logits (B, T, vocab). Throws xgrad::ShapeError naming
  /// the shape when ids is not 2-D or T exceeds the context.
  xgrad::Tensor forward(const xgrad::Tensor& ids);
  /// The configuration.
  const ModelConfig& config() const { return c_; }
  /// Reseeds the dropout generator (resuming a run).
  void seed_dropout(std::uint64_t seed) { dropout_gen_.seed(seed); }

 private:
  ModelConfig c_;
  xgrad::nn::Embedding tok_;
  xgrad::Tensor pos_;
  std::vector<std::unique_ptr<Block>> blocks_;
  xgrad::nn::LayerNorm ln_f_;
  xgrad::nn::Dense head_;
  xgrad::Generator dropout_gen_;
};

}  // namespace char_lm
