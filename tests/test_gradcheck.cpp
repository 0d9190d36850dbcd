// gradcheck against hand-made ops recorded through the public record() API (hand_ops.hpp), so
// these tests depend on no op library; some backwards are deliberately wrong.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <sstream>

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/tensor/creation.hpp"
#include "hand_ops.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {

using Inputs = std::vector<Tensor>;
using test::hand_mul;
using test::hand_unary;
using test::leaf;

double square(double x) { return x * x; }
double triple(double x) { return 3 * x; }
double absolute(double x) { return std::abs(x); }

}  // namespace

TEST_CASE("gradcheck: passes on correct backwards of a composed two-input function", "[gradcheck]") {
  Tensor a = leaf({0.5, -1.25, 2.0, 0.75, -0.3, 1.1}, {2, 3});
  Tensor b = leaf({1.5, 0.2, -0.7, 2.2, -1.9, 0.4}, {2, 3});
  auto fn = [](const Inputs& in) {
    return hand_mul(hand_unary(in[0], square, [](double x, std::int64_t) { return 2 * x; }), in[1]);
  };
  auto r = gradcheck(fn, {a, b});
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.accumulation_passed);
  CHECK(r.max_rel_error <= 1e-6);
  CHECK(r.checked == 12);
  CHECK(r.skipped_kinks == 0);
  CHECK_THAT(r.to_string(), Contains("passed"));
}

TEST_CASE("gradcheck: a wrong backward fails and the report names the input and index", "[gradcheck]") {
  Tensor a = leaf({0.5, -1.25, 2.0, 0.75, -0.3, 1.1}, {2, 3});
  Tensor b = leaf({1.5, 0.2, -0.7, 2.2, -1.9, 0.4}, {2, 3});
  // b's gradient at flat entry 2, index (0, 2), is 10% too large.
  auto fn = [](const Inputs& in) { return hand_mul(in[0], in[1], 2, 1.1); };
  auto r = gradcheck(fn, {a, b});
  INFO(r.to_string());
  CHECK_FALSE(r.passed);
  CHECK(r.worst_input == 1);
  CHECK(r.worst_index == std::vector<std::int64_t>{0, 2});
  // d(sum(v * a * b))/db at (0, 2) is v * a = 2 v there; the wrong backward says 2.2 v.
  CHECK(r.analytic == Approx(1.1 * r.numeric).epsilon(1e-6));
  CHECK(r.rel_error == Approx(0.1).epsilon(1e-4));
  CHECK_THAT(r.to_string(), Contains("FAILED") && Contains("input 1") && Contains("(0, 2)"));
}

TEST_CASE("gradcheck: only inputs that require grad are checked, int64 constants ride along", "[gradcheck]") {
  Tensor a = leaf({0.5, -1.25, 2.0}, {3});
  Tensor b = from_vector({1.5, 0.2, -0.7}, {3}, DType::float64);  // constant: no grad
  Tensor labels = index_tensor({1, 0, 2}, {3});
  // The planted bug is in b's gradient, which nobody asks for.
  auto fn = [](const Inputs& in) {
    CHECK(in[2].dtype() == DType::int64);
    return hand_mul(in[0], in[1], 0, 5.0);
  };
  auto r = gradcheck(fn, {a, b, labels});
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.checked == 3);
}

TEST_CASE("gradcheck: kinks of |x| at 0 are skipped when kink_threshold is set", "[gradcheck]") {
  Tensor x = leaf({-1.0, 0.0, 0.5, 0.0, 2.0}, {5});
  // A valid subgradient at 0 that central differences cannot see: they give 0 there.
  auto fn = [](const Inputs& in) {
    return hand_unary(in[0], absolute, [](double v, std::int64_t) { return v >= 0 ? 1.0 : -1.0; });
  };
  auto plain = gradcheck(fn, {x});
  INFO(plain.to_string());
  CHECK_FALSE(plain.passed);
  CHECK(plain.worst_index.at(0) % 2 == 1);  // entry 1 or 3, the zeros
  CHECK(plain.failed == 2);
  CHECK_THAT(plain.to_string(), Contains("2 of 5 entries outside"));

  GradcheckOptions opts;
  opts.kink_threshold = 1e-3;
  auto r = gradcheck(fn, {x}, opts);
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.skipped_kinks == 2);
  CHECK(r.checked == 3);
  CHECK_THAT(r.to_string(), Contains("2 entries skipped as kinks"));
}

