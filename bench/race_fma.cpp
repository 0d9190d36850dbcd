// The FMA limit of the race's "FMA %" column, measured rather than assumed: the fp32 multiply-add rate one
// core of this machine sustains at the widest vector width the build targets.
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>

#include "race.hpp"

namespace race {

namespace {

// Independent accumulator chains: enough to cover an FMA's latency (4-5 cycles) on two FMA pipes.
constexpr int kChains = 12;

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec splat(float x) { return _mm512_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float first(Vec v) { return _mm512_cvtss_f32(v); }
#elif defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec splat(float x) { return _mm256_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float first(Vec v) { return _mm256_cvtss_f32(v); }
#else
using Vec = float;  // no FMA instructions in this build: a scalar multiply-add, reported as such
constexpr int kLanes = 1;
inline Vec splat(float x) { return x; }
inline Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
inline float first(Vec v) { return v; }
#endif

volatile float sink;  // keeps the chains' results alive

// FLOP/s of `iterations` rounds of kChains independent multiply-adds.
double fma_rate(long iterations) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = splat(1.0f + 1e-3f * static_cast<float>(c));
  const Vec a = splat(0.999999f), b = splat(1e-7f);
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = fma(acc[c], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  float total = 0;
  for (int c = 0; c < kChains; ++c) total += first(acc[c]);
  sink = total;
  return 2.0 * kLanes * kChains * static_cast<double>(iterations) / s;
}

}  // namespace

double measure_fma_limit_per_core() {
  // Many short trials, the best kept: on a machine with other work, some ~5 ms trial still runs unpreempted.
  double best = 0;
  for (int trial = 0; trial < 40; ++trial) best = std::max(best, fma_rate(2'500'000));
  return best;
}

}  // namespace race
