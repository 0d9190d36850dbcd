// Reductions that return positions: argmax/argmin, max/min with indices, topk; min over axes; and
// sum/mean over several axes with keepdims.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "fixtures.hpp"
#include "testing.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {
Tensor f64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::float64); }
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST_CASE("max/min with indices: values, indices and gradients match torch", "[ranking]") {
  const auto fx = test::load_fixture("ops_indexing.json").at("extremes");
  const Tensor x = test::fixture_tensor(fx.at("max").at("x"));
  test::check_value_and_grad(fx.at("max"), [](const Tensor& a) { return max_with_indices(a, 1).values; });
  test::check_value_and_grad(fx.at("min"), [](const Tensor& a) { return min_with_indices(a, -2, true).values; });
  test::check_close(max_with_indices(x, 1).indices, test::fixture_tensor(fx.at("max_indices")), 0.0);
  test::check_close(min_with_indices(x, 1, true).indices, test::fixture_tensor(fx.at("min_indices")), 0.0);
  test::check_close(argmax(x), test::fixture_tensor(fx.at("argmax_flat")), 0.0);
  test::check_close(argmin(x, 2), test::fixture_tensor(fx.at("argmin_axis2")), 0.0);
}

TEST_CASE("max/min with indices: ties give the first position, NaN is the extreme both ways", "[ranking]") {
  // Rows: a tie at positions 1 and 3; a NaN at position 2 after the maximum; all equal.
  const Tensor x = f64({1, 5, 2, 5, /**/ 9, 3, kNaN, 1, /**/ 4, 4, 4, 4}, {3, 4});
  auto [values, indices] = max_with_indices(x, 1);
  CHECK(indices.dtype() == DType::int64);
  CHECK(indices.to_vector() == std::vector<double>{1, 2, 0});
  CHECK(values.at({0}) == 5);
  CHECK(std::isnan(values.at({1})));
  CHECK(min_with_indices(x, 1).indices.to_vector() == std::vector<double>{0, 2, 0});
  CHECK(argmax(x, 1, true).shape() == Shape{3, 1});
  CHECK(argmax(x, std::nullopt, true).shape() == Shape{1, 1});
  CHECK(argmax(x).item() == 6);  // the first NaN, flat
  CHECK(argmin(x).item() == 6);
  // Along axis 0 (columns): column 0 is 1, 9, 4 -> max at 1, min at 0.
  CHECK(argmax(x, 0).to_vector() == std::vector<double>{1, 0, 1, 0});
  CHECK(argmin(x, 0).to_vector() == std::vector<double>{0, 1, 1, 1});
  // int64 input: positions and int64 values.
  const auto ints = max_with_indices(index_tensor({3, 7, 7, 1}, {2, 2}), 0);
  CHECK(ints.values.dtype() == DType::int64);
  CHECK(ints.values.to_vector() == std::vector<double>{7, 7});
  CHECK(ints.indices.to_vector() == std::vector<double>{1, 0});
}

TEST_CASE("max with indices: the gradient goes to the chosen element only", "[ranking]") {
  Tensor x = f64({1, 5, 2, 5}, {2, 2}).set_requires_grad();
  sum(max_with_indices(x, 1).values * f64({10, 100}, {2})).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 10, 0, 100});
}

TEST_CASE("max/min with indices, min, topk: gradcheck", "[ranking]") {
  Tensor x = test::randn64({3, 4, 5}, 21);  // distinct almost surely: no ties, no kinks
  for (std::int64_t axis : {0, 1, 2})
    for (bool keep : {false, true}) {
      INFO("axis " << axis << (keep ? " keepdims" : ""));
      test::check_gradcheck([&](const auto& in) { return max_with_indices(in[0], axis, keep).values; }, {x});
      test::check_gradcheck([&](const auto& in) { return min_with_indices(in[0], axis, keep).values; }, {x});
      test::check_gradcheck([&](const auto& in) { return min(in[0], {axis, (axis + 1) % 3}, keep); }, {x});
    }
  for (bool largest : {true, false})
    for (bool sorted : {true, false}) {
      INFO((largest ? "largest" : "smallest") << (sorted ? " sorted" : " unsorted"));
      test::check_gradcheck([&](const auto& in) { return topk(in[0], 3, 1, largest, sorted).values; }, {x});
      test::check_gradcheck([&](const auto& in) { return topk(in[0], 2, 0, largest, sorted).values; }, {x});
    }
}

TEST_CASE("topk: values, indices and gradients match torch", "[ranking]") {
  const auto fx = test::load_fixture("ops_indexing.json").at("topk");
  test::check_value_and_grad(fx.at("largest"), [](const Tensor& a) { return topk(a, 3, 1).values; });
  test::check_value_and_grad(fx.at("smallest"), [](const Tensor& a) { return topk(a, 2, 0, false).values; });
  const Tensor x = test::fixture_tensor(fx.at("largest").at("x")), y = test::fixture_tensor(fx.at("smallest").at("x"));
  test::check_close(topk(x, 3, 1).indices, test::fixture_tensor(fx.at("largest_indices")), 0.0);
  test::check_close(topk(y, 2, 0, false).indices, test::fixture_tensor(fx.at("smallest_indices")), 0.0);
}

