// The CPU backend's GEMM kernel: a product whose second operand packs into L2 and whose first is not transposed
// runs on register tiles over panels of op(B) (lib/backend/cpu/linalg.cpp), every other product through
// OpenBLAS. Both must give C = alpha·op(A)·op(B) + beta·C for every flag, scale, edge and batch, and an element's
// value must not depend on where the tiles' edges fall, nor on the thread count.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "../lib/backend/cpu/cpu_backend.hpp"
#include "xgrad/backend/backend.hpp"
#include "xgrad/backend/linalg.hpp"
#include "xgrad/backend/threads.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

namespace {

struct Product {
  std::int64_t m, k, n;
  bool ta, tb;
  double alpha, beta;
  std::int64_t batch = 1;
  bool bias = false;  // add a row of n values to every row of C
};

template <class T>
std::vector<T> normal(std::int64_t count, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist;
  std::vector<T> v(static_cast<std::size_t>(count));
  for (auto& x : v) x = static_cast<T>(dist(gen));
  return v;
}

// Runs p through the CPU backend on `threads` threads; A, B and the old C are normal(seed...). With beta = 0 the
// old C is NaN, which must not show through. Batches share C (c_offsets all 0): they accumulate one after another.
template <class T>
std::vector<T> run(const Product& p, int threads, std::uint32_t seed) {
  const auto a = normal<T>(p.batch * p.m * p.k, seed), b = normal<T>(p.batch * p.k * p.n, seed + 1);
  auto c = p.beta == 0.0 ? std::vector<T>(static_cast<std::size_t>(p.m * p.n), std::numeric_limits<T>::quiet_NaN())
                         : normal<T>(p.m * p.n, seed + 2);
  std::vector<std::int64_t> a_off, b_off, c_off;
  for (std::int64_t i = 0; i < p.batch; ++i) {
    a_off.push_back(i * p.m * p.k);
    b_off.push_back(i * p.k * p.n);
    c_off.push_back(0);
  }
  const auto bias = normal<T>(p.n, seed + 3);
  GemmArgs g;
  g.dtype = dtype_of<T>();
  g.trans_a = p.ta, g.trans_b = p.tb, g.m = p.m, g.n = p.n, g.k = p.k, g.alpha = p.alpha, g.beta = p.beta;
  g.a = a.data(), g.b = b.data(), g.c = c.data(), g.batch = p.batch;
  if (p.bias) g.bias = bias.data();
  g.a_offsets = a_off.data(), g.b_offsets = b_off.data(), g.c_offsets = c_off.data();
  const int before = num_threads();
  set_num_threads(threads);
  backend(Device{}).linalg().gemm(g);
  set_num_threads(before);
  return c;
}

// The same product summed in long double, with the scale of each element's terms. Batches that share C apply
// beta one after another: C = alpha·A_s·B_s + beta·C for s = 0, 1, ...
template <class T>
void reference(const Product& p, std::uint32_t seed, std::vector<long double>& want, std::vector<long double>& scale) {
  const auto a = normal<T>(p.batch * p.m * p.k, seed), b = normal<T>(p.batch * p.k * p.n, seed + 1);
  const auto c = normal<T>(p.m * p.n, seed + 2), bias = normal<T>(p.n, seed + 3);
  want.assign(static_cast<std::size_t>(p.m * p.n), 0.0L);
  scale.assign(want.size(), 0.0L);
  for (std::size_t i = 0; i < want.size() && p.beta != 0.0; ++i) want[i] = c[i];
  for (std::int64_t s = 0; s < p.batch; ++s) {
    const T* as = a.data() + s * p.m * p.k;
    const T* bs = b.data() + s * p.k * p.n;
    for (std::int64_t i = 0; i < p.m; ++i)
      for (std::int64_t j = 0; j < p.n; ++j) {
        long double sum = 0, abs_sum = 0;
        for (std::int64_t q = 0; q < p.k; ++q) {
          const long double x = static_cast<long double>(p.ta ? as[q * p.m + i] : as[i * p.k + q]) *
                                (p.tb ? bs[j * p.k + q] : bs[q * p.n + j]);
          sum += x;
          abs_sum += std::abs(x);
        }
        const auto at = std::size_t(i * p.n + j);
        const long double old = p.beta == 0.0 ? 0.0L : p.beta * want[at], added = p.bias ? bias[std::size_t(j)] : 0;
        scale[at] = std::abs(p.alpha) * abs_sum + std::abs(p.beta) * scale[at] + std::abs(old) + std::abs(added);
        want[at] = p.alpha * sum + old + added;
      }
  }
}

template <class T>
void check_product(const Product& p) {
  INFO("m " << p.m << " k " << p.k << " n " << p.n << " ta " << p.ta << " tb " << p.tb << " alpha " << p.alpha
            << " beta " << p.beta << " batch " << p.batch << " bias " << p.bias << " " << dtype_name(dtype_of<T>()));
  const std::uint32_t seed = 7;
  const auto one = run<T>(p, 1, seed), three = run<T>(p, 3, seed);
  std::vector<long double> want, scale;
  reference<T>(p, seed, want, scale);
  // Each element is a sum of k products, rounded k times at most: k·eps relative to the sum of |terms|.
  const long double eps = std::numeric_limits<T>::epsilon();
  std::int64_t wrong = 0, differs = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (!(std::abs(one[i] - want[i]) <= (p.k + 2) * p.batch * eps * scale[i] + 1e-30L)) ++wrong;
    if (!(one[i] == three[i])) ++differs;
  }
  CHECK(wrong == 0);
  // The register-tiled path (A not transposed, at least 48 rows, op(B) within 256 KiB, an AVX2 or AVX-512 build)
  // computes each element of C as one chain of FMAs, on any thread count; OpenBLAS picks other kernels for other
  // block shapes.
  const bool tiled = !p.ta && p.m >= 48 && p.k * p.n * std::int64_t{sizeof(T)} <= (std::int64_t{256} << 10);
  if (tiled && cpu::products_on_tiles()) CHECK(differs == 0);
}

}  // namespace

