// Optimizer::load_state refuses state that the update rules cannot use: step counts whose increment
// would overflow (or whose conversion to the double of the bias correction is inexact), and moment
// buffers that are non-finite or, where a square root is taken, negative. Each refusal names the key
// and the parameter and changes nothing.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>

#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kTwoTo53 = std::int64_t{1} << 53;

std::vector<optim::NamedTensor> params(DType dtype = DType::float64) {
  return {{"a", from_vector({0.5, -1.0, 2.0}, {3}, dtype).set_requires_grad()},
          {"b", from_vector({1.5, 0.25}, {2}, dtype).set_requires_grad()}};
}

/// A few steps of a quadratic pull towards 0 with a gradient that changes sign, so every buffer is non-zero.
void train(optim::Optimizer& opt, int steps) {
  for (int s = 0; s < steps; ++s) {
    for (auto [name, p] : opt.parameters()) {  // copies of the handles: set_grad reaches the same tensor
      std::vector<double> g = p.to_vector();
      for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] * (s % 2 ? -0.5 : 1.0) + 0.1 * double(i + 1);
      p.set_grad(from_vector(g, p.shape(), p.dtype()));
    }
    opt.step();
  }
}

/// A deep copy of `state` (so edits do not reach the optimizer).
std::vector<optim::NamedTensor> copy_of(const std::vector<optim::NamedTensor>& state) {
  std::vector<optim::NamedTensor> out;
  for (const auto& [k, t] : state) out.emplace_back(k, t.clone());
  return out;
}

/// `state` with element `index` of `key` replaced by `value`.
std::vector<optim::NamedTensor> with_value(const std::vector<optim::NamedTensor>& state, const std::string& key,
                                           std::int64_t index, double value) {
  auto out = copy_of(state);
  for (auto& [k, t] : out)
    if (k == key) {
      std::vector<double> v = t.to_vector();
      v.at(static_cast<std::size_t>(index)) = value;
      t = from_vector(v, t.shape(), t.dtype());
      return out;
    }
  FAIL("no key " << key);
  return out;
}

/// `state` with the step counts replaced.
std::vector<optim::NamedTensor> with_steps(const std::vector<optim::NamedTensor>& state,
                                           std::vector<std::int64_t> steps) {
  auto out = copy_of(state);
  const auto n = static_cast<std::int64_t>(steps.size());
  out.at(0).second = index_tensor(std::move(steps), {n});
  return out;
}

/// Every state tensor's values, to show a refused load changed nothing.
std::vector<std::vector<double>> values(const optim::Optimizer& opt) {
  std::vector<std::vector<double>> out;
  for (const auto& [k, t] : opt.state()) out.push_back(t.to_vector());
  return out;
}

/// Checks that loading `bad` throws ValueError whose message contains every string of `parts`, and
/// that the optimizer's state is unchanged afterwards.
void check_refused(optim::Optimizer& opt, const std::vector<optim::NamedTensor>& bad,
                   const std::vector<std::string>& parts) {
  const auto before = values(opt);
  std::string message = "no ValueError was thrown";
  try {
    opt.load_state(bad);
  } catch (const ValueError& e) {
    message = e.what();
  }
  INFO(message);
  for (const auto& part : parts) CHECK_THAT(message, Contains(part));
  CHECK(values(opt) == before);
}

}  // namespace

TEST_CASE("Optimizer: load_state refuses step counts whose next increment or bias correction breaks", "[optim][io]") {
  optim::Adam opt(params(), {.lr = 0.1});
  train(opt, 2);
  const auto good = copy_of(opt.state());
  // INT64_MAX would overflow on the next ++step (undefined behaviour).
  check_refused(opt, with_steps(good, {2, std::numeric_limits<std::int64_t>::max()}),
                {"Adam.load_state", "'step'", "9223372036854775807", "parameter 'b'", "[0, 2^53)"});
  // 2^53 + 1 is the first count a double cannot hold; the bias correction converts the count to double.
  check_refused(opt, with_steps(good, {kTwoTo53, 2}), {"'step'", "9007199254740992", "parameter 'a'"});
  check_refused(opt, with_steps(good, {-1, 2}), {"'step'", "-1", "parameter 'a'"});

  // The largest allowed count loads, and the next step is finite: beta^(2^53) underflows to 0, so the
  // bias corrections are exactly 1.
  opt.load_state(with_steps(good, {kTwoTo53 - 1, 0}));
  train(opt, 1);
  for (const auto& [name, p] : opt.parameters())
    for (double v : p.to_vector()) CHECK(std::isfinite(v));
  CHECK(opt.state().at(0).second.to_vector() == std::vector<double>{double(kTwoTo53), 1.0});
}

