// The bfloat16 product policy (xgrad/ops/precision.hpp): products against a reference that rounds the operands
// to bfloat16 by hand and accumulates in float64; float64 untouched; parameters, gradients and optimizer state
// float32; a tiny model trained in bfloat16 ends near the float32 run.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <limits>
#include <thread>

#if XGRAD_HAVE_ONEDNN
#include <omp.h>  // the OpenMP runtime oneDNN runs on (tests/CMakeLists.txt links it)
#endif

#include "../lib/backend/cpu/bf16_gemm.hpp"
#include "testing.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/linalg.hpp"
#include "xgrad/nn/transformer.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/precision.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

namespace {

// x rounded to the nearest bfloat16 (8 significant bits, ties to even; below 2^-126 a fixed step of 2^-133, as
// float32's subnormals), through frexp/ldexp rather than bits.
double to_bf16(double x) {
  if (x == 0 || !std::isfinite(x)) return x;
  if (std::abs(x) < std::ldexp(1.0, -126)) return std::ldexp(std::nearbyint(std::ldexp(x, 133)), -133);
  int e = 0;
  const double frac = std::frexp(x, &e);                   // x = frac * 2^e, 0.5 <= |frac| < 1
  return std::ldexp(std::nearbyint(std::ldexp(frac, 8)), e - 8);  // nearbyint: ties to even
}

// Stored (rows, cols) row-major values of t, element (r, c).
struct Matrix {
  std::vector<double> v;
  std::int64_t cols;
  double at(std::int64_t r, std::int64_t c) const { return v[std::size_t(r * cols + c)]; }
};

// op(A)·op(B) with both operands rounded to bfloat16, summed in float64; also Σ|a·b| per element, the scale
// of float32 accumulation error.
struct Reference {
  std::vector<double> value, magnitude;
};
Reference bf16_reference(const Tensor& a, const Tensor& b, bool ta, bool tb, std::int64_t m, std::int64_t n,
                         std::int64_t k) {
  Matrix A{a.to_vector(), a.size(-1)}, B{b.to_vector(), b.size(-1)};
  Reference r{std::vector<double>(std::size_t(m * n)), std::vector<double>(std::size_t(m * n))};
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t p = 0; p < k; ++p) {
        const double x = to_bf16(ta ? A.at(p, i) : A.at(i, p)) * to_bf16(tb ? B.at(j, p) : B.at(p, j));
        r.value[std::size_t(i * n + j)] += x;
        r.magnitude[std::size_t(i * n + j)] += std::abs(x);
      }
  return r;
}

// Products of bfloat16 operands are exact in float32 (8 x 8 significant bits); only float32 accumulation
// rounds, by at most about k ulps of the running magnitude.
constexpr double kAccumulationTol = 1e-5;

// Native bfloat16 products where the CPU has them, the CPU backend's emulation elsewhere, for one test.
class Bf16Products {
 public:
  Bf16Products() { cpu::set_bf16_emulation(!bf16_products_supported()); }
  ~Bf16Products() { cpu::set_bf16_emulation(false); }
  Bf16Products(const Bf16Products&) = delete;
  Bf16Products& operator=(const Bf16Products&) = delete;
};

Tensor random32(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, DType::float32);
}

}  // namespace

TEST_CASE("bf16 rounding reference: ties to even, 8 significant bits", "[precision]") {
  CHECK(to_bf16(1.0) == 1.0);
  CHECK(to_bf16(1.0 + 1.0 / 256) == 1.0);                  // halfway between 1 and 1 + 2^-7: even is 1
  CHECK(to_bf16(1.0 + 3.0 / 256) == 1.0 + 4.0 / 256);      // halfway, rounds up to the even 1 + 2^-6
  CHECK(to_bf16(1.0 + 1.5 / 256) == 1.0 + 1.0 / 128);
  CHECK(to_bf16(-3.14159265) == -3.140625);
  CHECK(to_bf16(std::ldexp(3.5, -133)) == std::ldexp(4.0, -133));  // subnormal: ties to even multiples of 2^-133
}

