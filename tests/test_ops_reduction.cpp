#include <catch2/catch.hpp>

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
