// CPU products: a product whose second operand fits L2 and whose first is not transposed runs on the register
// tiles of tile_product.hpp (packed_product); every other one through OpenBLAS CBLAS straight on the contiguous
// buffers, transpose flags instead of copies; bfloat16 products (GemmArgs::bf16_operands) through oneDNN
// (bf16_gemm.hpp), cut into the same blocks.
// <cblas.h> lives only in the CPU backend (here and parallel.cpp): it clashes with xtensor-blas.
#include "xgrad/backend/linalg.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iterator>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/cpu/bf16_gemm.hpp"
#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/parallel.hpp"
#include "backend/cpu/tile_product.hpp"
#include "xgrad/errors.hpp"

namespace xgrad {

namespace {

// OpenBLAS picks its kernels when it loads, by CPU model; one older than the CPU falls back to generic SSE3
// kernels, 3.6x slower than its AVX-512 ones on a 512-cube sgemm (docs/architecture.md, "OpenBLAS's kernels").
// The choice can only be changed by the environment before the program starts, so xgrad says so, once per
// process (not once per element type: blas_gemm<float> and blas_gemm<double> both call this).
void warn_if_generic_blas() {
#if defined(__x86_64__) || defined(__i386__)
  static std::once_flag told;
  std::call_once(told, [] {
    const std::string core = openblas_get_corename();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    const std::string advice = cpu::blas_core_advice(core, avx2, avx512);
    if (advice.empty()) return;
    std::fprintf(stderr,
                 "xgrad: OpenBLAS runs its generic '%s' kernels on this CPU, which has %s: products through OpenBLAS "
                 "run several times slower than they could. Start the program with OPENBLAS_CORETYPE=%s in its "
                 "environment.\n",
                 core.c_str(), avx512 ? "AVX-512" : "AVX2", advice.c_str());
  });
#endif
}

}  // namespace

template <class T>
void cpu::blas_gemm(const GemmArgs& g, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                    std::int64_t ldc) {
  warn_if_generic_blas();
  const auto ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = g.trans_b ? CblasTrans : CblasNoTrans;
  auto ld = [](std::int64_t v) { return static_cast<blasint>(std::max<std::int64_t>(1, v)); };  // BLAS wants >= 1
  const auto m = static_cast<blasint>(g.m), n = static_cast<blasint>(g.n), k = static_cast<blasint>(g.k);
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, static_cast<float>(g.alpha), a, ld(lda), b, ld(ldb),
                static_cast<float>(g.beta), c, ld(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, g.alpha, a, ld(lda), b, ld(ldb), g.beta, c, ld(ldc));
}
template void cpu::blas_gemm<float>(const GemmArgs&, const float*, std::int64_t, const float*, std::int64_t, float*,
                                    std::int64_t);
template void cpu::blas_gemm<double>(const GemmArgs&, const double*, std::int64_t, const double*, std::int64_t,
                                     double*, std::int64_t);

namespace {

// C = beta * C for C (g.m, g.n) with rows ldc apart; beta = 0 writes zeros without reading C.
template <class T>
void scale(const GemmArgs& g, T* c, std::int64_t ldc) {
  const T beta = static_cast<T>(g.beta);
  for (T* row = c; row < c + g.m * ldc; row += ldc)
    for (std::int64_t j = 0; j < g.n; ++j) row[j] = beta == T(0) ? T(0) : beta * row[j];
}

// packed_product serves products whose op(B) packs into at most this many bytes, so that its panels stay in
// L2 (512 KiB per core on Zen 3, 1-2 MiB on later x86) while rows of A stream past them once ...
constexpr std::int64_t kPackedBytes = std::int64_t{256} << 10;
// ... and that have at least this many rows: below it, copying op(B) costs more than OpenBLAS's own packing of
// both operands saves (a standalone copy of this loop against cblas_sgemm, op(B) 128 x 384, beta 0: 0.8-1.2x
// OpenBLAS's time at 24 rows, 0.9-1.0x from 48).
constexpr std::int64_t kPackedMinRows = 48;

// Whether packed_product serves g. Decided once per product, before it is cut into blocks, so that a product's
// arithmetic never depends on the thread count.
bool packs(const GemmArgs& g, std::int64_t element_size) {
  return cpu::products_on_tiles() && !g.trans_a && g.m >= kPackedMinRows &&
         g.k * g.n * element_size <= kPackedBytes;
}

// C = alpha * A·op(B) + beta * C with op(B) copied once into column panels as wide as a register tile (zero
// columns pad the last), each panel's K rows contiguous; every kTileRows rows of A, read in place, then run
// through all panels while they stay in L1, and the panels stay in L2. OpenBLAS instead copies both operands on
// every call, A in full: on the Tiny LM's products (2048 rows, K and N of 65-512) this took 0.87-1.02x its time
// (bench_matmul, docs/benchmarks.md). Each element of C is one chain of FMAs over k in order, whatever the block.
template <class T>
void packed_product(const GemmArgs& g, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                    std::int64_t ldc) {
  constexpr std::int64_t kBatch = xsimd::batch<T>::size, kCols = cpu::kTileBatches * kBatch;
  const std::int64_t m = g.m, n = g.n, k = g.k, panels = (n + kCols - 1) / kCols;
  thread_local std::vector<T> packed;
  packed.resize(static_cast<std::size_t>(panels * k * kCols));
  for (std::int64_t p = 0; p < panels; ++p) {
    T* panel = packed.data() + p * k * kCols;
    const std::int64_t j0 = p * kCols, cols = std::min(kCols, n - j0);
    if (cols < kCols) std::fill(panel, panel + k * kCols, T(0));
    if (g.trans_b) {  // op(B)(kk, j) = B(j, kk): read B's rows, write the panel's columns
      for (std::int64_t j = 0; j < cols; ++j)
        for (std::int64_t kk = 0; kk < k; ++kk) panel[kk * kCols + j] = b[(j0 + j) * ldb + kk];
    } else {
      for (std::int64_t kk = 0; kk < k; ++kk) std::copy_n(b + kk * ldb + j0, cols, panel + kk * kCols);
    }
  }
  const T alpha = static_cast<T>(g.alpha);
  const bool accumulate = g.beta != 0.0;
  const T* bias = static_cast<const T*>(g.bias);  // only with beta = 0 (CpuLinalgKernels::gemm)
  if (accumulate && g.beta != 1.0) scale(g, c, ldc);  // C = beta * C first, then C += alpha * A·op(B)
  T edge[cpu::kTileRows * kCols] = {};
  for (std::int64_t i0 = 0; i0 < m; i0 += cpu::kTileRows) {
    const std::int64_t rows = std::min<std::int64_t>(cpu::kTileRows, m - i0);
    for (std::int64_t p = 0; p < panels; ++p) {
      const T* panel = packed.data() + p * k * kCols;
      T* cp = c + i0 * ldc + p * kCols;
      const std::int64_t cols = std::min(kCols, n - p * kCols);
      if (cols == kCols) {
        cpu::small_product(rows, kCols, k, a + i0 * lda, lda, std::int64_t{1}, panel, kCols, alpha, cp, ldc,
                           accumulate, bias ? bias + p * kCols : nullptr);
        continue;
      }
      // The last, partial panel: a tile of whole SIMD batches adds onto a copy of C's block (or of the bias)
      // padded to its width, so that these elements get exactly the arithmetic of the others.
      const std::int64_t width = (cols + kBatch - 1) / kBatch * kBatch;
      for (std::int64_t i = 0; i < rows && (accumulate || bias); ++i)
        std::copy_n(bias ? bias + p * kCols : cp + i * ldc, cols, edge + i * kCols);
      cpu::small_product(rows, width, k, a + i0 * lda, lda, std::int64_t{1}, panel, kCols, alpha, edge, kCols,
                         accumulate || bias);
      for (std::int64_t i = 0; i < rows; ++i) std::copy_n(edge + i * kCols, cols, cp + i * ldc);
    }
  }
}

// Below this many multiply-adds a product runs on one thread: waking a worker costs more than it saves.
constexpr std::int64_t kParallelWork = std::int64_t{1} << 18;
// Blocks of C start on multiples of this many rows or columns: whole SIMD tiles for the BLAS kernels.
constexpr std::int64_t kBlockAlign = 16;

// C = alpha * op(A)·op(B) + beta * C on the pool: C is cut into blocks of rows (or of columns when it is wide
// and short) and each thread runs block(part, A, lda, B, ldb, C, ldc), a single-threaded GEMM, on its block;
// every element of C is still one dot product over all of K, as on one thread. In is the operands' element
// type (bfloat16 bits for bf16_gemm), Out C's.
//
// One block per thread, not parallel_for's kChunksPerThread: each block packs the whole of the operand it
// shares with the others again (OpenBLAS copies its panels per call), so more blocks cost more copying. On the
// Tiny LM at 2 threads, 2 blocks per product took 0.92-0.98x the step time of 4 on a quiet machine and the same
// (0.995-1.02x) with a competing process on one core (docs/benchmarks.md).
template <class In, class Out, class Block>
void gemm_blocks(const GemmArgs& g, const In* a, const In* b, Out* c, Block block) {
  const std::int64_t lda = g.trans_a ? g.m : g.k, ldb = g.trans_b ? g.k : g.n;
  if (g.m * g.n * g.k < kParallelWork) return block(g, a, lda, b, ldb, c, g.n);
  const std::int64_t threads = cpu::pool_threads();
  const auto per_thread = [threads](std::int64_t extent) { return (extent + threads - 1) / threads; };
  if (g.m >= g.n) {
    cpu::parallel_for(g.m, per_thread(g.m), [&](std::int64_t r0, std::int64_t r1) {
      GemmArgs part = g;
      part.m = r1 - r0;
      // Row block of op(A): rows of A, or columns of the stored Aᵀ.
      const In* ap = g.trans_a ? a + r0 : a + r0 * lda;
      block(part, ap, lda, b, ldb, c + r0 * g.n, g.n);
    }, kBlockAlign);
  } else {
    cpu::parallel_for(g.n, per_thread(g.n), [&](std::int64_t c0, std::int64_t c1) {
      GemmArgs part = g;
      part.n = c1 - c0;
      if (g.bias) part.bias = static_cast<const Out*>(g.bias) + c0;
      // Column block of op(B): columns of B, or rows of the stored Bᵀ.
      const In* bp = g.trans_b ? b + c0 * ldb : b + c0;
      block(part, a, lda, bp, ldb, c + c0, g.n);
    }, kBlockAlign);
  }
}

// One float32 product with bfloat16 operands: A and B are rounded once into this thread's scratch (the same
// layout), then the blocks run bf16_gemm, or, emulated, sgemm on the rounded values (bfloat16 products are
// exact in float32, so only the order of the float32 sums differs).
template <class Bits, class Round, class Block>
void bf16_product(const GemmArgs& g, const float* a, const float* b, float* c, Round round, Block block) {
  thread_local std::vector<Bits> scratch;
  const std::int64_t a_size = g.m * g.k, b_size = g.k * g.n;
  scratch.resize(static_cast<std::size_t>(a_size + b_size));
  round(a, scratch.data(), a_size);
  round(b, scratch.data() + a_size, b_size);
  gemm_blocks(g, scratch.data(), scratch.data() + a_size, c, block);
}

// C = beta * C + bias in every row, on the pool: the bias of a product whose kernel cannot add it as it stores
// C, which then adds the product onto it (beta = 1). With beta = 0 C's old values are not read.
template <class T>
void add_bias_rows(const GemmArgs& g, T* c) {
  const T* bias = static_cast<const T*>(g.bias);
  const T beta = static_cast<T>(g.beta);
  cpu::parallel_rows(g.m, g.n, [&](std::int64_t r0, std::int64_t r1) {
    for (T* row = c + r0 * g.n; row < c + r1 * g.n; row += g.n)
      for (std::int64_t j = 0; j < g.n; ++j) row[j] = (g.beta == 0.0 ? T(0) : beta * row[j]) + bias[j];
  });
}

class CpuLinalgKernels final : public LinalgKernels {
 public:
  void gemm(const GemmArgs& args) const override {
    if (args.m == 0 || args.n == 0) return;
    if (args.bias && args.batch != 1)
      throw ValueError(fmt::format("gemm: a bias is added to one product, not to a batch of {}", args.batch));
    // float64 never; float32 when asked for (cpu::bf16_route says how).
    const auto route =
        args.bf16_operands && args.dtype == DType::float32 ? cpu::bf16_route() : cpu::Bf16Route::float32;
    dispatch_floating(args.dtype, "gemm", [&](auto tag) {
      using T = decltype(tag);
      const T* a = static_cast<const T*>(args.a);
      const T* b = static_cast<const T*>(args.b);
      T* c = static_cast<T*>(args.c);
      GemmArgs g = args;
      // The register tiles add a bias as they store C, in place of C's old values; every other kernel adds the
      // product onto the bias written first.
      if (g.bias && (g.beta != 0.0 || g.k == 0 || route != cpu::Bf16Route::float32 || !packs(g, sizeof(T)))) {
        add_bias_rows(g, c);
        g.beta = 1.0;
        g.bias = nullptr;
      }
      // Sequential over the batch, so repeated C offsets accumulate correctly.
      for (std::int64_t i = 0; i < g.batch; ++i) {
        T* ci = c + (g.c_offsets ? g.c_offsets[i] : 0);
        if (g.k == 0) {  // an empty inner dimension makes the product zero (BLAS may skip it entirely)
          scale(g, ci, g.n);
          continue;
        }
        const T* ai = a + (g.a_offsets ? g.a_offsets[i] : 0);
        const T* bi = b + (g.b_offsets ? g.b_offsets[i] : 0);
        if constexpr (std::is_same_v<T, float>) {
          if (route == cpu::Bf16Route::native) {
            bf16_product<cpu::bf16_bits>(g, ai, bi, ci, cpu::round_to_bf16, cpu::bf16_gemm);
            continue;
          }
          if (route == cpu::Bf16Route::emulated) {
            bf16_product<float>(g, ai, bi, ci, cpu::round_through_bf16, cpu::blas_gemm<float>);
            continue;
          }
        }
        if (packs(g, sizeof(T)))
          gemm_blocks(g, ai, bi, ci, packed_product<T>);
        else
          gemm_blocks(g, ai, bi, ci, cpu::blas_gemm<T>);
      }
    });
  }

  bool adds_bias() const override { return true; }
};

}  // namespace

bool cpu::products_on_tiles() { return XSIMD_WITH_FMA3_AVX2 || XSIMD_WITH_AVX512F; }

std::string cpu::blas_core_advice(std::string_view core, bool avx2, bool avx512) {
  // OpenBLAS's x86 cores with FMA kernels (openblas_get_corename()'s names, compared without case).
  static constexpr std::string_view kFmaCores[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"};
  std::string lower(core);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (!avx2 || std::find(std::begin(kFmaCores), std::end(kFmaCores), lower) != std::end(kFmaCores)) return {};
  return avx512 ? "SkylakeX" : "Haswell";
}

const LinalgKernels& CpuBackend::linalg() const {
  static const CpuLinalgKernels kernels;
  return kernels;
}

}  // namespace xgrad