TEST_CASE("Adam: load_state refuses negative or non-finite moments, naming key and parameter", "[optim][io]") {
  for (DType dtype : {DType::float32, DType::float64}) {
    INFO(dtype_name(dtype));
    optim::Adam opt(params(dtype), {.lr = 0.1, .amsgrad = true});
    train(opt, 3);
    const auto good = copy_of(opt.state());
    // Before the fix a negative exp_avg_sq loaded and the next step made the parameter NaN (sqrt of < 0).
    check_refused(opt, with_value(good, "exp_avg_sq.b", 1, -1.0),
                  {"Adam.load_state", "'exp_avg_sq.b'", "parameter 'b'", "element 1", "-1", ">= 0"});
    check_refused(opt, with_value(good, "max_exp_avg_sq.a", 0, -0.5), {"'max_exp_avg_sq.a'", "-0.5"});
    check_refused(opt, with_value(good, "exp_avg_sq.a", 2, kInf), {"'exp_avg_sq.a'", "inf", "element 2"});
    check_refused(opt, with_value(good, "exp_avg.a", 0, kNaN), {"'exp_avg.a'", "nan", "finite"});
    check_refused(opt, with_value(good, "exp_avg.b", 0, -kInf), {"'exp_avg.b'", "-inf"});
    // Zero second moments and negative first moments are ordinary values.
    auto edge = with_value(with_value(good, "exp_avg_sq.a", 0, 0.0), "exp_avg.b", 1, -3.0);
    opt.load_state(edge);
    CHECK(opt.state().at(3).second.to_vector().at(0) == 0.0);  // exp_avg_sq.a: step, exp_avg.a, exp_avg.b, exp_avg_sq.a
  }
}

TEST_CASE("RMSprop: load_state refuses a negative average, a variance below zero and non-finite buffers", "[optim][io]") {
  for (DType dtype : {DType::float32, DType::float64}) {
    INFO(dtype_name(dtype));
    optim::RMSprop opt(params(dtype), {.lr = 0.01, .momentum = 0.9, .centered = true});
    train(opt, 3);
    const auto good = copy_of(opt.state());
    check_refused(opt, with_value(good, "square_avg.a", 0, -1e-3), {"RMSprop.load_state", "'square_avg.a'", ">= 0"});
    check_refused(opt, with_value(good, "momentum_buffer.b", 1, kNaN), {"'momentum_buffer.b'", "parameter 'b'", "nan"});
    check_refused(opt, with_value(good, "grad_avg.a", 1, kInf), {"'grad_avg.a'", "inf"});
    // centered: sqrt(square_avg - grad_avg^2) needs square_avg >= grad_avg^2; 4 > 1 + 0 violates it.
    auto bad_variance = with_value(with_value(good, "square_avg.b", 0, 1.0), "grad_avg.b", 0, 2.0);
    check_refused(opt, bad_variance, {"'square_avg.b'", "'grad_avg.b'", "parameter 'b'", "element 0"});
    // Exactly equal (zero variance) is a state training itself reaches.
    opt.load_state(with_value(with_value(good, "square_avg.b", 0, 4.0), "grad_avg.b", 0, -2.0));
  }
}

TEST_CASE("RMSprop: state from a long float32 run always loads back (no false refusals)", "[optim][io]") {
  // A gradient that is nearly constant drives the variance estimate square_avg - grad_avg^2 to rounding
  // level; whatever training produced must still load.
  optim::RMSprop opt({{"w", from_vector({1.0, -2.0, 3.0, 1e-3}, {4}, DType::float32).set_requires_grad()}},
                     {.lr = 1e-4, .alpha = 0.9, .centered = true});
  for (int s = 0; s < 400; ++s) {
    Tensor w = opt.parameters()[0].second;
    w.set_grad(
        from_vector({0.3, -7.0, 1e-3 * (s % 3), 2.5 + 1e-7 * s}, {4}, DType::float32));
    opt.step();
    optim::RMSprop fresh({{"w", zeros({4}, DType::float32).set_requires_grad()}},
                         {.lr = 1e-4, .alpha = 0.9, .centered = true});
    INFO("after step " << s + 1);
    REQUIRE_NOTHROW(fresh.load_state(opt.state()));
  }
}

TEST_CASE("SGD: load_state refuses a non-finite momentum buffer", "[optim][io]") {
  optim::SGD opt(params(), {.lr = 0.1, .momentum = 0.9});
  train(opt, 2);
  check_refused(opt, with_value(copy_of(opt.state()), "momentum_buffer.a", 2, kInf),
                {"SGD.load_state", "'momentum_buffer.a'", "parameter 'a'", "inf", "finite"});
}
