// Regularizers and constraints: Keras's formulas checked against values computed by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "nn_helpers.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/regularizers.hpp"

using namespace xgrad;
using namespace xgrad::nn;
using Catch::Matchers::Contains;
using xgrad::test::check_values;
using xgrad::test::message_of;

namespace {

// The 2x2 matrix [[3, 0], [4, 1]]: column norms 5 and 1, row norms 3 and sqrt(17).
Tensor w22() { return from_vector({3, 0, 4, 1}, {2, 2}, DType::float64); }

// Keras adds epsilon 1e-7 to every norm it divides by, so projections are exact to about 1e-7.
constexpr double kNormTol = 1e-6;

}  // namespace

TEST_CASE("Regularizers: L1, L2 and L1L2 values with Keras defaults", "[layers]") {
  Tensor x = from_vector({1, -2, 3}, {3}, DType::float64);
  CHECK(L1()(x).item() == Approx(0.01 * 6));     // sum |x| = 6
  CHECK(L2()(x).item() == Approx(0.01 * 14));    // sum x^2 = 14, no 1/2
  CHECK(L1L2(0.1, 0.2)(x).item() == Approx(0.1 * 6 + 0.2 * 14));
  CHECK(L1L2()(x).item() == 0.0);  // Keras 3's L1L2 defaults both factors to 0
  CHECK(L1L2(0.5)(x).item() == Approx(3.0));
  CHECK(Regularizer("l2")(x).item() == Approx(0.14));
  CHECK(Regularizer("l1")(x).item() == Approx(0.06));
  CHECK(Regularizer(L1(2.0))(x).item() == Approx(12.0));
  CHECK(L2()(x).shape() == Shape{});
  CHECK_FALSE(Regularizer());
}

TEST_CASE("Regularizers: the penalty's gradient reaches the weight", "[layers]") {
  Tensor x = from_vector({1, -2, 3}, {3}, DType::float64).set_requires_grad();
  L1L2(0.1, 0.5)(x).backward();
  // d/dx [0.1 |x| + 0.5 x^2] = 0.1 sign(x) + x
  check_values(x.grad(), {1.1, -2.1, 3.1}, 1e-12);
}

TEST_CASE("Regularizers: negative or non-finite factors and bad inputs throw", "[layers]") {
  CHECK_THAT(message_of<ValueError>([] { L1(-0.1); }), Contains("l1") && Contains("-0.1"));
  CHECK_THAT(message_of<ValueError>([] { L2{INFINITY}; }), Contains("l2"));
  CHECK_THAT(message_of<ValueError>([] { L1L2(0.0, NAN); }), Contains("l2"));
  CHECK_THAT(message_of<ValueError>([] { Regularizer("l3"); }), Contains("'l3'") && Contains("l1_l2"));
  CHECK_THAT(message_of<ValueError>([] { Regularizer()(ones({2})); }), Contains("empty"));
  CHECK_THAT(message_of<TypeError>([] { L2()(index_tensor({1, 2}, {2})); }), Contains("int64") && Contains("(2,)"));
}

TEST_CASE("Constraints: max_norm rescales columns (axis 0), rows (axis 1) or the whole matrix", "[layers]") {
  // Column 0 has norm 5 > 2: scaled by 2 / (5 + 1e-7); column 1 has norm 1: kept (times 1 / (1 + 1e-7)).
  check_values(MaxNorm()(w22()), {1.2, 0, 1.6, 1}, kNormTol);
  // Rows: norm 3 -> scaled by 2/3; norm sqrt(17) -> scaled by 2/sqrt(17).
  const double r = 2 / std::sqrt(17.0);
  check_values(MaxNorm(2.0, {1})(w22()), {2, 0, 4 * r, 1 * r}, kNormTol);
  const double all = 2 / std::sqrt(26.0);
  check_values(MaxNorm(2.0, {0, 1})(w22()), {3 * all, 0, 4 * all, 1 * all}, kNormTol);
  check_values(MaxNorm(2.0, {})(w22()), {3 * all, 0, 4 * all, 1 * all}, kNormTol);
  check_values(Constraint("max_norm")(w22()), {1.2, 0, 1.6, 1}, kNormTol);
}