TEST_CASE("PrecisionScope: thread-local, nestable, restored on exit", "[precision]") {
  CHECK(product_precision() == ProductPrecision::float32);
  {
    PrecisionScope bf16(ProductPrecision::bfloat16);
    CHECK(product_precision() == ProductPrecision::bfloat16);
    ProductPrecision other = ProductPrecision::bfloat16;
    std::thread([&] { other = product_precision(); }).join();
    CHECK(other == ProductPrecision::float32);
    {
      PrecisionScope f32(ProductPrecision::float32);
      CHECK(product_precision() == ProductPrecision::float32);
    }
    CHECK(product_precision() == ProductPrecision::bfloat16);
  }
  CHECK(product_precision() == ProductPrecision::float32);
}

TEST_CASE("bf16 products: matmul and linear match bf16-rounded operands summed in float64", "[precision]") {
  struct Case {
    std::int64_t m, n, k;
    bool ta, tb;
  };
  // Small products run as one call; 300 x 96 x 64 is cut into row blocks, 24 x 300 x 64 into column blocks.
  const Case cases[] = {{3, 5, 7, false, false}, {3, 5, 7, true, false}, {3, 5, 7, false, true},
                        {3, 5, 7, true, true},   {300, 96, 64, false, false}, {300, 96, 64, true, true},
                        {24, 300, 64, false, true}};
  const Bf16Products bf16_here;
  for (const Case& c : cases) {
    INFO("m " << c.m << " n " << c.n << " k " << c.k << " ta " << c.ta << " tb " << c.tb);
    const Tensor a = random32(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, 1);
    const Tensor b = random32(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, 2);
    const Tensor f32 = matmul(a, b, c.ta, c.tb);
    Tensor bf16;
    {
      PrecisionScope scope(ProductPrecision::bfloat16);
      bf16 = matmul(a, b, c.ta, c.tb);
    }
    REQUIRE(bf16.dtype() == DType::float32);
    const Reference ref = bf16_reference(a, b, c.ta, c.tb, c.m, c.n, c.k);
    const auto got = bf16.to_vector(), exact = f32.to_vector();
    double largest_rounding_effect = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("element " << i);
      CHECK(std::abs(got[i] - ref.value[i]) <= kAccumulationTol * ref.magnitude[i] + 1e-30);
      largest_rounding_effect = std::max(largest_rounding_effect, std::abs(exact[i] - got[i]) / ref.magnitude[i]);
    }
    // The operands really were rounded: bfloat16's 2^-9 relative rounding shows, far above float32's.
    CHECK(largest_rounding_effect > 1e-4);
  }
}

TEST_CASE("bf16 products: linear with bias and a batched matmul", "[precision]") {
  const Tensor x = random32({2, 3, 8}, 3), w = random32({5, 8}, 4), bias = random32({5}, 5);
  const Tensor q = random32({2, 4, 6, 8}, 6), k = random32({2, 4, 7, 8}, 7);
  const Bf16Products bf16_here;
  Tensor y, s;
  {
    PrecisionScope scope(ProductPrecision::bfloat16);
    y = linear(x, w, bias, /*transpose_weight=*/true);
    s = matmul(q, k, false, true);  // per-head Q·Kᵀ (2, 4, 6, 7)
  }
  const Reference ry = bf16_reference(reshape(x, {6, 8}), w, false, true, 6, 5, 8);
  const auto yv = y.to_vector(), bv = bias.to_vector();
  for (std::size_t i = 0; i < yv.size(); ++i)
    CHECK(std::abs(yv[i] - (ry.value[i] + bv[i % 5])) <= kAccumulationTol * (ry.magnitude[i] + std::abs(bv[i % 5])));
  const auto sv = s.to_vector(), qv = q.to_vector(), kv = k.to_vector();
  for (std::int64_t h = 0; h < 8; ++h) {
    const Tensor qh = from_vector({qv.begin() + h * 48, qv.begin() + (h + 1) * 48}, {6, 8});
    const Tensor kh = from_vector({kv.begin() + h * 56, kv.begin() + (h + 1) * 56}, {7, 8});
    const Reference r = bf16_reference(qh, kh, false, true, 6, 7, 8);
    for (std::size_t i = 0; i < 42; ++i) {
      INFO("head " << h << " element " << i);
      CHECK(std::abs(sv[std::size_t(h * 42) + i] - r.value[i]) <= kAccumulationTol * r.magnitude[i]);
    }
  }
}

