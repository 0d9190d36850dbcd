#pragma once
// Mixed precision in the manner of Keras's mixed_bfloat16 policy and PyTorch's autocast: inside a
// PrecisionScope(ProductPrecision::bfloat16), float32 matrix products (matmul, linear and the layers built
// on them: Dense, the attention projections, the batched per-head products of matmul) round their operands
// to bfloat16 and accumulate in float32 into a float32 result. Everything else stays float32: parameters,
// gradients, optimizer state, softmax, layer norm, losses and reductions. float64 products are never
// affected, so gradcheck under the scope still checks exact float64 arithmetic.

namespace xgrad {

/// How float32 matrix products compute.
enum class ProductPrecision {
  float32,   ///< float32 operands, float32 accumulation (the default)
  bfloat16,  ///< operands rounded to bfloat16 (nearest even), float32 accumulation and result
};

/// The product precision of this thread: float32 unless a PrecisionScope says otherwise.
ProductPrecision product_precision();

/// RAII: sets this thread's product precision for its lifetime and restores the previous one after (nestable).
/// A product's backward uses the precision its forward ran with, wherever backward() is called.
class PrecisionScope {
 public:
  /// Products on this thread compute in `precision` until the scope ends.
  explicit PrecisionScope(ProductPrecision precision);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  ProductPrecision previous_;
};

/// Whether the CPU backend computes bfloat16 products natively: built with oneDNN (XGRAD_ONEDNN) and run on a
/// CPU with AVX512-BF16. Without them, bfloat16 products compute in float32, and the first one prints a line
/// on stderr saying so.
bool bf16_products_supported();

}  // namespace xgrad
