#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <numbers>

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "fixtures.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {
Tensor f64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::float64); }
Tensor leaf(std::vector<double> v, Shape s) { return f64(std::move(v), std::move(s)).set_requires_grad(); }

// Uniform float64 values in [lo, hi), requiring grad; `mixed` flips every other sign.
Tensor rnd(const Shape& shape, std::uint64_t seed, double lo = -2, double hi = 2, bool mixed = false) {
  Generator gen(seed);
  auto v = uniform(shape, gen, lo, hi, DType::float64).to_vector();
  if (mixed)
    for (std::size_t i = 1; i < v.size(); i += 2) v[i] = -v[i];
  return f64(v, shape).set_requires_grad();
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

void expect_gradients(const Fn& fn, const std::vector<Tensor>& inputs) {
  auto r = gradcheck(fn, inputs);
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.max_rel_error <= 1e-6);
}
}  // namespace

TEST_CASE("add: same shape adds elementwise", "[elementwise]") {
  Tensor c = add(f64({1, 2, 3, 4}, {2, 2}), f64({10, 20, 30, 40}, {2, 2}));
  CHECK(c.shape() == Shape{2, 2});
  CHECK(c.to_vector() == std::vector<double>{11, 22, 33, 44});
}

TEST_CASE("add: broadcasting patterns give NumPy results", "[elementwise]") {
  Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  SECTION("scalar operand") { CHECK((a + scalar(10, DType::float64)).to_vector() == std::vector<double>{11, 12, 13, 14, 15, 16}); }
  SECTION("scalar on the left") { CHECK((f64({10}, {1}) + a).to_vector() == std::vector<double>{11, 12, 13, 14, 15, 16}); }
  SECTION("row (bias)") { CHECK((a + f64({10, 20, 30}, {3})).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36}); }
  SECTION("row on the left") { CHECK((f64({10, 20, 30}, {1, 3}) + a).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36}); }
  SECTION("column") { CHECK((a + f64({10, 20}, {2, 1})).to_vector() == std::vector<double>{11, 12, 13, 24, 25, 26}); }
  SECTION("both sides (2,1)x(1,3)") {
    Tensor c = f64({1, 2}, {2, 1}) + f64({10, 20, 30}, {1, 3});
    CHECK(c.shape() == Shape{2, 3});
    CHECK(c.to_vector() == std::vector<double>{11, 21, 31, 12, 22, 32});
  }
  SECTION("middle axis (2,1,2)x(2,3,2)") {
    Tensor b = f64({0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5}, {2, 3, 2});
    Tensor c = f64({100, 200, 300, 400}, {2, 1, 2}) + b;
    CHECK(c.shape() == Shape{2, 3, 2});
    CHECK(c.to_vector() == std::vector<double>{100, 200, 101, 201, 102, 202, 303, 403, 304, 404, 305, 405});
  }
}

TEST_CASE("sub, mul, div, pow: values by hand", "[elementwise]") {
  Tensor a = f64({1, 2, 3, 4}, {2, 2});
  Tensor b = f64({2, 4}, {2});
  CHECK((a - b).to_vector() == std::vector<double>{-1, -2, 1, 0});
  CHECK((a * b).to_vector() == std::vector<double>{2, 8, 6, 16});
  CHECK((a / b).to_vector() == std::vector<double>{0.5, 0.5, 1.5, 1});
  CHECK(pow(a, b).to_vector() == std::vector<double>{1, 16, 9, 256});
  CHECK(pow(a, 2.0).to_vector() == std::vector<double>{1, 4, 9, 16});
  CHECK(pow(a, 3.0).to_vector()[2] == Approx(27).epsilon(1e-14));
  CHECK(pow(a, 0.5).to_vector()[3] == 2);
  CHECK(pow(f64({-2, -3}, {2}), 3.0).to_vector() == std::vector<double>{-8, -27});  // odd power keeps the sign
  // Integer exponents multiply, so they are exact wherever the products are, in SIMD-length tensors too.
  std::vector<double> xs, cubes, inverse_squares;
  for (int i = -12; i <= 12; ++i) {
    xs.push_back(i == 0 ? 0.5 : i);
    cubes.push_back(xs.back() * xs.back() * xs.back());
    inverse_squares.push_back(1.0 / (xs.back() * xs.back()));
  }
  CHECK(pow(f64(xs, {25}), 3.0).to_vector() == cubes);
  CHECK(pow(f64(xs, {25}), -2.0).to_vector() == inverse_squares);
  CHECK(pow(f64({-2, 4}, {2}), -1.0).to_vector() == std::vector<double>{-0.5, 0.25});
}

