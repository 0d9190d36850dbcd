// optim::finite_loss and optim::check_finite: a NaN or infinity is named in the error, a finite value passes.
#include <catch2/catch.hpp>

#include <limits>

#include "xgrad/optim/finite.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {
const double kNan = std::numeric_limits<double>::quiet_NaN(), kInf = std::numeric_limits<double>::infinity();
}  // namespace

TEST_CASE("finite_loss: a NaN or infinite scalar loss is a ValueError naming it", "[optim][finite]") {
  CHECK_NOTHROW(optim::finite_loss(scalar(2.5)));
  CHECK_NOTHROW(optim::finite_loss(scalar(-1e38)));
  CHECK_THROWS_WITH(optim::finite_loss(scalar(kNan)), Contains("the loss is nan"));
  CHECK_THROWS_WITH(optim::finite_loss(scalar(kInf, DType::float64)), Contains("the loss is inf"));
  CHECK_THROWS_WITH(optim::finite_loss(scalar(-kInf)), Contains("the loss is -inf"));
  CHECK_THROWS_AS(optim::finite_loss(Tensor{}), ValueError);
}

TEST_CASE("finite_loss: a per-sample loss is checked by a reduction", "[optim][finite]") {
  CHECK_NOTHROW(optim::finite_loss(from_vector({1, -2, 3}, {3})));
  CHECK_THROWS_WITH(optim::finite_loss(from_vector({1, kNan, 3}, {3})), Contains("(3,)") && Contains("nan"));
  CHECK_THROWS_WITH(optim::finite_loss(from_vector({1, 2, -kInf, 4}, {2, 2})), Contains("inf"));
}

TEST_CASE("check_finite: names the parameter whose values or gradient are not finite", "[optim][finite]") {
  Tensor w = from_vector({1, 2}, {2}), b = from_vector({0}, {1});
  CHECK_NOTHROW(optim::check_finite({{"w", w}, {"b", b}}));
  b.set_grad(from_vector({kInf}, {1}));
  CHECK_THROWS_WITH(optim::check_finite({{"w", w}, {"b", b}}), Contains("gradient of parameter 'b'"));
  w.set({1}, kNan);
  CHECK_THROWS_WITH(optim::check_finite({{"w", w}, {"b", b}}), Contains("parameter 'w' (2,) holds a nan"));
}
