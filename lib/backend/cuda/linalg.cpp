// CUDA products through cuBLAS. cuBLAS is column-major; a row-major (r, c) matrix is the column-major (c, r)
// matrix of its transpose, so the row-major C = op(A)·op(B) runs as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ:
// B first, A second, m and n swapped, same transpose flags, same leading dimensions. float32 products keep
// full float32 precision unless XGRAD_CUDA_TF32=1 allowed TF32 tensor cores (docs/cuda.md).
#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <mutex>
#include <vector>

#include "backend/cuda/tables.hpp"

namespace xgrad::cuda {

namespace {

// One strided-batched row-major product: C_i = alpha op(A_i) op(B_i) + beta C_i for i < batch, X_i at
// x + i * stride_x elements, with row-major leading dimensions.
struct StridedGemm {
  DType dtype = DType::float32;
  bool trans_a = false, trans_b = false;
  std::int64_t m = 0, n = 0, k = 0;
  double alpha = 1.0, beta = 0.0;
  const void* a = nullptr;
  std::int64_t lda = 0, stride_a = 0;
  const void* b = nullptr;
  std::int64_t ldb = 0, stride_b = 0;
  void* c = nullptr;
  std::int64_t ldc = 0, stride_c = 0;
  std::int64_t batch = 1;
};

void strided_gemm(const Context& ctx, const StridedGemm& g);

// cuBLAS runs at most this many products in one batched call (the grid's z extent).
constexpr std::int64_t kMaxBatch = 65535;

// Whether `offsets` (host, `count` entries, or null: all 0) step by one constant; writes it to `stride`.
bool progression(const std::int64_t* offsets, std::int64_t count, std::int64_t& stride) {
  if (!offsets) return stride = 0, true;
  stride = count > 1 ? offsets[1] - offsets[0] : 0;
  for (std::int64_t i = 1; i < count; ++i)
    if (offsets[i] - offsets[i - 1] != stride) return false;
  return true;
}

class CudaLinalgKernels final : public LinalgKernels {
 public:
  explicit CudaLinalgKernels(const Context& ctx) : ctx_(ctx) {}

  void gemm(const GemmArgs& g) const override {
    if (g.m == 0 || g.n == 0 || g.batch == 0) return;
    if (g.bf16_operands) {  // the mixed-precision policy asked for bfloat16 operands: say once that it gets float32
      static std::once_flag told;
      std::call_once(told, [] {
        std::fprintf(stderr, "xgrad: bfloat16 products requested, but the cuda plugin computes them in float32\n");
      });
    }
    ctx_.activate();
    const std::size_t elem = dtype_size(g.dtype);
    auto at = [&](const void* base, const std::int64_t* offsets, std::int64_t i) {
      return static_cast<const char*>(base) + (offsets ? offsets[i] : 0) * static_cast<std::int64_t>(elem);
    };
    if (g.k == 0) {  // an empty inner dimension: C = beta C, once per product (repeated C offsets compound)
      for (std::int64_t i = 0; i < g.batch; ++i)
        scale_in_place(ctx_, g.dtype, const_cast<char*>(at(g.c, g.c_offsets, i)), g.m * g.n, g.beta);
      return;
    }
    StridedGemm s;
    s.dtype = g.dtype, s.trans_a = g.trans_a, s.trans_b = g.trans_b, s.m = g.m, s.n = g.n, s.k = g.k;
    s.alpha = g.alpha, s.beta = g.beta;
    s.lda = g.trans_a ? g.m : g.k, s.ldb = g.trans_b ? g.k : g.n, s.ldc = g.n;
    std::int64_t sa = 0, sb = 0, sc = 0;
    const bool strided = progression(g.a_offsets, g.batch, sa) && progression(g.b_offsets, g.batch, sb) &&
                         progression(g.c_offsets, g.batch, sc);
    // One batched call needs C_i that never overlap; repeated or overlapping C offsets (a broadcast operand's
    // gradient summed over batches) run one product after another on the stream instead.
    if (strided && (g.batch == 1 || sc >= g.m * g.n)) {
      s.a = at(g.a, g.a_offsets, 0), s.b = at(g.b, g.b_offsets, 0), s.c = const_cast<char*>(at(g.c, g.c_offsets, 0));
      s.stride_a = sa, s.stride_b = sb, s.stride_c = sc, s.batch = g.batch;
      strided_gemm(ctx_, s);
      return;
    }
    for (std::int64_t i = 0; i < g.batch; ++i) {
      s.a = at(g.a, g.a_offsets, i), s.b = at(g.b, g.b_offsets, i), s.c = const_cast<char*>(at(g.c, g.c_offsets, i));
      strided_gemm(ctx_, s);
    }
  }

 private:
  const Context& ctx_;
};

void strided_gemm(const Context& ctx, const StridedGemm& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  const int m = blas_int(g.m, "gemm", "m"), n = blas_int(g.n, "gemm", "n"), k = blas_int(g.k, "gemm", "k");
  // Row-major leading dimensions are at least the stored row length; cuBLAS wants them >= 1.
  const int lda = std::max(1, blas_int(g.lda, "gemm", "lda")), ldb = std::max(1, blas_int(g.ldb, "gemm", "ldb")),
            ldc = std::max(1, blas_int(g.ldc, "gemm", "ldc"));
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const BlasTypes types = blas_types(ctx, g.dtype, "gemm");
  const bool f32 = g.dtype == DType::float32;
  const float alpha32 = static_cast<float>(g.alpha), beta32 = static_cast<float>(g.beta);
  const void* alpha = f32 ? static_cast<const void*>(&alpha32) : &g.alpha;
  const void* beta = f32 ? static_cast<const void*>(&beta32) : &g.beta;
  const auto elem = static_cast<std::int64_t>(dtype_size(g.dtype));
  for (std::int64_t b0 = 0; b0 < g.batch; b0 += kMaxBatch) {
    const int count = static_cast<int>(std::min(kMaxBatch, g.batch - b0));
    const char* a = static_cast<const char*>(g.a) + b0 * g.stride_a * elem;
    const char* b = static_cast<const char*>(g.b) + b0 * g.stride_b * elem;
    char* c = static_cast<char*>(g.c) + b0 * g.stride_c * elem;
    XGRAD_CUDA_CHECK(cublasGemmStridedBatchedEx(ctx.blas, op_b, op_a, n, m, k, alpha, b, types.data, ldb, g.stride_b, a,
                                                types.data, lda, g.stride_a, beta, c, types.data, ldc, g.stride_c, count,
                                                types.compute,
                                                CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace

std::unique_ptr<LinalgKernels> make_linalg(const Context& ctx) { return std::make_unique<CudaLinalgKernels>(ctx); }

BlasTypes blas_types(const Context& ctx, DType dtype, const char* op) {
  if (dtype == DType::float32)
    return {CUDA_R_32F, ctx.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F};
  if (dtype == DType::float64) return {CUDA_R_64F, CUBLAS_COMPUTE_64F};
  throw TypeError(fmt::format("{}: expected float32 or float64, got {}", op, dtype_name(dtype)));
}

int blas_int(std::int64_t value, const char* op, const char* what) {
  if (value < 0 || value > INT_MAX)
    throw ValueError(fmt::format("{}: {} = {} is outside the range cuBLAS takes (0 to {})", op, what, value, INT_MAX));
  return static_cast<int>(value);
}

}  // namespace xgrad::cuda
