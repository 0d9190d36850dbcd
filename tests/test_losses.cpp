// nn losses: values by hand (std::log1p etc. on the same inputs), gradients by hand at the kinks and
// by gradcheck elsewhere, and the bad inputs.
#include <catch2/catch.hpp>

#include "testing.hpp"

#include <cmath>

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/nn/losses.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/reduction.hpp"
#include "test_optim_helpers.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using test::check_values;
using Catch::Matchers::Contains;

namespace {

Tensor f64(std::vector<double> values, Shape shape) { return from_vector(values, shape, DType::float64); }

/// log_softmax(row)[c], by hand.
double log_softmax_at(const std::vector<double>& row, std::size_t c) {
  double s = 0.0;
  for (double v : row) s += std::exp(v);
  return row[c] - std::log(s);
}

/// max(-x, 0) + log1p(exp(-|x|)) = log(1 + exp(-x)), by hand.
double softplus_neg(double x) { return std::max(-x, 0.0) + std::log1p(std::exp(-std::abs(x))); }

using test::check_gradcheck;

}  // namespace

TEST_CASE("cross_entropy: none/mean/sum with ignore_index and label smoothing match the formula", "[optim]") {
  const std::vector<std::vector<double>> rows = {{1.0, 2.0, 0.5}, {0.0, -1.0, 3.0}, {0.3, -0.2, 0.1}};
  const std::vector<std::int64_t> labels = {1, -1, 0};
  const Tensor logits = f64({1.0, 2.0, 0.5, 0.0, -1.0, 3.0, 0.3, -0.2, 0.1}, {3, 3});
  const Tensor targets = index_tensor(labels, {3});
  for (double ls : {0.0, 0.2}) {
    INFO("label_smoothing " << ls);
    std::vector<double> per_row(3, 0.0);
    for (std::size_t r : {0u, 2u}) {
      double smooth = 0.0;
      for (std::size_t c = 0; c < 3; ++c) smooth += log_softmax_at(rows[r], c);
      per_row[r] = -((1 - ls) * log_softmax_at(rows[r], static_cast<std::size_t>(labels[r])) + ls / 3 * smooth);
    }
    using nn::Reduction;
    check_values(nn::cross_entropy(logits, targets, {Reduction::none, -1, ls}), per_row);
    check_values(nn::cross_entropy(logits, targets, {Reduction::sum, -1, ls}), {per_row[0] + per_row[2]});
    check_values(nn::cross_entropy(logits, targets, {Reduction::mean, -1, ls}), {(per_row[0] + per_row[2]) / 2});
  }
}

TEST_CASE("cross_entropy: unqualified calls resolve under using namespace xgrad and xgrad::nn", "[nn]") {
  using namespace xgrad::nn;  // `using namespace xgrad` is at file scope: both cross_entropy are in scope
  const Tensor logits = f64({0.0, 1.0, 2.0, 1.0, 1.0, 1.0}, {2, 3}), targets = index_tensor({2, 0}, {2});
  // Row 0: -log_softmax(0, 1, 2)[2]; row 1: -log(1/3). Smoothed: (1 - s) nll + s mean_c(-log_softmax_c).
  const double r0 = -log_softmax_at({0, 1, 2}, 2), r1 = std::log(3.0);
  double mean0 = 0.0;
  for (std::size_t c = 0; c < 3; ++c) mean0 -= log_softmax_at({0, 1, 2}, c) / 3;
  check_values(cross_entropy(logits, targets), {(r0 + r1) / 2});
  check_values(cross_entropy(logits, targets, {.label_smoothing = 0.5}), {(0.5 * r0 + 0.5 * mean0 + r1) / 2});
  check_values(cross_entropy(logits, targets, {.reduction = Reduction::none}), {r0, r1});
  check_values(cross_entropy(logits, targets, {.mean = false}), {r0 + r1});  // the op's own option
  check_values(cross_entropy_loss(logits, targets, {.reduction = Reduction::sum}), {r0 + r1});
}

