#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {
Tensor f64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::float64); }
Tensor leaf(std::vector<double> v, Shape s) { return f64(std::move(v), std::move(s)).set_requires_grad(); }
// 0, 1, ..., 23 as a (2, 3, 4) tensor.
// Uniform float64 values in [-2, 2), requiring grad (distinct almost surely, so max has no ties).
Tensor rnd(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return uniform(shape, gen, -2, 2, DType::float64).set_requires_grad();
}

void expect_gradients(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const Tensor& x) {
  auto r = gradcheck(fn, {x});
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.max_rel_error <= 1e-6);
}

Tensor cube() {
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  return f64(v, {2, 3, 4});
}
}  // namespace

TEST_CASE("sum: over all axes, one axis, several axes, negative axes", "[reduction]") {
  Tensor x = cube();
  CHECK(sum(x).shape() == Shape{});
  CHECK(sum(x).item() == 276);
  // axis 0: x[0] + x[1] = 2i + 12
  Tensor s0 = sum(x, {0});
  CHECK(s0.shape() == Shape{3, 4});
  CHECK(s0.at({1, 2}) == 6 + 18);
  // last axis: row sums 4*(4r)+6
  Tensor s2 = sum(x, {-1});
  CHECK(s2.shape() == Shape{2, 3});
  CHECK(s2.to_vector() == std::vector<double>{6, 22, 38, 54, 70, 86});
  // middle axis: columns of each 3x4 block
  Tensor s1 = sum(x, {1});
  CHECK(s1.to_vector() == std::vector<double>{12, 15, 18, 21, 48, 51, 54, 57});
  // axes 0 and 2: sum over blocks and columns of each row index
  Tensor s02 = sum(x, {2, 0});
  CHECK(s02.to_vector() == std::vector<double>{6 + 54, 22 + 70, 38 + 86});
}

TEST_CASE("sum: keepdims keeps reduced axes as 1", "[reduction]") {
  Tensor s = sum(cube(), {1}, true);
  CHECK(s.shape() == Shape{2, 1, 4});
  CHECK(s.at({1, 0, 3}) == 57);
  CHECK(sum(cube(), {}, true).shape() == Shape{1, 1, 1});
}

TEST_CASE("sum: a long last axis is summed accurately", "[reduction]") {
  std::vector<double> v(1001);
  for (int i = 0; i < 1001; ++i) v[i] = i;
  CHECK(sum(f64(v, {1, 1001}), {1}).item() == 500500);
  CHECK(sum(from_vector(v, {1001}, DType::float32)).item() == 500500);
}

TEST_CASE("sum backward: gradient repeats over the reduced axes", "[reduction]") {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = f64({1, 10}, {2});
  sum(sum(x, {1}) * w).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{1, 1, 1, 10, 10, 10});
}

TEST_CASE("sum_to: reduces leading axes and axes where the target has 1", "[reduction]") {
  Tensor x = cube();
  Tensor r = sum_to(x, {3, 1});
  CHECK(r.shape() == Shape{3, 1});
  CHECK(r.to_vector() == std::vector<double>{6 + 54, 22 + 70, 38 + 86});
  Tensor c = sum_to(x, {4});
  CHECK(c.to_vector() == std::vector<double>{60, 66, 72, 78});
  CHECK(sum_to(x, {}).item() == 276);
  CHECK(sum_to(x, {2, 3, 4}).to_vector() == x.to_vector());
  CHECK(sum_to(x, {1, 1, 4}).shape() == Shape{1, 1, 4});
}

TEST_CASE("sum_to backward broadcasts the gradient back", "[reduction]") {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  sum(sum_to(x, {2, 1}) * f64({1, 10}, {2, 1})).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{1, 1, 1, 10, 10, 10});
}