TEST_CASE("scalar forms: a+s, a*s, s-a, s/a, a-s, a/s, -a", "[elementwise]") {
  Tensor a = f64({1, 2, 4}, {3});
  CHECK((a + 1.0).to_vector() == std::vector<double>{2, 3, 5});
  CHECK((1.0 + a).to_vector() == std::vector<double>{2, 3, 5});
  CHECK((a - 1.0).to_vector() == std::vector<double>{0, 1, 3});
  CHECK((1.0 - a).to_vector() == std::vector<double>{0, -1, -3});
  CHECK((a * 3.0).to_vector() == std::vector<double>{3, 6, 12});
  CHECK((3.0 * a).to_vector() == std::vector<double>{3, 6, 12});
  CHECK((a / 2.0).to_vector() == std::vector<double>{0.5, 1, 2});
  CHECK((4.0 / a).to_vector() == std::vector<double>{4, 2, 1});
  CHECK((-a).to_vector() == std::vector<double>{-1, -2, -4});
}

TEST_CASE("add/mul backward: broadcast gradients are summed over broadcast axes", "[elementwise]") {
  Tensor a = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = leaf({10, 20, 30}, {3});
  Tensor c = leaf({2, 3}, {2, 1});
  sum(a * b + c).backward();
  // d/da = b (broadcast), d/db = column sums of a, d/dc = 3 per row
  CHECK(a.grad().to_vector() == std::vector<double>{10, 20, 30, 10, 20, 30});
  CHECK(b.grad().to_vector() == std::vector<double>{5, 7, 9});
  CHECK(c.grad().shape() == Shape{2, 1});
  CHECK(c.grad().to_vector() == std::vector<double>{3, 3});
}

TEST_CASE("mul backward: an input that needs no gradient gets none", "[elementwise]") {
  Tensor a = leaf({1, 2}, {2});
  Tensor b = f64({3, 4}, {2});
  sum(a * b).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{3, 4});
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("binary ops: bad inputs throw typed errors naming op and shapes", "[elementwise]") {
  Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = f64({1, 2}, {2});
  CHECK_THROWS_AS(add(a, b), ShapeError);
  CHECK_THROWS_WITH(add(a, b), Contains("add") && Contains("(2, 3)") && Contains("(2,)"));
  CHECK_THROWS_WITH(sub(a, b), Contains("sub") && Contains("(2, 3)") && Contains("(2,)"));
  CHECK_THROWS_WITH(mul(a, b), Contains("mul") && Contains("(2, 3)") && Contains("(2,)"));
  CHECK_THROWS_WITH(div(a, b), Contains("div") && Contains("(2, 3)") && Contains("(2,)"));
  CHECK_THROWS_WITH(pow(a, b), Contains("pow") && Contains("(2, 3)") && Contains("(2,)"));
  Tensor f = from_vector({1, 2, 3}, {3}, DType::float32);
  CHECK_THROWS_AS(add(f, f64({1, 2, 3}, {3})), TypeError);
  CHECK_THROWS_WITH(mul(f, f64({1, 2, 3}, {3})), Contains("mul") && Contains("float32") && Contains("float64"));
  Tensor i = index_tensor({1, 2, 3}, {3});
  CHECK_THROWS_AS(add(i, i), TypeError);
  CHECK_THROWS_AS(div(f, i), TypeError);
  CHECK_THROWS_AS(add(Tensor(), f), ValueError);
}

