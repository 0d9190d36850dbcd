#pragma once
// The dropout factors of a run of elements, drawn from their Philox blocks: written once, for the dropout
// mask kernel and for the attention kernels that draw a block's factors again instead of keeping a mask.
#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "xgrad/tensor/philox.hpp"

namespace xgrad::cpu {

#if defined(__AVX2__)
/// Which words of Philox4x32-10 blocks first … first + 3 of stream `seed` reach `limit`: 16 all-ones or all-zero
/// 64-bit lanes, block by block (the four words of block j in result[j]), exactly philox_block's words. The
/// blocks run side by side in AVX2 registers, each word zero-extended in a 64-bit lane, where vpmuludq gives a
/// round's full 32 × 32 → 64 bit product: the scalar rounds are a chain of dependent multiplies per block.
inline void philox_keeps4(std::uint64_t seed, std::uint64_t first, std::uint32_t limit, __m256i* result) {
  const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFF);
  const __m256i index =
      _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(first)), _mm256_set_epi64x(3, 2, 1, 0));
  __m256i c0 = _mm256_and_si256(index, low32), c1 = _mm256_srli_epi64(index, 32);
  __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
  const __m256i m0 = _mm256_set1_epi64x(0xD2511F53), m1 = _mm256_set1_epi64x(0xCD9E8D57);
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m256i p0 = _mm256_mul_epu32(c0, m0), p1 = _mm256_mul_epu32(c2, m1);
    const __m256i next0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1), _mm256_set1_epi64x(k0));
    const __m256i next2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3), _mm256_set1_epi64x(k1));
    c1 = _mm256_and_si256(p1, low32), c3 = _mm256_and_si256(p0, low32);
    c0 = next0, c2 = next2;
    k0 += 0x9E3779B9u;  // the key schedule's Weyl sequence
    k1 += 0xBB67AE85u;
  }
  // word >= limit  <=>  word > limit - 1, exact in signed 64-bit lanes (words and limit are below 2^32)
  const __m256i below = _mm256_set1_epi64x(static_cast<long long>(limit) - 1);
  const __m256i w0 = _mm256_cmpgt_epi64(c0, below), w1 = _mm256_cmpgt_epi64(c1, below);
  const __m256i w2 = _mm256_cmpgt_epi64(c2, below), w3 = _mm256_cmpgt_epi64(c3, below);
  // 4 × 4 transpose: word-major (w_l holds word l of blocks 0..3) to block-major
  const __m256i a = _mm256_unpacklo_epi64(w0, w1), b = _mm256_unpackhi_epi64(w0, w1);  // blocks 0, 2 | 1, 3
  const __m256i c = _mm256_unpacklo_epi64(w2, w3), d = _mm256_unpackhi_epi64(w2, w3);
  result[0] = _mm256_permute2x128_si256(a, c, 0x20), result[1] = _mm256_permute2x128_si256(b, d, 0x20);
  result[2] = _mm256_permute2x128_si256(a, c, 0x31), result[3] = _mm256_permute2x128_si256(b, d, 0x31);
}

/// Four factors (keep or 0) from four all-ones or all-zero 64-bit lanes.
inline void store_factors(__m256i keeps, float keep, float* out) {
  const __m256i even_words = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
  const __m128i packed = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(keeps, even_words));
  _mm_storeu_ps(out, _mm_and_ps(_mm_castsi128_ps(packed), _mm_set1_ps(keep)));
}
inline void store_factors(__m256i keeps, double keep, double* out) {
  _mm256_storeu_pd(out, _mm256_and_pd(_mm256_castsi256_pd(keeps), _mm256_set1_pd(keep)));
}
#endif

/// The factors of dropout at a rate in [0, 1): 1 / (1 - rate) for a kept element, 0 for a dropped one.
template <class T>
class DropoutFactors {
 public:
  /// Factors of dropout at `rate` in [0, 1).
  explicit DropoutFactors(double rate)
      : limit_(static_cast<std::uint32_t>(dropout_threshold(rate))), keep_(T(1.0 / (1.0 - rate))) {}

  /// out[i - begin] = the factor of element i of the mask drawn from `key` (kept when dropout_keeps), for i in
  /// [begin, end): one Philox block per four elements, so the values depend only on the indices, not on how a
  /// caller splits the range.
  void draw(const PhiloxKey& key, std::uint64_t begin, std::uint64_t end, T* out) const {
    std::uint64_t i = begin;
    // The threshold of a rate below 1 is below 2^32, so the words compare as 32-bit numbers, and the factor is
    // a select rather than a conversion and a multiply.
    auto one_block = [&] {  // up to the next multiple of 4, or to `end`
      const PhiloxBlock block = philox_block(key.seed, key.offset + i / 4);
      for (std::uint64_t lane = i % 4; lane < 4 && i < end; ++lane, ++i)
        *out++ = block.w[lane] >= limit_ ? keep_ : T(0);
    };
    if (i % 4 != 0 && i < end) one_block();
#if defined(__AVX2__)
    __m256i keeps[4];
    for (; i + 16 <= end; i += 16, out += 16) {
      philox_keeps4(key.seed, key.offset + i / 4, limit_, keeps);
      for (int j = 0; j < 4; ++j) store_factors(keeps[j], keep_, out + 4 * j);
    }
#endif
    while (i < end) one_block();
  }

 private:
  std::uint32_t limit_;
  T keep_;
};

}  // namespace xgrad::cpu
