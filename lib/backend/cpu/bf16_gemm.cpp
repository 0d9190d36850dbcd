// oneDNN runs single-threaded here, inside xgrad's pool (parallel.hpp): Debian's libdnnl is built on OpenMP, so
// each call caps the calling thread's OpenMP team at one thread and then restores the caller's setting. Creating a
// primitive costs 0.1-0.3 ms against a few microseconds for a lookup, so each thread keeps the primitives of the
// shapes it has run.
#include "backend/cpu/bf16_gemm.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <vector>

#include "backend/cpu/parallel.hpp"
#include "xgrad/ops/precision.hpp"

#if XGRAD_HAVE_ONEDNN
#include <immintrin.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace xgrad::cpu {

namespace {

bf16_bits round_one(float x) {
  const auto u = std::bit_cast<std::uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16_bits>((u >> 16) | 0x40u);  // quiet NaN
  return static_cast<bf16_bits>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#if XGRAD_HAVE_ONEDNN
bool detect() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16 && __builtin_cpu_supports("avx512bf16");
}
constexpr const char* kMissing = "this CPU has no AVX512-BF16";
#else
bool detect() { return false; }
constexpr const char* kMissing = "xgrad was built without oneDNN (XGRAD_ONEDNN)";
#endif

}  // namespace

bool bf16_gemm_available() {
  static const bool available = detect();
  return available;
}

namespace {
std::atomic<bool> emulation{[] {
  const char* env = std::getenv("XGRAD_BF16_EMULATE");
  return env && std::string_view(env) == "1";
}()};
}  // namespace

void set_bf16_emulation(bool on) { emulation = on; }

namespace {

#if XGRAD_HAVE_ONEDNN && defined(__x86_64__)
// FLOP/s of 12 independent chains (enough to cover the latency on two pipes) of vdpbf16ps (64 FLOP each) or of
// float32 FMAs on 16 lanes (32 FLOP each). Compiled for AVX-512 whatever the build targets: called only once
// bf16_gemm_available() has checked the CPU.
template <bool Bf16>
__attribute__((target("avx512f,avx512bf16"))) double dot_rate(long iterations) {
  constexpr int kChains = 12;
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + 1e-3f * static_cast<float>(c));
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-7f);
  const __m512bh xb = _mm512_cvtne2ps_pbh(x, x), yb = _mm512_cvtne2ps_pbh(y, y);
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c)
      acc[c] = Bf16 ? _mm512_dpbf16_ps(acc[c], xb, yb) : _mm512_fmadd_ps(acc[c], x, y);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  volatile float keep = 0;
  for (int c = 0; c < kChains; ++c) keep = keep + acc[c][0];
  return (Bf16 ? 64.0 : 32.0) * kChains * static_cast<double>(iterations) / seconds;
}

double measure_dot_speedup() {
  // Alternating short trials, the best of each kept, so that a preempted trial or a clock change hits neither.
  double bf16 = 0, fp32 = 0;
  for (int trial = 0; trial < 10; ++trial) {
    bf16 = std::max(bf16, dot_rate<true>(20'000));
    fp32 = std::max(fp32, dot_rate<false>(20'000));
  }
  return bf16 / fp32;
}
#else
double measure_dot_speedup() { return 0; }
#endif

}  // namespace

double bf16_dot_speedup() {
  if (!bf16_gemm_available()) return 0;
  static const double speedup = measure_dot_speedup();
  return speedup;
}

Bf16Route bf16_route() {
  if (bf16_gemm_available()) {
    static std::once_flag checked;
    std::call_once(checked, [] {
      if (const double speedup = bf16_dot_speedup(); speedup < 1.5)
        std::fprintf(stderr,
                     "xgrad: bfloat16 products requested: this CPU's bfloat16 dot products run at %.2fx the FLOP "
                     "rate of its float32 FMAs, so bfloat16 products are %s float32 ones here\n",
                     speedup, speedup < 1 ? "slower than" : "no faster than");
    });
    return Bf16Route::native;
  }
  if (emulation) return Bf16Route::emulated;
  static std::once_flag told;
  std::call_once(told, [] {
    std::fprintf(stderr, "xgrad: bfloat16 products requested, but %s: computing them in float32\n", kMissing);
  });
  return Bf16Route::float32;
}

void round_to_bf16(const float* src, bf16_bits* dst, std::int64_t n) {
  parallel_elements(n, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) dst[i] = round_one(src[i]);
  });
}

void round_through_bf16(const float* src, float* dst, std::int64_t n) {
  parallel_elements(n, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) dst[i] = std::bit_cast<float>(std::uint32_t{round_one(src[i])} << 16);
  });
}

