// Comparisons (masks in the operands' dtype) and clamp.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "fixtures.hpp"
#include "testing.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/compare.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {
Tensor f64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::float64); }
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

TEST_CASE("comparisons: broadcasting tensor-tensor masks match torch", "[compare]") {
  const auto fx = test::load_fixture("ops_indexing.json").at("comparisons");
  const Tensor a = test::fixture_tensor(fx.at("a")), b = test::fixture_tensor(fx.at("b"));
  const std::pair<const char*, Tensor (*)(const Tensor&, const Tensor&)> ops[] = {
      {"eq", eq}, {"ne", ne}, {"lt", lt}, {"le", le}, {"gt", gt}, {"ge", ge}};
  for (const auto& [name, op] : ops) {
    INFO(name);
    for (DType dtype : {DType::float64, DType::float32}) {
      const Tensor mask = op(a.to(dtype), b.to(dtype));
      CHECK(mask.dtype() == dtype);  // halves are exact in float32 too
      test::check_close(mask, test::fixture_tensor(fx.at(name)), 0.0);
    }
  }
  // The fixture's halves do produce ties, so eq is not trivially all zero.
  CHECK(sum(test::fixture_tensor(fx.at("eq"))).item() > 0);
}

TEST_CASE("comparisons: int64 with integer and fractional scalars match torch", "[compare]") {
  const auto fx = test::load_fixture("ops_indexing.json").at("comparisons");
  const Tensor ids = test::fixture_tensor(fx.at("ids"), DType::int64);
  const std::pair<const char*, Tensor (*)(const Tensor&, double)> ops[] = {
      {"eq", eq}, {"ne", ne}, {"lt", lt}, {"le", le}, {"gt", gt}, {"ge", ge}};
  for (const auto& [name, op] : ops)
    for (double s : {2.0, 2.5}) {
      INFO(name << " " << s);
      const Tensor mask = op(ids, s);
      CHECK(mask.dtype() == DType::int64);
      test::check_close(mask, test::fixture_tensor(fx.at(fmt::format("ids_{}_{}", name, s))), 0.0);
    }
}

TEST_CASE("comparisons: int64 against scalars no int64 equals", "[compare]") {
  const Tensor ids = index_tensor({-3, 0, 2}, {3});
  CHECK(lt(ids, -2.5).to_vector() == std::vector<double>{1, 0, 0});  // -3 < -2.5
  CHECK(ge(ids, -2.5).to_vector() == std::vector<double>{0, 1, 1});
  CHECK(le(ids, 1e300).to_vector() == std::vector<double>{1, 1, 1});
  CHECK(gt(ids, 1e300).to_vector() == std::vector<double>{0, 0, 0});
  CHECK(gt(ids, -kInf).to_vector() == std::vector<double>{1, 1, 1});
  CHECK(lt(ids, -kInf).to_vector() == std::vector<double>{0, 0, 0});
  using Compare = Tensor (*)(const Tensor&, double);
  for (Compare op : {Compare(eq), Compare(lt), Compare(le), Compare(gt), Compare(ge)}) CHECK(op(ids, kNaN).to_vector() == std::vector<double>{0, 0, 0});
  CHECK(ne(ids, kNaN).to_vector() == std::vector<double>{1, 1, 1});
  CHECK(ne(ids, 0.5).to_vector() == std::vector<double>{1, 1, 1});
}

TEST_CASE("comparisons: NaN is unequal to everything, itself included", "[compare]") {
  const Tensor x = f64({kNaN, 1.0, kNaN}, {3}), y = f64({kNaN, kNaN, 2.0}, {3});
  CHECK(eq(x, y).to_vector() == std::vector<double>{0, 0, 0});
  CHECK(ne(x, y).to_vector() == std::vector<double>{1, 1, 1});
  CHECK(le(x, y).to_vector() == std::vector<double>{0, 0, 0});
  CHECK(ge(x, 1.0).to_vector() == std::vector<double>{0, 1, 0});
}