TEST_CASE("Constraints: non_neg, unit_norm and min_max_norm values", "[layers]") {
  check_values(NonNeg()(from_vector({-1, 2, 0, -3}, {2, 2}, DType::float64)), {0, 2, 0, 0}, 0);
  check_values(UnitNorm()(w22()), {0.6, 0, 0.8, 1}, kNormTol);
  check_values(UnitNorm({1})(w22()), {1, 0, 4 / std::sqrt(17.0), 1 / std::sqrt(17.0)}, kNormTol);
  // min 0, max 1, rate 1: column 0 (norm 5) becomes unit, column 1 (norm 1) stays.
  check_values(MinMaxNorm()(w22()), {0.6, 0, 0.8, 1}, kNormTol);
  // min 2, max 3, rate 0.5: desired = 0.5 * clip(norm, 2, 3) + 0.5 * norm: 4 for column 0, 1.5 for column 1.
  check_values(MinMaxNorm(2.0, 3.0, 0.5)(w22()), {2.4, 0, 3.2, 1.5}, kNormTol);
  // A float32 weight stays float32.
  Tensor w32 = UnitNorm()(w22().to(DType::float32));
  CHECK(w32.dtype() == DType::float32);
  check_values(w32, {0.6, 0, 0.8, 1}, kNormTol);
}

TEST_CASE("Constraints: apply_ writes into the parameter's own storage without recording", "[layers]") {
  Tensor p = w22().set_requires_grad();
  Tensor alias = p.detach();  // shares p's storage
  const std::size_t nodes = tape_size();
  Constraint("unit_norm").apply_(p);
  CHECK(tape_size() == nodes);
  check_values(alias, {0.6, 0, 0.8, 1}, kNormTol);
  CHECK(p.requires_grad());
}

TEST_CASE("Constraints: a custom function must keep the shape", "[layers]") {
  Constraint halve([](const Tensor& w) { return from_vector(std::vector<double>(4, 0.5), {2, 2}, w.dtype()); });
  Tensor p = w22();
  halve.apply_(p);
  check_values(p, {0.5, 0.5, 0.5, 0.5}, 0);
  Constraint shrink([](const Tensor&) { return zeros({3}); });
  CHECK_THAT(message_of<ShapeError>([&] { shrink.apply_(p); }), Contains("(3,)") && Contains("(2, 2)"));
}

TEST_CASE("Constraints: bad names, arguments, axes and dtypes throw typed errors", "[layers]") {
  CHECK_THAT(message_of<ValueError>([] { Constraint("positive"); }),
             Contains("'positive'") && Contains("max_norm") && Contains("non_neg"));
  CHECK_THAT(message_of<ValueError>([] { MaxNorm(-1.0); }), Contains("max_value"));
  CHECK_THAT(message_of<ValueError>([] { MinMaxNorm(2.0, 1.0); }), Contains("min_value=2"));
  CHECK_THAT(message_of<ValueError>([] { MinMaxNorm(0.0, 1.0, 1.5); }), Contains("rate"));
  CHECK_THROWS_AS(UnitNorm({2})(w22()), IndexError);
  CHECK_THAT(message_of<TypeError>([] { NonNeg()(index_tensor({1}, {1})); }), Contains("int64"));
  CHECK_THAT(message_of<ValueError>([] { Constraint()(w22()); }), Contains("empty"));
}

TEST_CASE("Dense: apply_constraints projects kernel and bias after a manual update", "[layers]") {
  Dense dense({.units = 2,
               .bias_initializer = initializers::constant(3.0),
               .kernel_constraint = NonNeg(),
               .bias_constraint = MaxNorm(1.0),
               .input_dim = 2,
               .dtype = DType::float64});
  // A pretend optimizer step that leaves the constraint set.
  Tensor kernel = dense.kernel();
  kernel.set({0, 0}, -1.0);
  kernel.set({1, 1}, 0.25);
  dense.apply_constraints();
  CHECK(dense.kernel().at({0, 0}) == 0.0);
  CHECK(dense.kernel().at({1, 1}) == 0.25);
  // bias (3, 3) has norm sqrt(18) over axis 0 (its only axis): scaled to norm 1.
  check_values(dense.bias(), {1 / std::sqrt(2.0), 1 / std::sqrt(2.0)}, kNormTol);
}
