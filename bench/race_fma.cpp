// The FMA limit of the race's "FMA %" column, measured rather than assumed: the fp32 multiply-add rate one
// core of this machine sustains at the widest vector width the build targets; and, where the CPU has
// AVX512-BF16, the rate of its bfloat16 dot products (vdpbf16ps), the limit of bf16 products.
#include <algorithm>
#include <chrono>

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

#include "race.hpp"

namespace race {

namespace {

// Independent accumulator chains: enough to cover an FMA's latency (4-5 cycles) on two FMA pipes.
constexpr int kChains = 12;

// The widest vector of floats the build targets (CMake adds -march=native and -ffp-contract=fast, so a * b + c
// on it is one FMA instruction wherever the CPU has them).
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

volatile float sink;  // keeps the chains' results alive

// FLOP/s of `iterations` rounds of kChains independent multiply-adds.
double fma_rate(long iterations) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Vec{} + (1.0f + 1e-3f * static_cast<float>(c));
  const Vec a = Vec{} + 0.999999f, b = Vec{} + 1e-7f;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * a + b;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  float total = 0;
  for (int c = 0; c < kChains; ++c) total += acc[c][0];
  sink = total;
  return 2.0 * kLanes * kChains * static_cast<double>(iterations) / s;
}

#if defined(__AVX512BF16__)
// FLOP/s of `iterations` rounds of kChains independent vdpbf16ps: each adds 32 products of bfloat16 pairs
// into 16 float lanes, 64 FLOP.
double bf16_dot_rate(long iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + 1e-3f * static_cast<float>(c));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.999f), _mm512_set1_ps(0.998f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-7f), _mm512_set1_ps(2e-7f));
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  float total = 0;
  for (int c = 0; c < kChains; ++c) total += acc[c][0];
  sink = total;
  return 64.0 * kChains * static_cast<double>(iterations) / s;
}
#endif

}  // namespace

double measure_bf16_dot_limit_per_core() {
#if defined(__AVX512BF16__)
  double best = 0;
  for (int trial = 0; trial < 40; ++trial) best = std::max(best, bf16_dot_rate(1'250'000));
  return best;
#else
  return 0;
#endif
}

double measure_fma_limit_per_core() {
  // Many short trials, the best kept: on a machine with other work, some ~5 ms trial still runs unpreempted.
  double best = 0;
  for (int trial = 0; trial < 40; ++trial) best = std::max(best, fma_rate(2'500'000));
  return best;
}

}  // namespace race