TEST_CASE("pow backward: zero base with positive exponent has zero exponent gradient", "[elementwise]") {
  Tensor a = leaf({0, 2}, {2});
  Tensor b = leaf({2, 3}, {2});
  sum(pow(a, b)).backward();
  // d/da = b a^(b-1) = {0, 12}; d/db = a^b log a = {0 (limit), 8 log 2}
  CHECK(a.grad().to_vector() == std::vector<double>{0, 12});
  CHECK(b.grad().to_vector()[0] == 0);
  CHECK(b.grad().to_vector()[1] == Approx(8 * std::log(2.0)).epsilon(1e-15));
}

TEST_CASE("empty tensors: elementwise ops and broadcasting give empty results", "[elementwise]") {
  Tensor e = zeros({0, 3}, DType::float64);
  CHECK((e + f64({1, 2, 3}, {3})).shape() == Shape{0, 3});
  CHECK(exp(e).shape() == Shape{0, 3});
  CHECK(gelu(e).numel() == 0);
  CHECK(where(e, e, f64({1}, {1})).shape() == Shape{0, 3});
  CHECK(sum(e, {0}).to_vector() == std::vector<double>{0, 0, 0});
  CHECK(sum(e, {1}).shape() == Shape{0});
}

TEST_CASE("unary math: values by hand", "[elementwise]") {
  Tensor x = f64({-2, -0.5, 0, 1, 3}, {5});
  const auto v = x.to_vector();
  auto each = [&](const Tensor& y, auto f) {
    const auto got = y.to_vector();
    REQUIRE(got.size() == v.size());
    for (std::size_t i = 0; i < v.size(); ++i) CHECK(got[i] == Approx(f(v[i])).epsilon(1e-14).margin(1e-300));
  };
  each(exp(x), [](double t) { return std::exp(t); });
  each(tanh(x), [](double t) { return std::tanh(t); });
  each(sigmoid(x), [](double t) { return 1 / (1 + std::exp(-t)); });
  each(abs(x), [](double t) { return std::fabs(t); });
  each(relu(x), [](double t) { return t > 0 ? t : 0.0; });
  each(neg(x), [](double t) { return -t; });
  Tensor p = f64({0.25, 1, 4, 9}, {4});
  CHECK(sqrt(p).to_vector() == std::vector<double>{0.5, 1, 2, 3});
  CHECK(log(p).to_vector()[1] == 0);
  CHECK(log(p).to_vector()[2] == Approx(std::log(4.0)).epsilon(1e-15));
}

TEST_CASE("sigmoid: saturates without overflow or NaN", "[elementwise]") {
  for (DType dt : {DType::float32, DType::float64}) {
    const auto y = sigmoid(from_vector({-1000, -100, 100, 1000}, {4}, dt)).to_vector();
    CHECK(y[0] == 0);
    CHECK(y[1] == Approx(std::exp(-100.0)).epsilon(1e-5).margin(1e-40));
    CHECK(y[2] == 1);
    CHECK(y[3] == 1);
  }
}

TEST_CASE("unary backward: values by hand at simple points", "[elementwise]") {
  auto grad_of = [](Tensor (*f)(const Tensor&), std::vector<double> v) {
    Tensor x = leaf(v, {static_cast<std::int64_t>(v.size())});
    sum(f(x)).backward();
    return x.grad().to_vector();
  };
  CHECK(grad_of(exp, {0, 1})[1] == Approx(std::exp(1.0)).epsilon(1e-15));
  CHECK(grad_of(log, {2, 4}) == std::vector<double>{0.5, 0.25});
  CHECK(grad_of(sqrt, {4, 16}) == std::vector<double>{0.25, 0.125});
  CHECK(grad_of(abs, {-2, 0, 3}) == std::vector<double>{-1, 0, 1});
  CHECK(grad_of(relu, {-2, 0, 3}) == std::vector<double>{0, 0, 1});
  CHECK(grad_of(tanh, {0})[0] == 1);
  CHECK(grad_of(sigmoid, {0})[0] == 0.25);
  CHECK(grad_of(neg, {5}) == std::vector<double>{-1});
}

