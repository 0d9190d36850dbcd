#pragma once
// bfloat16 products with float32 accumulation through oneDNN's matmul primitive (brgemm kernels with
// vdpbf16ps on AVX512-BF16 CPUs), for linalg.cpp's blocks. Without oneDNN (XGRAD_ONEDNN=OFF or not found)
// bf16_gemm_available() is false and linalg.cpp computes in float32.
#include <cstdint>

#include "xgrad/backend/linalg.hpp"

namespace xgrad::cpu {

/// bfloat16 bits: the upper half of a float32.
using bf16_bits = std::uint16_t;

/// Whether bf16_gemm runs natively here (oneDNN built in, AVX512-BF16 present).
bool bf16_gemm_available();

/// How a product asked for in bfloat16 computes.
enum class Bf16Route {
  native,    ///< bf16_gemm on bfloat16 copies of the operands
  emulated,  ///< float32 GEMM on the operands rounded to bfloat16: the same numbers, without the speed
  float32,   ///< the plain float32 product
};

/// The route of a product asked for in bfloat16: native when bf16_gemm_available(), else emulated when
/// set_bf16_emulation(true) (initially: the environment variable XGRAD_BF16_EMULATE=1), else float32, and then
/// one line on stderr (the first time only) says so. Native, it also says so once when bf16_dot_speedup() is
/// below 1.5: there bfloat16 products are no faster than float32 ones.
Bf16Route bf16_route();

/// On a CPU where bf16_gemm_available(): the FLOP rate of its bfloat16 dot products (vdpbf16ps) over that of
/// its float32 FMAs, measured once on the calling thread (about 2 ms, the best of short trials); 2 where the
/// dot products run at the FMA instruction rate, 1 where they run at half of it. 0 where bf16_gemm_available()
/// is false.
double bf16_dot_speedup();

/// Whether products asked for in bfloat16 emulate it where it is not native (tests on CPUs without AVX512-BF16).
void set_bf16_emulation(bool on);

/// Rounds n float32 values to bfloat16 and back: each result is exactly representable in bfloat16.
void round_through_bf16(const float* src, float* dst, std::int64_t n);

/// Rounds n float32 values to bfloat16, nearest even (NaN stays NaN, overflow gives infinity).
void round_to_bf16(const float* src, bf16_bits* dst, std::int64_t n);

/// Whether xgrad was built with oneDNN.
bool onednn_built();

/// C (m, n) = alpha op(A)·op(B) + beta C on one thread through a oneDNN matmul primitive cached per thread, A
/// and B of element type In (bf16_bits or float) with the row-major leading dimensions of the stored matrices,
/// C float32. Only when onednn_built(), and for bfloat16 only when bf16_gemm_available().
template <class In>
void onednn_gemm(const GemmArgs& g, const In* a, std::int64_t lda, const In* b, std::int64_t ldb, float* c,
                 std::int64_t ldc);

/// onednn_gemm on bfloat16 operands.
inline void bf16_gemm(const GemmArgs& g, const bf16_bits* a, std::int64_t lda, const bf16_bits* b, std::int64_t ldb,
                      float* c, std::int64_t ldc) {
  onednn_gemm<bf16_bits>(g, a, lda, b, ldb, c, ldc);
}

}  // namespace xgrad::cpu
