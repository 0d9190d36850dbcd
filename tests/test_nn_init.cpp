// Initializers: Keras's fans, names and distributions, checked by statistics with wide safe bounds
// (each bound is at least 6 standard errors of the estimate) and exact properties.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "nn_helpers.hpp"
#include "xgrad/nn/initializers.hpp"

using namespace xgrad;
using namespace xgrad::nn;
using Catch::Matchers::Contains;
using xgrad::test::message_of;

namespace {

struct Stats {
  double mean = 0, variance = 0, min = 0, max = 0;
};

Stats stats_of(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  Stats s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  for (double x : v) s.variance += (x - s.mean) * (x - s.mean);
  s.variance /= static_cast<double>(v.size());
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  s.min = *lo;
  s.max = *hi;
  return s;
}

Tensor draw(const Initializer& init, const Shape& shape, std::uint64_t seed = 1, DType dtype = DType::float64) {
  Generator gen(seed);
  return init(shape, dtype, gen);
}

// (rows, cols) Gram matrix of the columns of a row-major matrix: G = A^T A.
std::vector<double> gram_of_columns(const std::vector<double>& a, std::int64_t rows, std::int64_t cols) {
  std::vector<double> g(static_cast<std::size_t>(cols * cols), 0.0);
  for (std::int64_t i = 0; i < cols; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      for (std::int64_t r = 0; r < rows; ++r)
        g[static_cast<std::size_t>(i * cols + j)] +=
            a[static_cast<std::size_t>(r * cols + i)] * a[static_cast<std::size_t>(r * cols + j)];
  return g;
}

void check_identity(const std::vector<double>& g, std::int64_t n, double scale = 1.0) {
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      CHECK(g[static_cast<std::size_t>(i * n + j)] == Approx(i == j ? scale : 0.0).margin(1e-12));
}

std::vector<double> transpose(const std::vector<double>& a, std::int64_t rows, std::int64_t cols) {
  std::vector<double> t(a.size());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      t[static_cast<std::size_t>(c * rows + r)] = a[static_cast<std::size_t>(r * cols + c)];
  return t;
}

}  // namespace

TEST_CASE("compute_fans: Keras fans for scalars, vectors, matrices and conv kernels", "[layers]") {
  CHECK(compute_fans({}).fan_in == 1);
  CHECK(compute_fans({}).fan_out == 1);
  CHECK(compute_fans({7}).fan_in == 7);
  CHECK(compute_fans({7}).fan_out == 7);
  CHECK(compute_fans({4, 5}).fan_in == 4);
  CHECK(compute_fans({4, 5}).fan_out == 5);
  // (kh, kw, in, out): the receptive field 3 * 3 multiplies both.
  CHECK(compute_fans({3, 3, 4, 8}).fan_in == 36);
  CHECK(compute_fans({3, 3, 4, 8}).fan_out == 72);
}

TEST_CASE("Initializers: zeros, ones, constant and identity give exact values", "[layers]") {
  CHECK(draw("zeros", {2, 3}).to_vector() == std::vector<double>(6, 0.0));
  CHECK(draw("ones", {4}).to_vector() == std::vector<double>(4, 1.0));
  CHECK(draw(initializers::constant(2.5), {3}).to_vector() == std::vector<double>(3, 2.5));
  CHECK(draw(initializers::identity(2.0), {2, 3}).to_vector() == std::vector<double>{2, 0, 0, 0, 2, 0});
  Tensor f32 = draw("ones", {2}, 1, DType::float32);
  CHECK(f32.dtype() == DType::float32);
  CHECK(f32.shape() == Shape{2});
}

TEST_CASE("Initializers: Keras names, CamelCase spellings and aliases resolve", "[layers]") {
  CHECK(Initializer("he_normal").name() == "he_normal");
  CHECK(Initializer("HeNormal").name() == "he_normal");
  CHECK(Initializer("uniform").name() == "random_uniform");
  CHECK(Initializer("normal").name() == "random_normal");
  CHECK(Initializer("zero").name() == "zeros");
  CHECK(Initializer().name() == "glorot_uniform");
  // The same seed gives the same draw; another seed another one.
  CHECK(draw("glorot_uniform", {3, 4}, 5).to_vector() == draw("glorot_uniform", {3, 4}, 5).to_vector());
  CHECK(draw("glorot_uniform", {3, 4}, 5).to_vector() != draw("glorot_uniform", {3, 4}, 6).to_vector());
}

TEST_CASE("Initializers: uniform variance-scaling limits and moments (glorot, he, lecun)", "[layers]") {
  struct Case {
    const char* name;
    Shape shape;
    double limit;
  };
  // limit = sqrt(3 * scale / fan): glorot fan_avg, he scale 2 fan_in, lecun fan_in; the rank-3 case
  // has receptive field 3: fan_in 60, fan_out 90.
  const std::vector<Case> cases = {
      {"glorot_uniform", {200, 300}, std::sqrt(6.0 / 500)},
      {"glorot_uniform", {3, 20, 30}, std::sqrt(6.0 / 150)},
      {"he_uniform", {200, 300}, std::sqrt(6.0 / 200)},
      {"lecun_uniform", {200, 300}, std::sqrt(3.0 / 200)},
  };
  for (const auto& c : cases) {
    INFO(c.name << " " << shape_str(c.shape));
    const Stats s = stats_of(draw(c.name, c.shape));
    CHECK(s.min >= -c.limit);
    CHECK(s.max <= c.limit);
    CHECK(s.max >= 0.99 * c.limit);  // the limit is reached, so it is not smaller than claimed
    CHECK(std::abs(s.mean) <= 6 * std::sqrt(c.limit * c.limit / 3 / static_cast<double>(numel(c.shape))));
    // The sample variance of a uniform has relative standard error 3 * sqrt(4 / (45 n)); allow 6 of them.
    CHECK(s.variance == Approx(c.limit * c.limit / 3).epsilon(18 * std::sqrt(4.0 / 45 / static_cast<double>(numel(c.shape)))));
  }
}

TEST_CASE("Initializers: *_normal use a truncated normal whose variance is scale / fan", "[layers]") {
  struct Case {
    const char* name;
    double variance;
  };
  // Shape (400, 300): fan_in 400, fan_avg 350. The 0.8796 correction makes the variance exact.
  const std::vector<Case> cases = {{"glorot_normal", 1.0 / 350}, {"he_normal", 2.0 / 400}, {"lecun_normal", 1.0 / 400}};
  for (const auto& c : cases) {
    INFO(c.name);
    const Stats s = stats_of(draw(c.name, {400, 300}));
    const double bound = 2 * std::sqrt(c.variance) / 0.87962566103423978;  // 2 stddev of the truncated draw
    CHECK(s.max <= bound);
    CHECK(s.min >= -bound);
    CHECK(s.max >= 0.99 * bound);
    CHECK(s.variance == Approx(c.variance).epsilon(0.03));
    CHECK(std::abs(s.mean) <= 6 * std::sqrt(c.variance / 120000));
  }
}

TEST_CASE("Initializers: truncated_normal never exceeds two standard deviations", "[layers]") {
  const Stats s = stats_of(draw(initializers::truncated_normal(1.0, 0.5), {100000}));
  CHECK(s.max <= 2.0);
  CHECK(s.min >= 0.0);
  CHECK(s.max >= 1.99);
  CHECK(s.mean == Approx(1.0).margin(6 * 0.5 / std::sqrt(100000.0)));
  // A standard normal truncated to [-2, 2] has variance 0.87962566^2 = 0.77374.
  CHECK(s.variance == Approx(0.25 * 0.7737413).epsilon(0.03));
  CHECK(stats_of(draw("truncated_normal", {10000})).max <= 0.1);  // default stddev 0.05
}

TEST_CASE("Initializers: random_normal and random_uniform use Keras's defaults", "[layers]") {
  const Stats n = stats_of(draw("random_normal", {100000}));
  CHECK(n.mean == Approx(0.0).margin(6 * 0.05 / std::sqrt(100000.0)));
  CHECK(n.variance == Approx(0.0025).epsilon(0.03));
  CHECK(n.max > 0.15);  // untruncated: beyond 3 stddev somewhere in 1e5 draws
  const Stats u = stats_of(draw("uniform", {100000}));
  CHECK(u.min >= -0.05);
  CHECK(u.max < 0.05);
  CHECK(u.variance == Approx(0.1 * 0.1 / 12).epsilon(0.03));
  const Stats v = stats_of(draw(initializers::variance_scaling(2.0, "fan_out", "untruncated_normal"), {50, 200}));
  CHECK(v.variance == Approx(2.0 / 200).epsilon(0.1));
  CHECK(stats_of(draw(initializers::variance_scaling(1.0, "fan_in", "normal"), {10000, 1})).max <=
        2 / 0.87962566103423978 / 100);  // "normal" is the truncated one, fan_in 10000
}

TEST_CASE("Initializers: orthogonal gives orthonormal columns (tall) or rows (wide)", "[layers]") {
  SECTION("tall (6, 4): Q^T Q = I") {
    check_identity(gram_of_columns(draw("orthogonal", {6, 4}).to_vector(), 6, 4), 4);
  }
  SECTION("wide (3, 5): Q Q^T = I") {
    check_identity(gram_of_columns(transpose(draw("orthogonal", {3, 5}).to_vector(), 3, 5), 5, 3), 3);
  }
  SECTION("rank 3 (2, 3, 4) is flattened to (6, 4); gain scales Q^T Q to gain^2 I") {
    check_identity(gram_of_columns(draw(initializers::orthogonal(2.0), {2, 3, 4}).to_vector(), 6, 4), 4, 4.0);
  }
  SECTION("square (5, 5) is orthogonal both ways") {
    const std::vector<double> q = draw("orthogonal", {5, 5}, 9).to_vector();
    check_identity(gram_of_columns(q, 5, 5), 5);
    check_identity(gram_of_columns(transpose(q, 5, 5), 5, 5), 5);
  }
}

TEST_CASE("Initializers: bad names, shapes, dtypes and arguments throw typed errors", "[layers]") {
  const std::string unknown = message_of<ValueError>([] { Initializer("glorot"); });
  CHECK_THAT(unknown, Contains("'glorot'") && Contains("glorot_uniform") && Contains("he_normal") &&
                          Contains("zeros"));
  CHECK_THAT(message_of<ValueError>([] { draw("orthogonal", {4}); }), Contains("two-dimensional") && Contains("(4,)"));
  CHECK_THAT(message_of<ValueError>([] { draw("identity", {2, 2, 2}); }), Contains("(2, 2, 2)"));
  CHECK_THAT(message_of<TypeError>([] { draw("zeros", {2}, 1, DType::int64); }), Contains("int64"));
  CHECK_THAT(message_of<ShapeError>([] { draw("zeros", {2, -1}); }), Contains("(2, -1)"));
  CHECK_THAT(message_of<ValueError>([] { initializers::variance_scaling(1.0, "fan_sum"); }), Contains("fan_sum"));
  CHECK_THAT(message_of<ValueError>([] { initializers::variance_scaling(1.0, "fan_in", "cauchy"); }),
             Contains("cauchy"));
  CHECK_THAT(message_of<ValueError>([] { initializers::variance_scaling(0.0); }), Contains("scale"));
  CHECK_THAT(message_of<ValueError>([] { initializers::random_uniform(1.0, -1.0); }), Contains("minval"));
  CHECK_THAT(message_of<ValueError>([] { initializers::truncated_normal(0.0, -1.0); }), Contains("stddev"));
  CHECK_THAT(message_of<ValueError>([] { Initializer(InitFn{}, "mine"); }), Contains("mine"));
}

TEST_CASE("Initializers: a custom function is called with the shape, dtype and generator", "[layers]") {
  Initializer init([](const Shape& s, DType d, Generator& g) { return uniform(s, g, 3.0, 4.0, d); }, "three_ish");
  Tensor t = draw(init, {2, 2}, 3, DType::float32);
  CHECK(init.name() == "three_ish");
  CHECK(t.dtype() == DType::float32);
  CHECK(t.shape() == Shape{2, 2});
  const Stats s = stats_of(t);
  CHECK(s.min >= 3.0);
  CHECK(s.max < 4.0);
}