// Tolerance 1e-9: xsimd's double erfc is good to ~3e-12 relative, while torch's 1 + erf(x/sqrt2)
// loses ~1e-10 relative to cancellation near x = -6.
TEST_CASE("gelu exact and tanh forms match torch, values and gradients", "[elementwise]") {
  const auto fx = test::load_fixture("elementwise_gelu.json");
  for (const char* form : {"exact", "tanh"}) {
    INFO(form);
    const auto& c = fx.at(form);
    Tensor x = test::fixture_tensor(c.at("x")).set_requires_grad();
    Tensor y = gelu(x, std::string(form) == "tanh");
    const auto want = test::fixture_tensor(c.at("y")).to_vector();
    const auto got = y.to_vector();
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-9).margin(1e-15));
    y.backward(test::fixture_tensor(c.at("grad_out")));
    const auto want_g = test::fixture_tensor(c.at("grad_x")).to_vector();
    const auto got_g = x.grad().to_vector();
    for (std::size_t i = 0; i < want_g.size(); ++i)
      CHECK(got_g[i] == Approx(want_g[i]).epsilon(1e-9).margin(1e-15));
  }
}

// float32 GELU (tanh form) against float64 over [-9, 9], SIMD batches and the scalar tail alike. The reference
// value is the identity x/2 (1 + tanh(u)) = x sigmoid(2u) in float64 (where 1 + tanh(u) itself rounds to 0 below
// x = -7); the reference gradient is a central difference of that reference. In the far negative tail the value
// is below 1e-7 and only the absolute margin applies: rounding u to float32 moves exp(-2u) by ~|2u| ulps there.
TEST_CASE("gelu tanh form in float32 matches a float64 reference over [-9, 9], values and gradients", "[elementwise]") {
  const auto reference = [](double v) {
    const double u = std::sqrt(2 / std::numbers::pi) * (v + 0.044715 * v * v * v);
    return v / (1 + std::exp(-2 * u));
  };
  std::vector<double> xs;
  for (int i = -900; i <= 900; ++i) xs.push_back(i / 100.0);  // 1801 values: SIMD batches and a scalar tail
  Tensor x = from_vector(xs, {static_cast<std::int64_t>(xs.size())}, DType::float32).set_requires_grad();
  Tensor y = gelu(x, true);
  y.backward(ones_like(y));
  const auto xv = x.to_vector(), yv = y.to_vector(), gv = x.grad().to_vector();
  for (std::size_t i = 0; i < xv.size(); ++i) {
    INFO("x = " << xv[i]);
    CHECK(yv[i] == Approx(reference(xv[i])).epsilon(1e-6).margin(1e-7));
    const double h = 1e-5, slope = (reference(xv[i] + h) - reference(xv[i] - h)) / (2 * h);
    CHECK(gv[i] == Approx(slope).epsilon(1e-5).margin(1e-6));
  }
}

TEST_CASE("broadcast arithmetic (3,1,4) with (5,1) matches torch, values and gradients", "[elementwise]") {
  const auto fx = test::load_fixture("elementwise_broadcast.json");
  Tensor a = test::fixture_tensor(fx.at("a")).set_requires_grad();
  Tensor b = test::fixture_tensor(fx.at("b")).set_requires_grad();
  Tensor y = a * b - a / b + pow(a, 2.0);
  REQUIRE(y.shape() == Shape{3, 5, 4});
  sum(y).backward();
  auto close = [](const Tensor& got, const nlohmann::json& want) {
    const auto g = got.to_vector(), w = test::fixture_tensor(want).to_vector();
    REQUIRE(g.size() == w.size());
    for (std::size_t i = 0; i < w.size(); ++i) CHECK(g[i] == Approx(w[i]).epsilon(1e-12).margin(1e-14));
  };
  close(y, fx.at("y"));
  close(a.grad(), fx.at("grad_a"));
  close(b.grad(), fx.at("grad_b"));
}