TEST_CASE("gradcheck: the 4-point stencil is more accurate on a smooth function", "[gradcheck]") {
  Tensor x = leaf({0.9, 1.3, -0.4, 1.7}, {2, 2});
  auto fn = [](const Inputs& in) {
    return hand_unary(in[0], [](double v) { return std::exp(v); }, [](double v, std::int64_t) { return std::exp(v); });
  };
  GradcheckOptions opts;
  opts.eps = 1e-3;  // large enough that truncation error dominates: O(eps^2) = 1e-7 vs O(eps^4) = 1e-13
  auto central = gradcheck(fn, {x}, opts);
  opts.four_point = true;
  auto four = gradcheck(fn, {x}, opts);
  INFO(central.to_string() << "\n" << four.to_string());
  CHECK(central.abs_error > 1e-8);
  CHECK(four.abs_error < 1e-10);
  CHECK(four.max_rel_error < central.max_rel_error / 1000);
  CHECK_THAT(four.to_string(), Contains("4-point"));
}

TEST_CASE("gradcheck: the report text contains the worst entry's values", "[gradcheck]") {
  Tensor x = leaf({0.25}, {1});
  // y = 3x, but the backward claims dy/dx = 7 and ignores dy.
  auto fn = [](const Inputs& in) {
    Tensor y = hand_unary(in[0], triple, [](double, std::int64_t) { return 0.0; });
    return y;
  };
  auto bad = [](const Inputs& in) {
    Tensor y = Tensor::empty({1}, DType::float64);
    y.host_data<double>()[0] = 3 * in[0].host_data<double>()[0];
    record("claims_seven", {&in[0]}, y, [](BackwardContext& ctx) { ctx.accumulate(0, full({1}, 7.0, DType::float64)); });
    return y;
  };
  GradcheckOptions opts;
  opts.seed = 42;
  opts.check_accumulation = false;
  auto r = gradcheck(bad, {x}, opts);
  // The direction gradcheck documents: randn(output shape, Generator(seed), float64).
  Generator gen(42);
  const double v = randn({1}, gen, DType::float64).item();
  INFO(r.to_string());
  CHECK_FALSE(r.passed);
  CHECK(r.analytic == 7.0);
  CHECK(r.numeric == Approx(3 * v).epsilon(1e-8));
  CHECK(r.abs_error == Approx(std::abs(7 - 3 * v)).epsilon(1e-8));
  CHECK(r.rel_error == Approx(std::abs(7 - 3 * v) / std::abs(3 * v)).epsilon(1e-6));
  const std::string text = r.to_string();
  CHECK_THAT(text, Contains("input 0") && Contains("index (0)") && Contains("analytic 7,"));
  CHECK_THAT(text, Contains(fmt::format("numeric {:.10g}", r.numeric)));
  CHECK_THAT(text, Contains(fmt::format("abs error {:.3g}", r.abs_error)));
  CHECK_THAT(text, Contains(fmt::format("rel error {:.3g}", r.rel_error)));
  std::ostringstream os;
  os << r;
  CHECK(os.str() == text);
  // The same op with a zero derivative fails too: gradcheck is not fooled by a vanishing gradient.
  CHECK_FALSE(gradcheck(fn, {x}, opts).passed);
}

TEST_CASE("gradcheck: a backward that overwrites instead of accumulating fails the accumulation check",
          "[gradcheck]") {
  Tensor x = leaf({0.5, -2.0, 1.5}, {3});
  auto overwrite = [](const Inputs& in) {
    Tensor y = Tensor::empty({3}, DType::float64);
    for (int k = 0; k < 3; ++k) y.host_data<double>()[k] = 3 * in[0].host_data<double>()[k];
    record("overwrites", {&in[0]}, y, [](BackwardContext& ctx) {
      Tensor& g = ctx.grad_buffer(0);  // should be +=, is =
      for (int k = 0; k < 3; ++k) g.host_data<double>()[k] = 3 * ctx.grad_output().host_data<double>()[k];
    });
    return y;
  };
  auto r = gradcheck(overwrite, {x});
  INFO(r.to_string());
  CHECK_FALSE(r.passed);
  CHECK_FALSE(r.accumulation_passed);
  CHECK(r.max_rel_error <= 1e-6);  // the first pass alone is right
  CHECK_THAT(r.to_string(), Contains("accumulation FAILED") && Contains("input 0"));

  GradcheckOptions opts;
  opts.check_accumulation = false;
  CHECK(gradcheck(overwrite, {x}, opts).passed);
}

TEST_CASE("gradcheck: restores the inputs' data and the caller's gradients", "[gradcheck]") {
  Tensor x = leaf({0.5, -2.0, 1.5}, {3});
  Tensor caller_grad = from_vector({10, 20, 30}, {3}, DType::float64);
  x.set_grad(caller_grad);
  auto fn = [](const Inputs& in) { return hand_unary(in[0], square, [](double v, std::int64_t) { return 2 * v; }); };
  auto r = gradcheck(fn, {x});
  CHECK(r.passed);
  CHECK(x.to_vector() == std::vector<double>{0.5, -2.0, 1.5});
  CHECK(x.grad().is_same(caller_grad));
  CHECK(caller_grad.to_vector() == std::vector<double>{10, 20, 30});

  Tensor fresh = leaf({1.0}, {1});
  gradcheck(fn, {fresh});
  CHECK_FALSE(fresh.grad().defined());
}

