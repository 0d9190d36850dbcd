// Each fused nn op against the same function composed from primitive ops (style: fused kernels are
// checked against their composition): equal values and equal input gradients in float64.
#include <catch2/catch.hpp>

#include <functional>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs fn on fresh leaf copies of `inputs` and back-propagates a fixed random upstream gradient.
std::pair<Tensor, std::vector<Tensor>> value_and_grads(const Fn& fn, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> leaves;
  for (const auto& x : inputs) leaves.push_back(x.clone().set_requires_grad());
  Tensor out = fn(leaves);
  Generator gen(99);
  out.backward(randn(out.shape(), gen, DType::float64));
  std::vector<Tensor> grads;
  for (const auto& leaf : leaves) grads.push_back(leaf.grad());
  return {out.detach(), grads};
}

void check_same(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  for (std::size_t i = 0; i < va.size(); ++i) {
    INFO("element " << i);
    CHECK(va[i] == Approx(vb[i]).margin(1e-12).epsilon(1e-10));
  }
}

void check_fused_matches_composed(const Fn& fused, const Fn& composed, const std::vector<Tensor>& inputs) {
  auto [fused_out, fused_grads] = value_and_grads(fused, inputs);
  auto [composed_out, composed_grads] = value_and_grads(composed, inputs);
  check_same(fused_out, composed_out);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    INFO("gradient of input " << i);
    check_same(fused_grads[i], composed_grads[i]);
  }
}

Tensor composed_log_softmax(const Tensor& x, std::int64_t axis) {
  Tensor shifted = x - max(x, {axis}, true);
  return shifted - log(sum(exp(shifted), {axis}, true));
}

// One-hot rows (N, C) of int64 `targets`, as a float64 constant.
Tensor one_hot(const std::vector<std::int64_t>& targets, std::int64_t classes) {
  Tensor t = zeros({static_cast<std::int64_t>(targets.size()), classes}, DType::float64);
  for (std::size_t i = 0; i < targets.size(); ++i) t.set({static_cast<std::int64_t>(i), targets[i]}, 1.0);
  return t;
}

}  // namespace

TEST_CASE("softmax and log_softmax equal exp/sum compositions on the last and a middle axis", "[nn][fused]") {
  Generator gen(1);
  Tensor x = randn({3, 4, 5}, gen, DType::float64, 0.0, 3.0);
  for (std::int64_t axis : {-1, 1}) {
    INFO("axis " << axis);
    check_fused_matches_composed([&](const auto& in) { return softmax(in[0], axis); },
                                 [&](const auto& in) { return exp(composed_log_softmax(in[0], axis)); }, {x});
    check_fused_matches_composed([&](const auto& in) { return log_softmax(in[0], axis); },
                                 [&](const auto& in) { return composed_log_softmax(in[0], axis); }, {x});
  }
}

TEST_CASE("layer_norm equals mean/variance composition, for input, weight and bias", "[nn][fused]") {
  Generator gen(2);
  Tensor x = randn({2, 3, 6}, gen, DType::float64, 1.0, 2.0);
  Tensor w = randn({6}, gen, DType::float64);
  Tensor b = randn({6}, gen, DType::float64);
  const double eps = 1e-5;
  check_fused_matches_composed([&](const auto& in) { return layer_norm(in[0], in[1], in[2], eps); },
                               [&](const auto& in) {
                                 Tensor centred = in[0] - mean(in[0], {-1}, true);
                                 Tensor variance = mean(centred * centred, {-1}, true);
                                 return centred / sqrt(variance + eps) * in[1] + in[2];
                               },
                               {x, w, b});
}

TEST_CASE("cross_entropy equals -mean(target * log_softmax) with smoothing and ignore_index", "[nn][fused]") {
  Generator gen(3);
  Tensor logits = randn({4, 5}, gen, DType::float64, 0.0, 2.0);
  const std::vector<std::int64_t> labels{1, 4, 0, 2};
  Tensor targets = index_tensor({1, 4, -100, 2}, {4});
  const double smoothing = 0.2;
  // Row 2 is ignored: its target row is zero and the mean divides by the 3 counted rows.
  Tensor smoothed = one_hot(labels, 5) * (1.0 - smoothing) + smoothing / 5.0;
  Tensor keep = from_vector({1, 1, 0, 1}, {4, 1}, DType::float64);
  check_fused_matches_composed(
      [&](const auto& in) { return cross_entropy(in[0], targets, {.label_smoothing = smoothing}); },
      [&](const auto& in) { return -sum(smoothed * keep * composed_log_softmax(in[0], -1)) / 3.0; }, {logits});
}

TEST_CASE("mse equals mean of the squared difference", "[nn][fused]") {
  Generator gen(4);
  Tensor a = randn({3, 4}, gen, DType::float64);
  Tensor b = randn({3, 4}, gen, DType::float64);
  check_fused_matches_composed([](const auto& in) { return mse(in[0], in[1]); },
                               [](const auto& in) {
                                 Tensor d = in[0] - in[1];
                                 return mean(d * d);
                               },
                               {a, b});
}