TEST_CASE("bf16 products: the backward's products round too and gradients stay float32", "[precision]") {
  // loss = Σ a·b  =>  dA = 1·Bᵀ: row sums of B, each element of B rounded to bfloat16 (the ones are exact).
  Tensor a = random32({4, 6}, 8).set_requires_grad(), b = random32({6, 5}, 9).set_requires_grad();
  const Bf16Products bf16_here;
  {
    PrecisionScope scope(ProductPrecision::bfloat16);
    sum(matmul(a, b)).backward();
  }
  REQUIRE(a.grad().dtype() == DType::float32);
  REQUIRE(b.grad().dtype() == DType::float32);
  const auto bv = b.to_vector(), av = a.to_vector(), da = a.grad().to_vector(), db = b.grad().to_vector();
  const auto round = to_bf16;
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 6; ++j) {
      double want = 0, scale = 0;
      for (std::int64_t n = 0; n < 5; ++n) {
        want += round(bv[std::size_t(j * 5 + n)]);
        scale += std::abs(bv[std::size_t(j * 5 + n)]);
      }
      CHECK(std::abs(da[std::size_t(i * 6 + j)] - want) <= kAccumulationTol * scale);
    }
  for (std::int64_t j = 0; j < 6; ++j)  // dB = Aᵀ·1: column sums of A
    for (std::int64_t n = 0; n < 5; ++n) {
      double want = 0, scale = 0;
      for (std::int64_t i = 0; i < 4; ++i) {
        want += round(av[std::size_t(i * 6 + j)]);
        scale += std::abs(av[std::size_t(i * 6 + j)]);
      }
      CHECK(std::abs(db[std::size_t(j * 5 + n)] - want) <= kAccumulationTol * scale);
    }
}

TEST_CASE("bf16 policy: float64 products and gradcheck are unaffected", "[precision]") {
  const Tensor a = test::randn64({5, 7}, 10), b = test::randn64({7, 3}, 11);
  const auto outside = matmul(a, b).to_vector();
  PrecisionScope scope(ProductPrecision::bfloat16);
  CHECK(matmul(a, b).to_vector() == outside);  // bit for bit
  test::check_gradcheck([](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2], true); },
                        {test::randn64({3, 4}, 12), test::randn64({2, 4}, 13), test::randn64({2}, 14)});
}

namespace {

// A one-block TransformerLM learning a fixed periodic sequence; returns the final loss (evaluated in float32)
// after `steps` Adam steps, training products in `precision`. Every parameter, gradient and Adam moment is
// checked to be float32 along the way.
double train_tiny_lm(ProductPrecision precision, int steps) {
  nn::TransformerLM model({.vocab_size = 11, .context_length = 16, .d_model = 32, .num_heads = 2, .num_layers = 1,
                           .seed = 42});
  optim::Adam opt(model.named_trainable_parameters(), {.lr = 1e-2});
  std::vector<std::int64_t> inputs, targets;
  for (std::int64_t row = 0; row < 8; ++row)
    for (std::int64_t t = 0; t < 16; ++t) {
      inputs.push_back((row * 3 + t * t) % 11);
      targets.push_back((row * 3 + (t + 1) * (t + 1)) % 11);
    }
  const Tensor ids = index_tensor(inputs, {8, 16}), y = index_tensor(targets, {128});
  const auto loss_of = [&] { return cross_entropy(reshape(model.forward(ids), {128, 11}), y); };
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    PrecisionScope scope(precision);
    loss_of().backward();
    opt.step();
  }
  for (const auto& p : model.named_trainable_parameters()) {
    INFO(p.first);
    CHECK(p.second.dtype() == DType::float32);
    CHECK(p.second.grad().dtype() == DType::float32);
  }
  int moments = 0;
  for (const auto& s : opt.state()) {  // the moments exp_avg.<name> and exp_avg_sq.<name>; "step" counts in int64
    if (s.first.rfind("exp_avg", 0) != 0) continue;
    INFO(s.first);
    CHECK(s.second.dtype() == DType::float32);
    ++moments;
  }
  CHECK(moments == 2 * int(model.named_trainable_parameters().size()));
  NoGradGuard no_grad;
  return loss_of().item();
}

}  // namespace

