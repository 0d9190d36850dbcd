#pragma once
// Kernel table of the linalg op family (see backend.hpp).
#include <cstdint>

#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// One batched row-major GEMM: C_i = alpha * op(A_i) op(B_i) + beta * C_i for i < batch, where
/// op(X) is X or its transpose. Every matrix is contiguous; A_i starts `a_offsets[i]` elements past
/// `a` (all at `a` when the offsets are null), likewise B_i and C_i.
struct GemmArgs {
  DType dtype = DType::float32;  ///< float32 or float64
  bool trans_a = false;          ///< op(A) = Aᵀ: A_i is stored (k, m) instead of (m, k)
  bool trans_b = false;          ///< op(B) = Bᵀ: B_i is stored (n, k) instead of (k, n)
  std::int64_t m = 0;            ///< rows of op(A) and C
  std::int64_t n = 0;            ///< columns of op(B) and C
  std::int64_t k = 0;            ///< columns of op(A), rows of op(B)
  double alpha = 1.0;            ///< scale of the product
  double beta = 0.0;             ///< scale of the old C (1 accumulates)
  const void* a = nullptr;       ///< device pointer to the first A
  const void* b = nullptr;       ///< device pointer to the first B
  void* c = nullptr;             ///< device pointer to the first C
  std::int64_t batch = 1;        ///< number of products
  const std::int64_t* a_offsets = nullptr;  ///< host array of `batch` element offsets, or null
  const std::int64_t* b_offsets = nullptr;  ///< host array of `batch` element offsets, or null
  /// Host array of `batch` element offsets, or null. Entries may repeat (a broadcast operand's
  /// gradient sums over batches with beta = 1): such products must then run one after another.
  const std::int64_t* c_offsets = nullptr;
  /// float32 only: round A and B to bfloat16 and accumulate in float32 (ops/precision.hpp). A backend
  /// without bfloat16 products computes in float32.
  bool bf16_operands = false;
  /// Device pointer to n values added to every row of C: C = alpha·op(A)·op(B) + beta·C + bias. Only for
  /// one product (batch 1), and only where LinalgKernels::adds_bias() says so; null otherwise.
  const void* bias = nullptr;
};

/// Device kernels behind the linalg ops.
class LinalgKernels {
 public:
  virtual ~LinalgKernels() = default;
  /// Runs the batched GEMM described by `args`.
  virtual void gemm(const GemmArgs& args) const = 0;
  /// Whether gemm() adds GemmArgs::bias. Where it does not, linear broadcasts the bias into C itself and
  /// adds the product with beta = 1.
  virtual bool adds_bias() const { return false; }
};

}  // namespace xgrad
