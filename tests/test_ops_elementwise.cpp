#include <catch2/catch.hpp>

#include <cmath>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {
Tensor f64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::float64); }
Tensor leaf(std::vector<double> v, Shape s) { return f64(std::move(v), std::move(s)).set_requires_grad(); }
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