TEST_CASE("bf16 policy: a tiny LM trained in bf16 ends within 5% of the float32 run", "[precision]") {
  const Bf16Products bf16_here;
  const double initial = std::log(11.0);
  const double f32 = train_tiny_lm(ProductPrecision::float32, 20), bf16 = train_tiny_lm(ProductPrecision::bfloat16, 20);
  INFO("float32 " << f32 << ", bfloat16 " << bf16);
  CHECK(f32 < 0.5 * initial);  // the run learned something, so the comparison means something
  CHECK(bf16 != f32);  // the bfloat16 run really rounded
  CHECK(std::abs(bf16 - f32) <= 0.05 * f32);
}

TEST_CASE("bf16 products: the backend rounds like the hand reference, NaN and infinity included", "[precision]") {
  const float big = std::numeric_limits<float>::max(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> x{0.0f, -0.0f, 1.0f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -3.14159265f, 1e-40f, big, -inf,
                       std::nanf("")};
  Generator gen(15);
  for (double v : randn({1000}, gen, DType::float64, 0.0, 100.0).to_vector()) x.push_back(float(v));
  std::vector<float> through(x.size());
  std::vector<cpu::bf16_bits> bits(x.size());
  cpu::round_through_bf16(x.data(), through.data(), std::int64_t(x.size()));
  cpu::round_to_bf16(x.data(), bits.data(), std::int64_t(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i]);
    CHECK(std::uint32_t{bits[i]} << 16 == std::bit_cast<std::uint32_t>(through[i]));
    if (std::isnan(x[i])) {
      CHECK(std::isnan(through[i]));
    } else if (std::abs(x[i]) == big) {
      CHECK(through[i] == inf);  // beyond bfloat16's largest finite value, 0x7f7f << 16
    } else {
      CHECK(double(through[i]) == to_bf16(double(x[i])));
    }
  }
}

TEST_CASE("bf16 products: the dot-product rate against float32 FMAs is measured once, where native", "[precision]") {
  const double speedup = cpu::bf16_dot_speedup();
  if (!bf16_products_supported()) {
    CHECK(speedup == 0);
    return;
  }
  // vdpbf16ps does 64 FLOP against an FMA's 32: at one per cycle against two per cycle it is 1, at the FMA's
  // rate 2. A measurement outside [0.25, 4] is a broken one.
  WARN("bf16 dot products run at " << speedup << "x the float32 FMA FLOP rate here");
  CHECK(speedup > 0.25);
  CHECK(speedup < 4);
  CHECK(cpu::bf16_dot_speedup() == speedup);  // measured once, then kept
}

TEST_CASE("bf16 products: where not native and not emulated, the product is the float32 one", "[precision]") {
  const Tensor a = random32({40, 70}, 16), b = random32({70, 30}, 17);
  Tensor bf16;
  {
    PrecisionScope scope(ProductPrecision::bfloat16);
    bf16 = matmul(a, b);
  }
  if (bf16_products_supported())
    CHECK(bf16.to_vector() != matmul(a, b).to_vector());  // native: rounded
  else
    CHECK(bf16.to_vector() == matmul(a, b).to_vector());  // one line on stderr, then exactly float32
}