TEST_CASE("cross_entropy: reduction none has gradients (gradcheck), zero on ignored rows", "[optim]") {
  const Tensor logits = f64({1.0, 2.0, 0.5, 0.0, -1.0, 3.0, 0.3, -0.2, 0.1, 1.5, 0.5, -0.5}, {2, 2, 3})
                            .set_requires_grad();
  const Tensor targets = index_tensor({2, 7, 0, 1}, {2, 2});
  auto fn = [&](const std::vector<Tensor>& in) {
    return nn::cross_entropy(in[0], targets, {nn::Reduction::none, 7, 0.1});
  };
  check_gradcheck(fn, {logits});
  sum(fn({logits})).backward();
  const std::vector<double> g = logits.grad().to_vector();  // target (0, 1) is ignored: flat 3..5
  CHECK(std::vector<double>(g.begin() + 3, g.begin() + 6) == std::vector<double>{0.0, 0.0, 0.0});
  CHECK(g[0] != 0.0);
}

TEST_CASE("binary_cross_entropy_with_logits: stable values for large logits, by hand", "[optim]") {
  const std::vector<double> xs = {0.0, 2.0, -3.0, 1000.0, -1000.0, 40.0};
  const std::vector<double> ys = {1.0, 0.0, 0.3, 1.0, 1.0, 0.0};
  const Tensor x = f64(xs, {6}), y = f64(ys, {6});
  std::vector<double> expected;
  for (std::size_t i = 0; i < xs.size(); ++i) expected.push_back((1 - ys[i]) * xs[i] + softplus_neg(xs[i]));
  check_values(nn::binary_cross_entropy_with_logits(x, y, nn::Reduction::none), expected);
  CHECK(expected[3] == 0.0);
  CHECK(expected[4] == 1000.0);
  double total = 0.0;
  for (double e : expected) total += e;
  check_values(nn::binary_cross_entropy_with_logits(x, y), {total / 6});
  check_values(nn::binary_cross_entropy_with_logits(x, y, nn::Reduction::sum), {total});
}

TEST_CASE("binary_cross_entropy_with_logits: pos_weight per class scales the positive term", "[optim]") {
  const std::vector<double> xs = {0.5, -1.0, 2.0, 0.0, 3.0, -0.25}, ys = {1.0, 0.0, 0.5, 1.0, 0.2, 0.0};
  const std::vector<double> pw = {2.0, 0.5, 3.0};
  const Tensor x = f64(xs, {2, 3}), y = f64(ys, {2, 3}), w = f64(pw, {3});
  std::vector<double> expected;
  for (std::size_t i = 0; i < xs.size(); ++i)
    expected.push_back((1 - ys[i]) * xs[i] + (1 + (pw[i % 3] - 1) * ys[i]) * softplus_neg(xs[i]));
  check_values(nn::binary_cross_entropy_with_logits(x, y, nn::Reduction::none, w), expected);
}

TEST_CASE("binary_cross_entropy_with_logits: gradient is sigmoid(x) - y, also at x = 0", "[optim]") {
  const Tensor x = f64({0.0, 0.0, 1.0}, {3}).set_requires_grad();
  const Tensor y = f64({1.0, 0.25, 0.0}, {3});
  nn::binary_cross_entropy_with_logits(x, y, nn::Reduction::sum).backward();
  check_values(x.grad(), {0.5 - 1.0, 0.5 - 0.25, 1.0 / (1.0 + std::exp(-1.0))});
}

TEST_CASE("binary_cross_entropy_with_logits: gradcheck in logits, targets and pos_weight", "[optim]") {
  const Tensor x = f64({0.0, -2.0, 0.7, 3.0, -0.4, 1.2}, {2, 3}).set_requires_grad();
  const Tensor y = f64({1.0, 0.3, 0.0, 0.9, 0.5, 0.1}, {2, 3}).set_requires_grad();
  const Tensor w = f64({1.5, 0.5, 2.0}, {3}).set_requires_grad();
  check_gradcheck([](const std::vector<Tensor>& in) { return nn::binary_cross_entropy_with_logits(in[0], in[1]); },
                  {x, y});
  check_gradcheck(
      [](const std::vector<Tensor>& in) {
        return nn::binary_cross_entropy_with_logits(in[0], in[1], nn::Reduction::none, in[2]);
      },
      {x, y, w});
}

