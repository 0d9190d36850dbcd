#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a counter-based
// generator. Block c of stream k is philox(counter c, key k), a pure function, so any device can draw
// element i of a random tensor on its own thread and every device draws the same bits. This header is
// plain C++ that also compiles as CUDA device code, so the CPU and the CUDA plugin share one definition.
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define XGRAD_HOST_DEVICE __host__ __device__
#else
#define XGRAD_HOST_DEVICE
#endif

namespace xgrad {

/// Where a kernel's random draws come from: the Philox key (the generator's seed) and the first
/// counter (block) it may use. A kernel drawing from blocks offset, offset + 1, ... reserved them
/// through Generator::reserve, so no two kernels ever see the same blocks.
struct PhiloxKey {
  std::uint64_t seed = 0;    ///< the key: one stream per seed
  std::uint64_t offset = 0;  ///< the first block this draw may use
};

/// Four 32-bit random words: one Philox block.
struct PhiloxBlock {
  std::uint32_t w[4];  ///< the words, uniformly distributed and independent
};

/// Philox4x32 with 10 rounds of the 128-bit counter (c0, c1, c2, c3) under the 64-bit key.
XGRAD_HOST_DEVICE inline PhiloxBlock philox4x32_10(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                                   std::uint32_t c3, std::uint64_t key) {
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c0;
    const std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * c2;
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;  // the key schedule's Weyl sequence
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

/// Block `index` of stream `seed`, with `lane` in the counter's upper half (a second, independent
/// sequence per index: the retries of a rejection sampler use lanes 1, 2, ...).
XGRAD_HOST_DEVICE inline PhiloxBlock philox_block(std::uint64_t seed, std::uint64_t index, std::uint32_t lane = 0) {
  return philox4x32_10(static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32), lane, 0u, seed);
}

/// A double uniform in [0, 1) from two words (53 random bits).
XGRAD_HOST_DEVICE inline double philox_unit_double(std::uint32_t hi, std::uint32_t lo) {
  return static_cast<double>(((std::uint64_t{hi} << 32) | lo) >> 11) * 0x1.0p-53;
}

/// A standard normal draw from one block by Box-Muller: u1 in (0, 1] from words 0-1, u2 in [0, 1)
/// from words 2-3, z = sqrt(-2 ln u1) cos(2 pi u2), computed in T.
template <class T>
XGRAD_HOST_DEVICE inline T normal_draw(const PhiloxBlock& b) {
  const T u1 = static_cast<T>(1.0 - philox_unit_double(b.w[0], b.w[1]));
  const T u2 = static_cast<T>(philox_unit_double(b.w[2], b.w[3]));
  return std::sqrt(T(-2) * std::log(u1)) * std::cos(T(6.283185307179586476925) * u2);
}

/// Retries a truncated-normal draw takes at most before giving 0; each retry is rejected with
/// probability 0.0455, so the cap is never reached in practice (0.0455^64 ~ 1e-86).
inline constexpr std::uint32_t kTruncatedNormalTries = 64;

/// Element `index` of a standard normal truncated to [-2, 2] (Keras's truncated_normal): the first
/// draw with |z| <= 2 among lanes 0, 1, 2, ... of block `index`.
template <class T>
XGRAD_HOST_DEVICE inline T truncated_normal_draw(std::uint64_t seed, std::uint64_t index) {
  for (std::uint32_t lane = 0; lane < kTruncatedNormalTries; ++lane) {
    const T z = normal_draw<T>(philox_block(seed, index, lane));
    if (z >= T(-2) && z <= T(2)) return z;
  }
  return T(0);
}

/// Whether dropout keeps element `index` of a mask drawn from `key` at drop probability `rate`: element i
/// reads word i % 4 of block key.offset + i / 4 and is kept when it reaches rate * 2^32, so
/// P(keep) = 1 - rate to within 2^-32 and four elements share one block.
XGRAD_HOST_DEVICE inline bool dropout_keeps(const PhiloxKey& key, std::uint64_t index, std::uint64_t threshold) {
  const PhiloxBlock b = philox_block(key.seed, key.offset + index / 4);
  return b.w[index % 4] >= threshold;
}

/// The 32-bit threshold of dropout_keeps for drop probability `rate` in [0, 1).
XGRAD_HOST_DEVICE inline std::uint64_t dropout_threshold(double rate) {
  return static_cast<std::uint64_t>(std::ldexp(rate, 32));
}

}  // namespace xgrad