TEST_CASE("comparisons: a float32 tensor compares with the scalar rounded to float32, like torch", "[compare]") {
  // float(0.1) != 0.1 as doubles, but torch.tensor([0.1]) == 0.1 is True.
  CHECK(eq(from_vector({0.1}, {1}, DType::float32), 0.1).item() == 1.0);
  CHECK(eq(from_vector({0.1}, {1}, DType::float64), 0.1).item() == 1.0);
}

TEST_CASE("comparisons: masks need no gradient and feed where", "[compare]") {
  Tensor x = f64({-1, 2, -3, 4}, {4}).set_requires_grad();
  const Tensor mask = gt(x, 0.0);
  CHECK_FALSE(mask.requires_grad());
  Tensor y = where(mask, x, zeros({}, DType::float64));  // relu by hand
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 0, 1});
}

TEST_CASE("comparisons: mixed dtypes, devices and shapes are typed errors naming the op", "[compare]") {
  const Tensor a = f64({1, 2, 3}, {3});
  CHECK_ERROR(lt(a, a.to(DType::float32)), TypeError, Contains("lt: dtypes differ: float64 (3,) and float32 (3,)"));
  CHECK_ERROR(eq(a, f64({1, 2}, {2})), ShapeError, Contains("eq") && Contains("(3,)") && Contains("(2,)"));
  CHECK_ERROR(ge(Tensor(), 1.0), ValueError, Contains("ge") && Contains("'a'"));
  CHECK_ERROR(ne(a, Tensor()), ValueError, Contains("ne") && Contains("'b'"));
}

TEST_CASE("clamp: values and gradients match torch, the bounds passing the gradient", "[elementwise]") {
  const auto fx = test::load_fixture("ops_indexing.json").at("clamp");
  test::check_value_and_grad(fx.at("both"), [](const Tensor& x) { return clamp(x, -0.5, 0.75); });
  test::check_value_and_grad(fx.at("min"), [](const Tensor& x) { return clamp(x, -0.25, {}); });
  test::check_value_and_grad(fx.at("max"), [](const Tensor& x) { return clamp(x, {}, 0.5); });
  // min > max: every element becomes max, and no gradient passes.
  test::check_value_and_grad(fx.at("crossed"), [](const Tensor& x) { return clamp(x, 0.5, -0.5); });
}

TEST_CASE("clamp: NaN stays NaN with zero gradient, float32 works", "[elementwise]") {
  Tensor x = f64({kNaN, 5.0}, {2}).set_requires_grad();
  Tensor y = clamp(x, 0.0, 1.0);
  CHECK(std::isnan(y.at({0})));
  CHECK(y.at({1}) == 1.0);
  sum(y * f64({1, 1}, {2})).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0});
  CHECK(clamp(from_vector({-2, 0.5, 2}, {3}), -1.0, 1.0).to_vector() == std::vector<double>{-1, 0.5, 1});
}

TEST_CASE("clamp: gradcheck away from the bounds", "[elementwise]") {
  // Uniform in [-2, 2): almost surely no element sits on a bound, where clamp has a kink.
  Generator gen(5);
  Tensor x = uniform({3, 4}, gen, -2, 2, DType::float64).set_requires_grad();
  test::check_gradcheck([](const std::vector<Tensor>& in) { return clamp(in[0], -1.0, 0.5); }, {x});
  test::check_gradcheck([](const std::vector<Tensor>& in) { return clamp(in[0], {}, 0.5); }, {x});
}

TEST_CASE("clamp: bad arguments are typed errors", "[elementwise]") {
  const Tensor x = f64({1, 2}, {2});
  CHECK_ERROR(clamp(x, {}, {}), ValueError, Contains("clamp") && Contains("both are absent"));
  CHECK_ERROR(clamp(x, kNaN, 1.0), ValueError, Contains("clamp: argument 'min' is NaN"));
  CHECK_ERROR(clamp(x, 0.0, kNaN), ValueError, Contains("clamp: argument 'max' is NaN"));
  CHECK_ERROR(clamp(index_tensor({1}, {1}), 0.0, 1.0), TypeError, Contains("clamp") && Contains("int64"));
}
