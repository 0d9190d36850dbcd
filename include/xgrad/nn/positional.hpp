#pragma once
// Absolute position information added to token embeddings: a learned table (GPT-2's `wpe`) or the fixed
// sinusoids of "Attention is all you need" (Vaswani et al. 2017, §3.5).
#include <cstdint>
#include <optional>

#include "xgrad/nn/module.hpp"

namespace xgrad::nn {

/// Learned positions: parameter `embeddings` (max_len, d_model), drawn N(0, 0.02²) like GPT-2.
/// forward(x (B, T, d_model), offset) = x + embeddings[offset : offset + T].
class PositionalEmbedding : public Layer {
 public:
  /// A table for positions 0 … max_len-1; throws ValueError unless both sizes are positive.
  PositionalEmbedding(std::int64_t max_len, std::int64_t d_model, DType dtype = DType::float32,
                      std::optional<std::uint64_t> seed = {});
  /// forward(x, 0).
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  /// x + rows offset … offset+T-1 of the table (the positions of a chunk that starts at `offset`). Throws
  /// ShapeError naming x's shape, offset and max_len when x is not (B, T, d_model) or offset + T > max_len.
  Tensor forward(const Tensor& x, std::int64_t offset);
  using Layer::operator();
  /// Same as forward(x, offset).
  Tensor operator()(const Tensor& x, std::int64_t offset) { return forward(x, offset); }
  /// The (max_len, d_model) table.
  const Tensor& embeddings() const { return embeddings_; }

 protected:
  /// max_len and d_model, for summary().
  std::string describe() const override;

 private:
  Tensor embeddings_;
};

/// Fixed sinusoids, buffer `encodings` (max_len, d_model): PE[p, 2i] = sin(p / 10000^(2i/d_model)),
/// PE[p, 2i+1] = cos(p / 10000^(2i/d_model)). forward(x, offset) = x + encodings[offset : offset + T].
class SinusoidalPositionalEncoding : public Layer {
 public:
  /// Encodings for positions 0 … max_len-1; throws ValueError unless both sizes are positive.
  SinusoidalPositionalEncoding(std::int64_t max_len, std::int64_t d_model, DType dtype = DType::float32);
  /// forward(x, 0).
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  /// x + rows offset … offset+T-1; the same ShapeErrors as PositionalEmbedding::forward.
  Tensor forward(const Tensor& x, std::int64_t offset);
  using Layer::operator();
  /// Same as forward(x, offset).
  Tensor operator()(const Tensor& x, std::int64_t offset) { return forward(x, offset); }
  /// The (max_len, d_model) table.
  const Tensor& encodings() const { return encodings_; }

 protected:
  /// max_len and d_model, for summary().
  std::string describe() const override;

 private:
  Tensor encodings_;
};

}  // namespace xgrad::nn