TEST_CASE("sum_to: a shape that does not broadcast is a ShapeError naming both shapes", "[reduction]") {
  Tensor x = cube();
  CHECK_THROWS_AS(sum_to(x, {3}), ShapeError);
  CHECK_THROWS_WITH(sum_to(x, {3}), Contains("sum_to") && Contains("(3,)") && Contains("(2, 3, 4)"));
  CHECK_THROWS_AS(sum_to(x, {1, 2, 3, 4}), ShapeError);
  CHECK_THROWS_AS(sum_to(x, {2, 2, 4}), ShapeError);
  CHECK_THROWS_AS(sum_to(index_tensor({1}, {1}), {1}), TypeError);
}

TEST_CASE("sum: bad axes are IndexErrors naming the axis and rank", "[reduction]") {
  Tensor x = cube();
  CHECK_THROWS_AS(sum(x, {3}), IndexError);
  CHECK_THROWS_WITH(sum(x, {3}), Contains("sum") && Contains("3") && Contains("rank 3"));
  CHECK_THROWS_WITH(sum(x, {-4}), Contains("sum") && Contains("-4") && Contains("rank 3"));
  CHECK_THROWS_AS(sum(x, {1, -2}), IndexError);
  CHECK_THROWS_AS(sum(index_tensor({1, 2}, {2})), TypeError);
}

TEST_CASE("mean: divides the sum by the reduced count", "[reduction]") {
  Tensor x = cube();
  CHECK(mean(x).item() == 11.5);
  CHECK(mean(x, {-1}).to_vector() == std::vector<double>{1.5, 5.5, 9.5, 13.5, 17.5, 21.5});
  Tensor m = mean(x, {0, 2}, true);
  CHECK(m.shape() == Shape{1, 3, 1});
  CHECK(m.to_vector() == std::vector<double>{7.5, 11.5, 15.5});
  CHECK(std::isnan(mean(zeros({0, 3}, DType::float64), {0}).to_vector()[0]));
}

TEST_CASE("mean backward: gradient is dout / count", "[reduction]") {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  mean(x, {1}).backward(f64({3, 6}, {2}));
  CHECK(x.grad().to_vector() == std::vector<double>{1, 1, 1, 2, 2, 2});
}