TEST_CASE("gemm kernels: every flag, scale and edge against a long double reference, on 1 and 3 threads",
          "[linalg]") {
  // Row counts around the tiles' 6 and the packed path's 48, column counts around whole panels (16 floats on
  // AVX2, 64 on AVX-512), k·n on both sides of the packed path's 256 KiB.
  const std::vector<std::array<std::int64_t, 3>> shapes = {
      {50, 67, 65}, {101, 37, 16}, {48, 8, 3}, {47, 33, 33}, {120, 129, 130}, {300, 64, 200}, {64, 256, 257},
      {5, 40, 24},  {40, 5, 300}};
  for (const auto& [m, k, n] : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (const auto& [alpha, beta] : {std::pair{1.0, 0.0}, {0.5, 1.0}, {-1.5, -0.25}})
          for (bool bias : {false, true}) {
            check_product<float>({m, k, n, ta, tb, alpha, beta, 1, bias});
            check_product<double>({m, k, n, ta, tb, alpha, beta, 1, bias});
          }
}

TEST_CASE("gemm kernels: the CPU backend adds a bias row, to one product only", "[linalg]") {
  const LinalgKernels& kernels = backend(Device{}).linalg();
  CHECK(kernels.adds_bias());
  std::vector<float> a(6, 1.0f), b(6, 1.0f), c(4, 0.0f), bias(2, 0.5f);
  GemmArgs g;
  g.m = 2, g.n = 2, g.k = 3, g.a = a.data(), g.b = b.data(), g.c = c.data(), g.bias = bias.data();
  kernels.gemm(g);
  CHECK(c == std::vector<float>(4, 3.5f));  // 1·1 summed over k = 3, plus 0.5
  g.batch = 2;
  const std::vector<std::int64_t> offsets{0, 0};
  g.a_offsets = g.b_offsets = g.c_offsets = offsets.data();
  CHECK_THROWS_WITH(kernels.gemm(g), Catch::Contains("not to a batch of 2"));
}

TEST_CASE("gemm kernels: batches that share C accumulate one after another", "[linalg]") {
  check_product<float>({60, 24, 40, false, true, 1.0, 1.0, 3});
  check_product<double>({60, 24, 40, false, false, 0.5, 0.0, 4});
  check_product<float>({70, 20, 30, true, false, 1.0, 1.0, 2});
}

TEST_CASE("gemm kernels: an element computed in the last, partial panel equals the same element in a whole one",
          "[linalg]") {
  // C = A·B for B with 65 columns and for B extended to 128: column 64 is the lone column of the last panel in
  // the first product (whatever the panel width) and inside a whole panel in the second. Its bits must agree,
  // with and without accumulation or a bias, or results would change with where a thread's block of columns ends.
  if (!cpu::products_on_tiles()) {
    WARN("not checked: this build runs every product through OpenBLAS (no AVX2 with FMA, nor AVX-512)");
    return;
  }
  for (const auto& [beta, with_bias] : {std::pair{0.0, false}, {1.0, false}, {0.0, true}}) {
    const std::int64_t m = 54, k = 40;
    const auto bias = normal<float>(128, 6);
    const auto a = normal<float>(m * k, 3), wide = normal<float>(k * 128, 4);
    std::vector<float> narrow(static_cast<std::size_t>(k * 65));
    for (std::int64_t q = 0; q < k; ++q)
      for (std::int64_t j = 0; j < 65; ++j) narrow[std::size_t(q * 65 + j)] = wide[std::size_t(q * 128 + j)];
    const auto old = normal<float>(m * 128, 5);
    std::vector<float> c_wide = old, c_narrow(static_cast<std::size_t>(m * 65));
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < 65; ++j) c_narrow[std::size_t(i * 65 + j)] = old[std::size_t(i * 128 + j)];
    auto product = [&](const std::vector<float>& b, std::vector<float>& c, std::int64_t n) {
      GemmArgs g;
      g.m = m, g.n = n, g.k = k, g.beta = beta, g.a = a.data(), g.b = b.data(), g.c = c.data();
      if (with_bias) g.bias = bias.data();
      backend(Device{}).linalg().gemm(g);
    };
    product(wide, c_wide, 128);
    product(narrow, c_narrow, 65);
    std::int64_t differs = 0;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < 65; ++j)
        differs += c_narrow[std::size_t(i * 65 + j)] != c_wide[std::size_t(i * 128 + j)];
    INFO("beta " << beta << " bias " << with_bias);
    CHECK(differs == 0);
  }
}

TEST_CASE("OpenBLAS kernels: a generic core on a CPU with FMA units gets the OPENBLAS_CORETYPE advice", "[gemm]") {
  // OpenBLAS 0.3.21 does not know CPUs newer than itself and falls back to its SSE3 "Prescott" kernels.
  CHECK(cpu::blas_core_advice("Prescott", true, true) == "SkylakeX");
  CHECK(cpu::blas_core_advice("Prescott", true, false) == "Haswell");
  CHECK(cpu::blas_core_advice("Sandybridge", true, false) == "Haswell");  // AVX without FMA kernels
  CHECK(cpu::blas_core_advice("Prescott", false, false).empty());        // nothing better to run
  // Cores with FMA kernels, in openblas_get_corename()'s spelling and in upper case.
  for (const char* core : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SAPPHIRERAPIDS"}) {
    INFO(core);
    CHECK(cpu::blas_core_advice(core, true, true).empty());
  }
}