TEST_CASE("oneDNN GEMM wrapper: strides, transposes, alpha, beta and cached primitives across threads",
          "[precision]") {
  // The wrapper that runs bfloat16 products, on float32 operands (which every CPU oneDNN runs on), so its
  // memory descriptors, scales, sum post-op and per-thread cache are checked on any machine.
  if (!cpu::onednn_built()) {
    CHECK(!bf16_products_supported());  // without oneDNN nothing is native
    return;
  }
  struct Case {
    std::int64_t m, n, k, lda, ldb, ldc;
    bool ta, tb;
    double alpha, beta;
  };
  // Leading dimensions larger than the rows read: blocks of bigger stored matrices, as linalg.cpp passes them.
  const Case cases[] = {{5, 7, 3, 3, 7, 7, false, false, 1.0, 0.0},   {5, 7, 3, 9, 11, 10, false, false, 0.5, 1.0},
                        {5, 7, 3, 6, 4, 8, true, true, 1.0, 0.25},    {33, 17, 20, 40, 20, 17, false, true, 2.0, 0.0},
                        {33, 17, 20, 33, 18, 19, true, false, 1.0, 1.0}};
  const auto run = [&](std::uint64_t seed, bool& ok) {
    ok = true;
    for (int repeat = 0; repeat < 3; ++repeat)  // the second and third calls hit the cache with new buffers
      for (const Case& c : cases) {
        const std::int64_t a_rows = c.ta ? c.k : c.m, b_rows = c.tb ? c.n : c.k;
        const auto av = random32({a_rows * c.lda}, seed).to_vector();
        const auto bv = random32({b_rows * c.ldb}, seed + 1).to_vector();
        const auto cv = random32({c.m * c.ldc}, seed + 2).to_vector();
        const std::vector<float> a(av.begin(), av.end()), b(bv.begin(), bv.end());
        std::vector<float> out(cv.begin(), cv.end());
        GemmArgs g;
        g.m = c.m, g.n = c.n, g.k = c.k, g.trans_a = c.ta, g.trans_b = c.tb, g.alpha = c.alpha, g.beta = c.beta;
        cpu::onednn_gemm<float>(g, a.data(), c.lda, b.data(), c.ldb, out.data(), c.ldc);
        for (std::int64_t i = 0; i < c.m; ++i)
          for (std::int64_t j = 0; j < c.ldc; ++j) {
            const auto at = std::size_t(i * c.ldc + j);
            if (j >= c.n) {  // outside C's columns: untouched
              ok = ok && out[at] == float(cv[at]);
              continue;
            }
            double want = 0, scale = std::abs(c.beta * cv[at]);
            for (std::int64_t p = 0; p < c.k; ++p) {
              const double x = a[std::size_t(c.ta ? p * c.lda + i : i * c.lda + p)] *
                               double(b[std::size_t(c.tb ? j * c.ldb + p : p * c.ldb + j)]);
              want += c.alpha * x;
              scale += std::abs(c.alpha * x);
            }
            want += c.beta * cv[at];
            ok = ok && std::abs(out[at] - want) <= kAccumulationTol * scale + 1e-30;
          }
      }
  };
  bool ok_main = false, ok_other = false;
  std::thread other([&] { run(100, ok_other); });
  run(200, ok_main);
  other.join();
  CHECK(ok_main);
  CHECK(ok_other);
}

TEST_CASE("oneDNN GEMM wrapper: the caller's OpenMP thread count is left as it was", "[precision]") {
#if !XGRAD_HAVE_ONEDNN
  CHECK(!cpu::onednn_built());
  CHECK(!bf16_products_supported());
#else
  REQUIRE(cpu::onednn_built());
  omp_set_num_threads(3);
  std::vector<float> a(64 * 64, 1.0f), b(64 * 64, 0.5f), c(64 * 64, 0.0f);
  GemmArgs g;
  g.m = g.n = g.k = 64;
  cpu::onednn_gemm<float>(g, a.data(), 64, b.data(), 64, c.data(), 64);
  CHECK(c[0] == 32.0f);  // 64 * 1 * 0.5
  CHECK(omp_get_max_threads() == 3);
#endif
}