TEST_CASE("max: over all axes, one axis, several axes, keepdims", "[reduction]") {
  Tensor x = f64({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, {2, 2, 3});
  CHECK(max(x).item() == 9);
  CHECK(max(x, {-1}).to_vector() == std::vector<double>{4, 9, 6, 8});
  CHECK(max(x, {0}).to_vector() == std::vector<double>{3, 6, 5, 3, 5, 9});
  CHECK(max(x, {0, 2}).to_vector() == std::vector<double>{6, 9});
  Tensor k = max(x, {1}, true);
  CHECK(k.shape() == Shape{2, 1, 3});
  CHECK(k.to_vector() == std::vector<double>{3, 5, 9, 3, 6, 8});
  CHECK(max(f64({-INFINITY, -INFINITY}, {2})).item() == -INFINITY);
  CHECK(std::isnan(max(f64({1, NAN, 3}, {3})).item()));
}

TEST_CASE("max backward: ties send the whole gradient to the first maximal element", "[reduction]") {
  Tensor x = leaf({5, 2, 5, 1, 0, 7, 7, 7}, {2, 4});
  max(x, {1}).backward(f64({10, 20}, {2}));
  CHECK(x.grad().to_vector() == std::vector<double>{10, 0, 0, 0, 0, 20, 0, 0});
  Tensor y = leaf({4, 4, 1, 4}, {2, 2});
  max(y, {0}).backward(f64({1, 2}, {2}));  // column 1: first max is row 0
  CHECK(y.grad().to_vector() == std::vector<double>{1, 2, 0, 0});
  Tensor z = leaf({3, 3, 3}, {3});
  max(z).backward();
  CHECK(z.grad().to_vector() == std::vector<double>{1, 0, 0});
}

TEST_CASE("max: long rows find the first maximum and the first NaN", "[reduction]") {
  // Rows longer than a SIMD register, so the vectorised scan is exercised, in both dtypes.
  for (DType dt : {DType::float32, DType::float64}) {
    std::vector<double> v(2 * 100);
    for (int i = 0; i < 200; ++i) v[i] = (i * 37) % 101 - 200.0;  // all below the planted values
    v[70] = v[90] = 5;         // row 0: tie, first at 70
    v[100 + 33] = NAN;         // row 1: NaN after a larger value
    v[100 + 10] = 50;
    Tensor x = from_vector(v, {2, 100}, dt);
    x.set_requires_grad();
    Tensor m = max(x, {1});
    CHECK(m.to_vector()[0] == 5);
    CHECK(std::isnan(m.to_vector()[1]));
    m.backward(from_vector({1, 1}, {2}, dt));
    const auto g = x.grad().to_vector();
    CHECK(g[70] == 1);
    CHECK(g[90] == 0);
    CHECK(g[133] == 1);
    CHECK(g[110] == 0);
    CHECK(std::isnan(max(from_vector({NAN}, {1}, dt)).item()));
    CHECK(std::isnan(max(from_vector({NAN, 1}, {2}, dt)).item()));
  }
}

TEST_CASE("mean and max: bad inputs throw typed errors", "[reduction]") {
  Tensor x = cube();
  CHECK_THROWS_WITH(mean(x, {5}), Contains("mean") && Contains("5") && Contains("rank 3"));
  CHECK_THROWS_WITH(max(x, {-4}), Contains("max") && Contains("-4") && Contains("rank 3"));
  CHECK_THROWS_AS(max(x, {0, 0}), IndexError);
  CHECK_THROWS_AS(mean(index_tensor({1}, {1})), TypeError);
  CHECK_THROWS_AS(max(index_tensor({1}, {1})), TypeError);
  CHECK_THROWS_AS(max(Tensor()), ValueError);
  CHECK_THROWS_AS(max(zeros({2, 0}), {1}), ValueError);
  CHECK_THROWS_WITH(max(zeros({2, 0}), {1}), Contains("max") && Contains("(2, 0)"));
  CHECK(max(zeros({2, 0}), {0}).shape() == Shape{0});  // the empty axis is not reduced
}

TEST_CASE("float32 reductions match float64 to ~1e-6 relative", "[reduction]") {
  Generator gen(9);
  Tensor x64 = randn({37, 300}, gen, DType::float64, 1.0);
  Tensor x32 = x64.to(DType::float32);
  for (auto axes : {std::vector<std::int64_t>{}, {0}, {1}}) {
    for (auto f : {sum, mean, max}) {
      const auto a = f(x64, axes, false).to_vector(), b = f(x32, axes, false).to_vector();
      for (std::size_t i = 0; i < a.size(); ++i)
        CHECK(std::abs(a[i] - b[i]) <= 1e-6 * std::max(std::abs(a[i]), 1.0));
    }
  }
}

TEST_CASE("sum, mean, max, sum_to: gradcheck over axes patterns", "[reduction]") {
  Tensor x = rnd({2, 3, 4}, 11);
  const std::vector<std::vector<std::int64_t>> axes_list = {{}, {0}, {1}, {2}, {0, 2}, {-1, -2}};
  for (const auto& axes : axes_list)
    for (bool keep : {false, true}) {
      INFO("axes size " << axes.size() << (keep ? " keepdims" : ""));
      expect_gradients([&](const std::vector<Tensor>& t) { return sum(t[0], axes, keep); }, x);
      expect_gradients([&](const std::vector<Tensor>& t) { return mean(t[0], axes, keep); }, x);
      expect_gradients([&](const std::vector<Tensor>& t) { return max(t[0], axes, keep); }, x);
    }
  for (const Shape& s : {Shape{}, Shape{4}, Shape{3, 1}, Shape{1, 3, 4}, Shape{2, 1, 4}, Shape{2, 3, 4}}) {
    INFO("sum_to " << shape_str(s));
    expect_gradients([&](const std::vector<Tensor>& t) { return sum_to(t[0], s); }, x);
  }
}