TEST_CASE("where: picks a or b with all three broadcast", "[elementwise]") {
  Tensor cond = f64({1, 0, 1}, {3});
  Tensor a = f64({1, 2}, {2, 1});
  Tensor b = f64({-1, -2, -3}, {1, 3});
  Tensor y = where(cond, a, b);
  CHECK(y.shape() == Shape{2, 3});
  CHECK(y.to_vector() == std::vector<double>{1, -2, 1, 2, -2, 2});
  CHECK(where(index_tensor({0, 5}, {2}), f64({1, 2}, {2}), f64({3, 4}, {2})).to_vector() ==
        std::vector<double>{3, 2});
  CHECK(where(f64({1, 0, 1}, {3}), f64({1, 2, 3}, {3}), scalar(9, DType::float64)).to_vector() ==
        std::vector<double>{1, 9, 3});
}

TEST_CASE("where backward: each branch gets the gradient where it was chosen", "[elementwise]") {
  Tensor cond = f64({1, 0, 1}, {3});
  Tensor a = leaf({1, 2}, {2, 1});
  Tensor b = leaf({-1, -2, -3}, {1, 3});
  sum(where(cond, a, b)).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{2, 2});
  CHECK(b.grad().to_vector() == std::vector<double>{0, 2, 0});
}

TEST_CASE("masked_fill: fills where the mask is nonzero and blocks the gradient there", "[elementwise]") {
  Tensor a = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor mask = index_tensor({0, 1, 1}, {3});
  Tensor y = masked_fill(a, mask, -1e9);
  CHECK(y.to_vector() == std::vector<double>{1, -1e9, -1e9, 4, -1e9, -1e9});
  sum(y * 2.0).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{2, 0, 0, 2, 0, 0});
  Tensor causal = from_vector({0, 1, 0, 0}, {2, 2}, DType::float32);
  Tensor s = masked_fill(ones({3, 2, 2}), causal, -INFINITY);
  CHECK(std::isinf(s.at({2, 0, 1})));
  CHECK(s.at({2, 1, 1}) == 1);
}

TEST_CASE("where and masked_fill: bad inputs throw typed errors naming the shapes", "[elementwise]") {
  Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK_THROWS_AS(where(f64({1, 0}, {2}), a, a), ShapeError);
  CHECK_THROWS_WITH(where(f64({1, 0}, {2}), a, f64({1}, {1})),
                    Contains("where") && Contains("(2,)") && Contains("(2, 3)") && Contains("(1,)"));
  CHECK_THROWS_AS(where(f64({1}, {1}), a, from_vector({1}, {1}, DType::float32)), TypeError);
  CHECK_THROWS_AS(where(f64({1}, {1}), index_tensor({1}, {1}), index_tensor({1}, {1})), TypeError);
  CHECK_THROWS_AS(where(Tensor(), a, a), ValueError);
  CHECK_THROWS_AS(masked_fill(a, f64({1, 0}, {2}), 0), ShapeError);
  // A mask that broadcasts with a but would enlarge it is refused too.
  CHECK_THROWS_WITH(masked_fill(a, f64({1, 0, 1, 0, 1, 0}, {2, 1, 3}), 0),
                    Contains("masked_fill") && Contains("(2, 1, 3)") && Contains("(2, 3)"));
  CHECK_THROWS_AS(masked_fill(index_tensor({1}, {1}), f64({1}, {1}), 0), TypeError);
  CHECK_THROWS_AS(masked_fill(a, Tensor(), 0), ValueError);
}