TEST_CASE("mse_loss and l1_loss: reductions by hand, l1 gradient is 0 where equal", "[optim]") {
  Tensor a = f64({1.0, 2.0, 3.0}, {3}).set_requires_grad();
  const Tensor b = f64({1.0, 0.0, 5.0}, {3});
  check_values(nn::mse_loss(a, b, nn::Reduction::none), {0.0, 4.0, 4.0});
  check_values(nn::mse_loss(a, b, nn::Reduction::sum), {8.0});
  check_values(nn::mean_squared_error(a, b), {8.0 / 3});
  check_values(nn::l1_loss(a, b, nn::Reduction::none), {0.0, 2.0, 2.0});
  check_values(nn::mean_absolute_error(a, b), {4.0 / 3});
  nn::l1_loss(a, b, nn::Reduction::sum).backward();
  check_values(a.grad(), {0.0, 1.0, -1.0});
  a.zero_grad();
  nn::mse_loss(a, b, nn::Reduction::sum).backward();
  check_values(a.grad(), {0.0, 4.0, -4.0});
  const Tensor p = f64({0.5, -1.0, 2.0, 0.25}, {2, 2}).set_requires_grad();
  const Tensor q = f64({1.0, 1.0, -1.0, 0.0}, {2, 2}).set_requires_grad();
  check_gradcheck([](const std::vector<Tensor>& in) { return nn::l1_loss(in[0], in[1], nn::Reduction::none); }, {p, q});
  check_gradcheck([](const std::vector<Tensor>& in) { return nn::mse_loss(in[0], in[1], nn::Reduction::sum); }, {p, q});
}

TEST_CASE("losses: bad inputs throw typed errors naming the loss and shapes", "[optim]") {
  const Tensor a = f64({1, 2, 3}, {3}), col = f64({1, 2, 3}, {3, 1});
  CHECK_THROWS_AS(nn::mse_loss(a, col), ShapeError);
  CHECK_THROWS_WITH(nn::mse_loss(a, col), Contains("mse_loss") && Contains("(3,)") && Contains("(3, 1)"));
  CHECK_THROWS_WITH(nn::l1_loss(col, a, nn::Reduction::none), Contains("l1_loss") && Contains("(3, 1)"));
  CHECK_THROWS_AS(nn::l1_loss(a, from_vector({1, 2, 3}, {3}, DType::float32)), TypeError);
  CHECK_THROWS_AS(nn::binary_cross_entropy_with_logits(a, col), ShapeError);
  const Tensor x = f64({0, 1, 2, 3, 4, 5}, {2, 3});
  CHECK_THROWS_WITH(nn::binary_cross_entropy_with_logits(x, x, nn::Reduction::mean, f64({1, 2}, {2})),
                    Contains("pos_weight") && Contains("(2,)"));

  using nn::Reduction;
  const Tensor logits = f64({0, 1, 2, 3, 4, 5}, {2, 3});
  CHECK_THROWS_AS(nn::cross_entropy(logits, f64({0, 1}, {2}), {Reduction::none}), TypeError);
  CHECK_THROWS_WITH(nn::cross_entropy(logits, index_tensor({0, 1, 2}, {3}), {Reduction::none}),
                    Contains("(2, 3)") && Contains("(3,)"));
  CHECK_THROWS_AS(nn::cross_entropy(logits, index_tensor({0, 3}, {2}), {Reduction::none}), IndexError);
  CHECK_THROWS_WITH(nn::cross_entropy(logits, index_tensor({0, 1}, {2}), {Reduction::none, -100, 1.5}),
                    Contains("label_smoothing"));
}