TEST_CASE("gradcheck: the caller's graph recorded before the check can still backpropagate", "[gradcheck]") {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor loss = test::hand_sum(test::hand_scale(x, 3.0));
  auto r = gradcheck([](const Inputs& in) { return hand_unary(in[0], square, [](double v, std::int64_t) { return 2 * v; }); },
                     {x});
  CHECK(r.passed);
  loss.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{3.0, 3.0});
}

TEST_CASE("gradcheck: rejects non-float64 inputs, inputs without grad and undefined outputs", "[gradcheck]") {
  Tensor a = leaf({1, 2}, {2});
  Tensor single = from_vector({1, 2}, {2}, DType::float32).set_requires_grad();
  auto identity = [](const Inputs& in) { return in[0]; };
  CHECK_THROWS_AS(gradcheck(identity, {a, single}), TypeError);
  CHECK_THROWS_WITH(gradcheck(identity, {a, single}), Contains("input 1") && Contains("float32"));

  Tensor constant = from_vector({1, 2}, {2}, DType::float64);
  CHECK_THROWS_AS(gradcheck(identity, {constant}), ValueError);
  CHECK_THROWS_WITH(gradcheck(identity, {constant}), Contains("requires grad"));

  auto undefined = [](const Inputs&) { return Tensor(); };
  CHECK_THROWS_AS(gradcheck(undefined, {a}), ValueError);
  CHECK_THROWS_WITH(gradcheck(undefined, {a}), Contains("undefined"));

  auto detached = [](const Inputs& in) { return in[0].detach(); };
  CHECK_THROWS_AS(gradcheck(detached, {a}), ValueError);

  Generator outside(3);
  auto noisy = [&outside](const Inputs& in) {
    return hand_mul(in[0], randn({2}, outside, DType::float64));
  };
  CHECK_THROWS_WITH(gradcheck(noisy, {a}), Contains("not deterministic"));

  GradcheckOptions bad_eps;
  bad_eps.eps = 0;
  CHECK_THROWS_AS(gradcheck(identity, {a}, bad_eps), ValueError);
  CHECK_FALSE(a.grad().defined());  // an aborted check leaves no gradient behind
}

TEST_CASE("gradcheck: an input produced by a recorded op is checked as a leaf sharing its data", "[gradcheck]") {
  Tensor x = leaf({0.5, -1.5}, {2});
  Tensor doubled = test::hand_scale(x, 2.0);  // not a leaf: its grad() would stay empty
  auto fn = [](const Inputs& in) { return hand_unary(in[0], square, [](double v, std::int64_t) { return 2 * v; }); };
  auto r = gradcheck(fn, {doubled});
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.checked == 2);
  CHECK_FALSE(x.grad().defined());  // nothing flowed back past the input
  CHECK(doubled.to_vector() == std::vector<double>{1.0, -3.0});
}

TEST_CASE("gradcheck: steps are exact far from zero, so linear functions check to rounding", "[gradcheck]") {
  // Near 1e4 an ulp is 1.8e-12: a step of 1e-6 taken as is would be off by ~1e-6 relative.
  Tensor x = leaf({10000.3, -30000.7, 0.1}, {3});
  GradcheckOptions strict;
  strict.rtol = 1e-12;
  strict.atol = 0;
  auto r = gradcheck([](const Inputs& in) { return test::hand_scale(in[0], 2.0); }, {x}, strict);
  INFO(r.to_string());
  CHECK(r.passed);
}

TEST_CASE("gradcheck: an input perturbed when fn throws is restored", "[gradcheck]") {
  Tensor x = leaf({0.25, -1.5}, {2});
  int calls = 0;
  // Calls 1-3 are the recorded pass and two unperturbed evaluations; call 4 has x[0] moved by eps.
  auto fn = [&calls](const Inputs& in) {
    if (++calls == 4) throw std::runtime_error("fn failed");
    return test::hand_scale(in[0], 2.0);
  };
  CHECK_THROWS_WITH(gradcheck(fn, {x}), "fn failed");
  CHECK(calls == 4);
  CHECK(x.to_vector() == std::vector<double>{0.25, -1.5});
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("gradcheck: an identity function (output is the input leaf) passes", "[gradcheck]") {
  Tensor a = leaf({1, -2, 3}, {3});
  auto r = gradcheck([](const Inputs& in) { return in[0]; }, {a});
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.checked == 3);
}