TEST_CASE("topk: order, ties, NaN, unsorted and edge sizes by hand", "[ranking]") {
  const Tensor x = f64({3, 9, 1, 9, 5}, {5});
  auto [values, indices] = topk(x, 3);
  CHECK(values.to_vector() == std::vector<double>{9, 9, 5});
  CHECK(indices.to_vector() == std::vector<double>{1, 3, 4});  // ties in position order
  CHECK(topk(x, 3, 0, true, false).indices.to_vector() == std::vector<double>{1, 3, 4});
  CHECK(topk(x, 2, 0, false).indices.to_vector() == std::vector<double>{2, 0});
  CHECK(topk(x, 3, 0, false, false).indices.to_vector() == std::vector<double>{0, 2, 4});  // 3, 1, 5 by position
  CHECK(topk(x, 0).values.shape() == Shape{0});
  CHECK(topk(x, 5).indices.to_vector() == std::vector<double>{1, 3, 4, 0, 2});
  // NaN ranks above every number: first for largest, never picked for smallest.
  const Tensor n = f64({2, kNaN, 7}, {3});
  CHECK(topk(n, 1).indices.item() == 1);
  CHECK(topk(n, 2, 0, false).indices.to_vector() == std::vector<double>{0, 2});
  // int64 and a middle axis
  const auto ints = topk(index_tensor({4, 8, 6, 1, 2, 9}, {1, 3, 2}), 1, 1);
  CHECK(ints.values.to_vector() == std::vector<double>{6, 9});
  CHECK(ints.indices.to_vector() == std::vector<double>{1, 2});
}

TEST_CASE("argmax, topk, min: bad arguments are typed errors", "[ranking]") {
  const Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK_ERROR(topk(x, 4, 1), ValueError, "topk: k = 4 is outside [0, 3], the extent of axis 1 of a (2, 3)");
  CHECK_ERROR(topk(x, -1, 1), ValueError, Contains("k = -1"));
  CHECK_ERROR(topk(x, 1, 2), IndexError, Contains("topk: axis 2 is out of range for a tensor of rank 2"));
  CHECK_ERROR(argmax(x, -3), IndexError, Contains("argmax: axis -3"));
  CHECK_ERROR(argmin(zeros({2, 0}), 1), ValueError, "argmin: cannot reduce over axis 1 of extent 0 in shape (2, 0)");
  CHECK_ERROR(argmax(zeros({0})), ValueError, Contains("argmax: cannot reduce"));
  CHECK_ERROR(max_with_indices(Tensor(), 0), ValueError, Contains("max_with_indices") && Contains("'a'"));
  CHECK_ERROR(min(zeros({3, 0}), {1}), ValueError, "min: cannot reduce over axis 1 of extent 0 in shape (3, 0)");
  CHECK_ERROR(min(index_tensor({1}, {1})), TypeError, Contains("min: argument 'a' must be float32 or float64"));
}

TEST_CASE("min over axes: values by hand, NaN propagates", "[ranking]") {
  const Tensor x = f64({4, -1, 7, 2, 0, -3}, {2, 3});
  CHECK(min(x).item() == -3);
  CHECK(min(x, {1}).to_vector() == std::vector<double>{-1, -3});
  CHECK(min(x, {0}, true).shape() == Shape{1, 3});
  CHECK(min(x, {0}, true).to_vector() == std::vector<double>{2, -1, -3});
  CHECK(std::isnan(min(f64({1, kNaN, -5}, {3})).item()));
}

TEST_CASE("sum and mean: several axes with keepdims, by hand", "[reduction]") {
  // x[i][j][k] = 12 i + 4 j + k over (2, 3, 4)
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  const Tensor x = f64(v, {2, 3, 4});
  const Tensor s = sum(x, {0, -1}, true);  // sum over i, k of 12i + 4j + k = 8*4j + 4*12 + 2*6 = 32j + 60
  CHECK(s.shape() == Shape{1, 3, 1});
  CHECK(s.to_vector() == std::vector<double>{60, 92, 124});
  const Tensor m = mean(x, {2, 1}, true);  // mean over j, k = 12i + 4 + 1.5
  CHECK(m.shape() == Shape{2, 1, 1});
  CHECK(m.to_vector() == std::vector<double>{5.5, 17.5});
  Tensor leaf = x.clone().set_requires_grad();
  sum(mean(leaf, {0, 2}, true) * f64({1, 2, 3}, {1, 3, 1})).backward();
  CHECK(leaf.grad().at({1, 2, 3}) == 3.0 / 8);  // 3 spread over the 2 * 4 averaged elements
}