#if XGRAD_HAVE_ONEDNN

namespace {

using dnnl::memory;

// Everything a matmul primitive is specialised on.
struct Key {
  memory::data_type in;  // of A and B
  std::int64_t m, n, k, lda, ldb, ldc;
  bool ta, tb;
  float alpha, beta;
  bool operator==(const Key&) const = default;
};

struct Entry {
  Key key;
  dnnl::matmul prim;
  memory a, b, c;  // bound to each call's buffers with set_data_handle
};

const dnnl::engine& engine() {
  static const dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

Entry make_entry(const Key& key) {
  const memory::desc a_md({key.m, key.k}, key.in, key.ta ? memory::dims{1, key.lda} : memory::dims{key.lda, 1});
  const memory::desc b_md({key.k, key.n}, key.in, key.tb ? memory::dims{1, key.ldb} : memory::dims{key.ldb, 1});
  const memory::desc c_md({key.m, key.n}, memory::data_type::f32, memory::dims{key.ldc, 1});
  dnnl::primitive_attr attr;
  if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
  if (key.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(key.beta);  // C = alpha A·B + beta C, C read in float32
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine());
  return Entry{key, dnnl::matmul(pd), memory(a_md, engine(), nullptr), memory(b_md, engine(), nullptr),
               memory(c_md, engine(), nullptr)};
}

// RAII: oneDNN runs on this thread alone (xgrad's pool owns the cores); the caller's own OpenMP setting comes back.
class OneOpenMPThread {
 public:
  OneOpenMPThread() : previous_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~OneOpenMPThread() { omp_set_num_threads(previous_); }
  OneOpenMPThread(const OneOpenMPThread&) = delete;
  OneOpenMPThread& operator=(const OneOpenMPThread&) = delete;

 private:
  int previous_;
};

// This thread's primitives: a short list, searched linearly (a model has a few dozen shapes at most).
constexpr std::size_t kMaxCached = 256;

Entry& lookup(const Key& key) {
  thread_local std::vector<Entry> cache;
  for (auto& e : cache)
    if (e.key == key) return e;
  if (cache.size() >= kMaxCached) cache.clear();
  cache.push_back(make_entry(key));
  return cache.back();
}

}  // namespace

bool onednn_built() { return true; }

template <class In>
void onednn_gemm(const GemmArgs& g, const In* a, std::int64_t lda, const In* b, std::int64_t ldb, float* c,
                 std::int64_t ldc) {
  constexpr auto in = std::is_same_v<In, float> ? memory::data_type::f32 : memory::data_type::bf16;
  Entry& e = lookup(Key{in, g.m, g.n, g.k, lda, ldb, ldc, g.trans_a, g.trans_b, static_cast<float>(g.alpha),
                        static_cast<float>(g.beta)});
  e.a.set_data_handle(const_cast<In*>(a));
  e.b.set_data_handle(const_cast<In*>(b));
  e.c.set_data_handle(c);
  thread_local dnnl::stream stream(engine());
  const OneOpenMPThread one_thread;
  e.prim.execute(stream, {{DNNL_ARG_SRC, e.a}, {DNNL_ARG_WEIGHTS, e.b}, {DNNL_ARG_DST, e.c}});
}

#else

bool onednn_built() { return false; }

template <class In>
void onednn_gemm(const GemmArgs&, const In*, std::int64_t, const In*, std::int64_t, float*, std::int64_t) {
  throw std::logic_error("onednn_gemm: xgrad was built without oneDNN");
}

#endif

template void onednn_gemm<bf16_bits>(const GemmArgs&, const bf16_bits*, std::int64_t, const bf16_bits*, std::int64_t,
                                     float*, std::int64_t);
template void onednn_gemm<float>(const GemmArgs&, const float*, std::int64_t, const float*, std::int64_t, float*,
                                 std::int64_t);

}  // namespace xgrad::cpu

namespace xgrad {

bool bf16_products_supported() { return cpu::bf16_gemm_available(); }

}  // namespace xgrad