TEST_CASE("unary ops: int64 and undefined inputs are refused", "[elementwise]") {
  Tensor i = index_tensor({1, 2}, {2});
  for (auto f : {exp, log, sqrt, abs, tanh, sigmoid, relu, neg}) {
    CHECK_THROWS_AS(f(i), TypeError);
    CHECK_THROWS_AS(f(Tensor()), ValueError);
  }
  CHECK_THROWS_WITH(gelu(i), Contains("gelu") && Contains("int64") && Contains("(2,)"));
  CHECK_THROWS_AS(gelu(i, true), TypeError);
  CHECK_THROWS_AS(pow(i, 2.0), TypeError);
  CHECK_THROWS_AS(add(i, 1.0), TypeError);
  CHECK_THROWS_AS(mul(i, 1.0), TypeError);
  CHECK_THROWS_AS(rsub(1.0, i), TypeError);
  CHECK_THROWS_AS(rdiv(1.0, i), TypeError);
}

TEST_CASE("float32 results match float64 to ~1e-6 relative", "[elementwise]") {
  Generator gen(3);
  Tensor x64 = randn({64, 33}, gen, DType::float64);
  Tensor b64 = randn({33}, gen, DType::float64);
  Tensor c64 = randn({64, 1}, gen, DType::float64);
  Tensor x32 = x64.to(DType::float32), b32 = b64.to(DType::float32), c32 = c64.to(DType::float32);
  auto f = [](const Tensor& x, const Tensor& b, const Tensor& c) {
    Tensor p = abs(x) + 0.5;
    return std::vector<Tensor>{x + b, x * c, x / (abs(b) + 1.0), x - c, pow(p, b), exp(x), log(p), sqrt(p),
                               tanh(x), sigmoid(x), relu(x), gelu(x), gelu(x, true), 2.0 / p, 1.0 - x,
                               where(c, x, b), masked_fill(x, relu(c), 3.0)};
  };
  const auto r64 = f(x64, b64, c64), r32 = f(x32, b32, c32);
  for (std::size_t k = 0; k < r64.size(); ++k) {
    INFO("result " << k);
    CHECK(r32[k].dtype() == DType::float32);
    const auto a = r64[k].to_vector(), b = r32[k].to_vector();
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(std::abs(a[i]), 1.0));
    CHECK(worst < 1e-6);  // relative, with results below 1 in magnitude compared absolutely
  }
}

TEST_CASE("binary ops: gradcheck for every broadcasting pattern", "[elementwise]") {
  struct Pattern { const char* name; Shape a, b; };
  const Pattern patterns[] = {{"same shape", {2, 3}, {2, 3}}, {"scalar", {2, 3}, {}},
                              {"scalar on the left", {}, {2, 3}}, {"row", {2, 3}, {3}},
                              {"column", {2, 3}, {2, 1}}, {"both sides", {3, 1}, {1, 4}},
                              {"middle axis", {2, 1, 3}, {2, 4, 3}}};
  const std::pair<const char*, Fn> ops[] = {
      {"add", [](const std::vector<Tensor>& t) { return add(t[0], t[1]); }},
      {"sub", [](const std::vector<Tensor>& t) { return sub(t[0], t[1]); }},
      {"mul", [](const std::vector<Tensor>& t) { return mul(t[0], t[1]); }},
      {"div", [](const std::vector<Tensor>& t) { return div(t[0], t[1]); }},
      {"pow", [](const std::vector<Tensor>& t) { return pow(t[0], t[1]); }}};
  std::uint64_t seed = 1;
  for (const auto& p : patterns)
    for (const auto& [name, fn] : ops) {
      INFO(name << " with " << p.name);
      // div needs b away from 0, pow needs a > 0.
      Tensor a = std::string(name) == "pow" ? rnd(p.a, seed++, 0.5, 2) : rnd(p.a, seed++);
      Tensor b = std::string(name) == "div" ? rnd(p.b, seed++, 0.5, 2, true) : rnd(p.b, seed++);
      expect_gradients(fn, {a, b});
    }
}

TEST_CASE("binary ops: gradcheck when only one input requires grad, and for a + a", "[elementwise]") {
  Tensor a = rnd({2, 3}, 50), b = rnd({3}, 51, 0.5, 2).detach();
  expect_gradients([&](const std::vector<Tensor>& t) { return div(t[0], b) * b; }, {a});
  expect_gradients([](const std::vector<Tensor>& t) { return t[0] * t[0] + t[0]; }, {a});
}

