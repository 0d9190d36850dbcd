#pragma once
// Kernel table of the attention op family (see backend.hpp). Q, K, V and the output stay in the
// projection layout (B, T, N, D): head n of row t starts at (t * N + n) * D, so a kernel reads one
// head as a matrix with leading dimension N * D — no transposes, no copies. Scores, weights and
// dropout masks are (B, N, T, S) row-major. Pointers are device pointers of `dtype` unless stated.
#include <array>
#include <cstdint>

#include "xgrad/backend/backend.hpp"
#include "xgrad/tensor/philox.hpp"

namespace xgrad {

/// Extents of one attention call: batch, query length, key length, heads, key/query and value widths.
struct AttentionDims {
  std::int64_t B = 1;   ///< batch
  std::int64_t T = 1;   ///< query positions
  std::int64_t S = 1;   ///< key/value positions
  std::int64_t N = 1;   ///< heads
  std::int64_t Dk = 1;  ///< query/key width per head
  std::int64_t Dv = 1;  ///< value width per head
};

/// A read-only operand broadcast to the (B, N, T, S) score layout: element (b, n, t, s) lives at
/// data + b*strides[0] + n*strides[1] + t*strides[2] + s*strides[3] (0 on broadcast axes).
struct ScoreOperand {
  const void* data = nullptr;            ///< null: absent
  DType dtype = DType::float32;          ///< element type (a keep-mask may be any dtype)
  std::array<std::int64_t, 4> strides{};  ///< element strides over (B, N, T, S)
};

/// The dropout factors D (B, N, T, S) of one attention call (0 for a dropped weight, 1 / (1 - rate) for a kept
/// one): a kept mask, or drawn from a Philox stream wherever a kernel needs them (only by kernels whose
/// regenerates_dropout() is true), exactly the values RandomKernels::dropout_mask writes for that key.
struct AttentionDropout {
  const void* mask = nullptr;  ///< the kept factors in the kernel's dtype; null when drawn or without dropout
  bool drawn = false;          ///< the factors are element i = dropout_keeps(key, i, dropout_threshold(rate))
  PhiloxKey key = {};          ///< stream and first block of the draws
  double rate = 0.0;           ///< drop probability in [0, 1) of the draws
};

/// Device kernels behind the fused attention core.
class AttentionKernels {
 public:
  virtual ~AttentionKernels() = default;

  /// weights = masked_softmax(scale * Q·Kᵀ + bias) per (b, n) (blocked: mask == 0, s > t when `causal`, a -inf
  /// bias entry or a -inf logit; blocked weights are exactly 0, a row with nothing unblocked is all 0, and a
  /// row with a NaN (or +inf) among its unblocked logits is all NaN), written to
  /// `weights`; then out = (weights ⊙ D)·V with D the dropout factors (none without mask or draws). `weights`
  /// may be null when nobody needs them (inference): each (b, n) block then lives in the kernel's own workspace.
  virtual void forward(DType dtype, const AttentionDims& d, const void* q, const void* k, const void* v,
                       double scale, const ScoreOperand& bias, const ScoreOperand& mask, bool causal,
                       const AttentionDropout& dropout, void* weights, void* out) const = 0;

  /// Back-propagates one cotangent: `dout` (B, T, N, Dv) of the output and/or `dweights` (B, N, T, S) of the
  /// returned weights (taken as post-dropout when `dweights_after_dropout`), either may be null. Accumulates
  /// (+=) into dq, dk, dv when not null, writes the logits' gradient to `dlogits` when not null.
  /// `causal`, `bias`, `mask` and `dropout` must be the forward's: `causal` lets the kernel skip the blocked keys.
  /// `weights` are the forward's; they may be null only when recomputes_weights(), and then the kernel
  /// recomputes them from q, k, scale, bias and mask (q and k are then never null).
  virtual void backward(DType dtype, const AttentionDims& d, const void* q, const void* k, const void* v,
                        const void* weights, const ScoreOperand& bias, const ScoreOperand& mask,
                        const AttentionDropout& dropout, double scale, bool causal, const void* dout,
                        const void* dweights, bool dweights_after_dropout, void* dq, void* dk, void* dv,
                        void* dlogits) const = 0;

  /// Whether backward() can recompute the weights bitwise as the forward produced them, so that a recording
  /// forward need not keep its (B, N, T, S) weights for the backward: memory in T·S per call then stays in
  /// the kernel's per-thread workspace instead of growing with the batch, the heads and the layers.
  virtual bool recomputes_weights() const { return false; }

  /// Whether forward() and backward() take drawn dropout factors (AttentionDropout::drawn), so that a training
  /// forward need not keep a (B, N, T, S) mask for the backward either.
  virtual bool regenerates_dropout() const { return false; }
};

}  // namespace xgrad
