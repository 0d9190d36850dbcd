#pragma once
// Flux's `MultiHeadAttention((q_in, k_in, v_in) => (qk, v) => out; nheads, bias)` (docs/attention.md) as an xgrad
// Module on the shared attention core. Flux arrays are column-major (dim, len, batch): the same memory as
// xgrad's row-major (batch, len, dim), and its scores (kv_len, q_len, nheads, batch) are row-major
// (B, N, T, S). Masks: nonzero = attend (Flux polarity). The additive score bias is differentiable.
#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "xgrad/nn/module.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::nn {

/// The six sizes of a Flux attention layer: input widths of q, k, v; projected q/k and v widths; output width.
struct FluxAttentionDims {
  std::int64_t q_in;  ///< input width of the queries
  std::int64_t k_in;  ///< input width of the keys
  std::int64_t v_in;  ///< input width of the values
  std::int64_t qk;    ///< projected query/key width (all heads together)
  std::int64_t v;     ///< projected value width (all heads together)
  std::int64_t out;   ///< output width
  /// Flux `d`: every size equals d.
  static FluxAttentionDims same(std::int64_t d) { return {d, d, d, d, d, d}; }
  /// Flux `in => qkv => out`.
  static FluxAttentionDims of(std::int64_t in, std::int64_t qkv, std::int64_t out) {
    return {in, in, in, qkv, qkv, out};
  }
  /// Flux `in => (qk, v) => out`.
  static FluxAttentionDims of(std::int64_t in, std::pair<std::int64_t, std::int64_t> qk_v, std::int64_t out) {
    return {in, in, in, qk_v.first, qk_v.second, out};
  }
  /// Flux `(q_in, k_in, v_in) => (qk, v) => out`.
  static FluxAttentionDims of(std::array<std::int64_t, 3> in, std::pair<std::int64_t, std::int64_t> qk_v,
                              std::int64_t out) {
    return {in[0], in[1], in[2], qk_v.first, qk_v.second, out};
  }
};

/// Flux's keyword arguments.
struct FluxAttentionOptions {
  std::int64_t nheads = 8;       ///< heads; must divide qk and v
  bool bias = false;             ///< whether the four Dense projections have biases
  double dropout_prob = 0.0;     ///< dropout on the attention weights in training mode, in [0, 1]
  DType dtype = DType::float32;  ///< dtype of the weights
  std::optional<std::uint64_t> seed = {};  ///< seed of the weights and the dropout generator (default: next_seed())
};

/// What a call returns (Flux always returns both).
struct FluxAttentionResult {
  Tensor output;  ///< (B, q_len, out)
  Tensor scores;  ///< (B, nheads, q_len, kv_len) attention weights after dropout
};

/// Flux-style multi-head attention: four (out, in) Dense projections named q_proj, k_proj, v_proj, out_proj
/// (weights glorot-uniform, biases zero), scale 1/√(qk/nheads).
class FluxMultiHeadAttention : public Module {
 public:
  /// A layer of `dims`; throws ValueError when nheads does not divide qk and v, a size is not positive, or
  /// dropout_prob is outside [0, 1].
  explicit FluxMultiHeadAttention(FluxAttentionDims dims, FluxAttentionOptions options = {});
  /// Flux `MultiHeadAttention(d; ...)`: every size d.
  explicit FluxMultiHeadAttention(std::int64_t d, FluxAttentionOptions options = {})
      : FluxMultiHeadAttention(FluxAttentionDims::same(d), options) {}

  /// Attends from q (B, T, q_in) over k (B, S, k_in) / v (B, S, v_in). `bias` (float, finite or -inf,
  /// broadcastable to (B, nheads, T, S)) is added to the logits, then `mask` (same broadcasting, nonzero =
  /// attend) blocks logits. Throws ShapeError naming the shapes on any mismatch.
  FluxAttentionResult forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias = {},
                              const Tensor& mask = {});
  /// Flux `mha(q, kv)`: key and value are both kv.
  FluxAttentionResult forward(const Tensor& q, const Tensor& kv) { return forward(q, kv, kv); }
  /// Flux `mha(q)`: self-attention.
  FluxAttentionResult forward(const Tensor& q) { return forward(q, q, q); }
  /// Same as forward(q, k, v, bias, mask).
  FluxAttentionResult operator()(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias = {},
                                 const Tensor& mask = {}) {
    return forward(q, k, v, bias, mask);
  }
  /// Same as forward(q, kv).
  FluxAttentionResult operator()(const Tensor& q, const Tensor& kv) { return forward(q, kv, kv); }
  /// Same as forward(q).
  FluxAttentionResult operator()(const Tensor& q) { return forward(q, q, q); }

  /// Restarts the dropout generator from `seed` (same seed, same masks).
  void reseed(std::uint64_t seed) { generator_.seed(seed); }
  /// The sizes the layer was made with.
  const FluxAttentionDims& dims() const { return dims_; }
  /// The options the layer was made with.
  const FluxAttentionOptions& options() const { return options_; }

 protected:
  /// The dims and nheads, for summary().
  std::string describe() const override;

 private:
  /// A Flux Dense layer: y = x·Wᵀ + b with W (out, in).
  class Dense : public Module {
   public:
    Dense(std::int64_t in, std::int64_t out, bool bias, DType dtype, Generator& gen);
    Tensor forward(const Tensor& x) const;
    Tensor weight, bias;
  };

  FluxAttentionDims dims_;
  FluxAttentionOptions options_;
  Generator generator_;
  Dense q_proj_, k_proj_, v_proj_, out_proj_;
};

/// Flux `make_causal_mask(x; dims)` for row-major x: a (len, len) int64 keep-mask with m[t, s] = (s <= t),
/// len = x.shape[axis] (axis 1 of (B, len, dim) is Flux's dims=2).
Tensor flux_causal_mask(const Tensor& x, std::int64_t axis = 1);

}  // namespace xgrad::nn