TEST_CASE("scalar forms and pow(a, p): gradcheck", "[elementwise]") {
  Tensor a = rnd({3, 4}, 60, 0.3, 2, true);
  Tensor pos = rnd({3, 4}, 61, 0.3, 2);
  expect_gradients([](const std::vector<Tensor>& t) { return t[0] + 1.5; }, {a});
  expect_gradients([](const std::vector<Tensor>& t) { return t[0] * -2.5; }, {a});
  expect_gradients([](const std::vector<Tensor>& t) { return 3.0 - t[0]; }, {a});
  expect_gradients([](const std::vector<Tensor>& t) { return 3.0 / t[0]; }, {a});
  expect_gradients([](const std::vector<Tensor>& t) { return t[0] / 4.0 - 1.0; }, {a});
  for (double p : {0.0, 1.0, 2.0, 3.0, -1.0}) {
    INFO("p = " << p);
    expect_gradients([p](const std::vector<Tensor>& t) { return pow(t[0], p); }, {a});
  }
  for (double p : {0.5, -1.5, 2.7}) {
    INFO("p = " << p);
    expect_gradients([p](const std::vector<Tensor>& t) { return pow(t[0], p); }, {pos});
  }
}

TEST_CASE("unary ops: gradcheck", "[elementwise]") {
  Tensor x = rnd({4, 5}, 70, -3, 3);
  Tensor pos = rnd({4, 5}, 71, 0.2, 3);
  Tensor off0 = rnd({4, 5}, 72, 0.1, 3, true);  // abs and relu away from their kink at 0
  expect_gradients([](const std::vector<Tensor>& t) { return exp(t[0]); }, {x});
  expect_gradients([](const std::vector<Tensor>& t) { return log(t[0]); }, {pos});
  expect_gradients([](const std::vector<Tensor>& t) { return sqrt(t[0]); }, {pos});
  expect_gradients([](const std::vector<Tensor>& t) { return abs(t[0]); }, {off0});
  expect_gradients([](const std::vector<Tensor>& t) { return relu(t[0]); }, {off0});
  expect_gradients([](const std::vector<Tensor>& t) { return tanh(t[0]); }, {x});
  expect_gradients([](const std::vector<Tensor>& t) { return sigmoid(t[0]); }, {x});
  expect_gradients([](const std::vector<Tensor>& t) { return gelu(t[0]); }, {x});
  expect_gradients([](const std::vector<Tensor>& t) { return gelu(t[0], true); }, {x});
  expect_gradients([](const std::vector<Tensor>& t) { return neg(t[0]); }, {x});
  expect_gradients([](const std::vector<Tensor>& t) { return -t[0]; }, {x});
}

TEST_CASE("relu and abs: gradcheck through the kink with kink skipping", "[elementwise]") {
  Tensor x = leaf({-1.5, -0.25, 0, 0.5, 2}, {5});
  GradcheckOptions opt;
  opt.kink_threshold = 1e-3;
  for (auto f : {relu, abs}) {
    auto r = gradcheck([f](const std::vector<Tensor>& t) { return f(t[0]); }, {x}, opt);
    INFO(r.to_string());
    CHECK(r.passed);
    CHECK(r.skipped_kinks == 1);
  }
}

TEST_CASE("where and masked_fill: gradcheck with broadcasting", "[elementwise]") {
  Tensor cond = f64({1, 0, 0, 1}, {4});
  Tensor a = rnd({3, 1}, 80), b = rnd({2, 1, 4}, 81);
  expect_gradients([&](const std::vector<Tensor>& t) { return where(cond, t[0], t[1]); }, {a, b});
  Tensor mask = index_tensor({0, 1, 1, 0, 0, 1}, {2, 1, 3});
  Tensor c = rnd({2, 4, 3}, 82);
  expect_gradients([&](const std::vector<Tensor>& t) { return masked_fill(t[0], mask, -7.0); }, {c});
}
