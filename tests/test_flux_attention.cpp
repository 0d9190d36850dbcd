// nn::FluxMultiHeadAttention against the same attention written with primitive ops (matmul, softmax,
// masked_fill), against the torch-checked functional form, float64 gradcheck with dropout active, and bad
// inputs (docs/attention.md, "Flux MultiHeadAttention").
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "testing.hpp"
#include "xgrad/functional/attention.hpp"
#include "xgrad/nn/flux_attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"

using namespace xgrad;
using nn::FluxAttentionDims;
using nn::FluxAttentionOptions;
using nn::FluxMultiHeadAttention;
using test::check_close;
using test::check_gradcheck;
using test::randn64;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Overwrites every parameter with fresh normal values (the biases start at zero, which would hide them).
void randomize(FluxMultiHeadAttention& layer, std::uint64_t seed) {
  Generator gen(seed);
  for (Tensor& p : layer.parameters()) {
    const auto values = randn(p.shape(), gen, DType::float64, 0.0, 0.5).to_vector();
    std::copy(values.begin(), values.end(), p.host_data<double>());
  }
}

Tensor dense(const Tensor& x, const FluxMultiHeadAttention& layer, const std::string& name) {
  const Tensor y = matmul(x, layer.find(name + ".weight"), false, true);
  return layer.options().bias ? y + layer.find(name + ".bias") : y;
}

// The layer's forward composed from primitive ops: heads by permute, logits by batched matmul, bias added,
// blocked logits filled with -inf, softmax, weights·V, heads merged. Returns (output, weights).
std::pair<Tensor, Tensor> composed(const FluxMultiHeadAttention& layer, const Tensor& q, const Tensor& k,
                                   const Tensor& v, const Tensor& bias, const Tensor& blocked) {
  const auto& d = layer.dims();
  const std::int64_t N = layer.options().nheads, B = q.shape()[0], T = q.shape()[1], S = k.shape()[1];
  auto heads = [&](const Tensor& x, std::int64_t len, std::int64_t width) {
    return permute(reshape(x, {B, len, N, width / N}), {0, 2, 1, 3});
  };
  const Tensor Q = heads(dense(q, layer, "q_proj"), T, d.qk), K = heads(dense(k, layer, "k_proj"), S, d.qk);
  const Tensor V = heads(dense(v, layer, "v_proj"), S, d.v);
  Tensor z = matmul(Q, K, false, true) * (1.0 / std::sqrt(static_cast<double>(d.qk / N)));
  if (bias.defined()) z = z + bias;
  if (blocked.defined()) z = masked_fill(z, blocked, -kInf);
  const Tensor p = softmax(z, -1);
  const Tensor o = reshape(permute(matmul(p, V), {0, 2, 1, 3}), {B, T, d.v});
  return {dense(o, layer, "out_proj"), p};
}

FluxAttentionOptions options64(std::int64_t nheads, bool bias, double dropout = 0.0) {
  FluxAttentionOptions o;
  o.nheads = nheads;
  o.bias = bias;
  o.dropout_prob = dropout;
  o.dtype = DType::float64;
  o.seed = 5;
  return o;
}

}  // namespace

TEST_CASE("FluxMultiHeadAttention: distinct q/k/v widths, (qk, v) => out, bias and mask match composed ops",
          "[functional][flux]") {
  FluxMultiHeadAttention layer(FluxAttentionDims::of({5, 3, 4}, {6, 4}, 7), options64(2, true));
  randomize(layer, 1);
  const Tensor q = randn64({2, 3, 5}, 2).detach(), k = randn64({2, 4, 3}, 3).detach(), v = randn64({2, 4, 4}, 4).detach();
  const Tensor bias = randn64({2, 1, 3, 4}, 5).detach();  // broadcast over heads
  // mask (T, S), nonzero = attend; every row keeps a key so the composed softmax has no NaN
  const Tensor keep = index_tensor({1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0}, {3, 4});
  const Tensor blocked = index_tensor({0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1}, {3, 4});
  const auto r = layer(q, k, v, bias, keep);
  const auto [out, p] = composed(layer, q, k, v, bias, blocked);
  CHECK(r.output.shape() == Shape{2, 3, 7});
  CHECK(r.scores.shape() == Shape{2, 2, 3, 4});
  check_close(r.output, out, 1e-12);
  check_close(r.scores, p, 1e-12);
  CHECK(r.scores.at({1, 1, 2, 2}) == 0.0);
  CHECK(layer.parameters().size() == 8);
  CHECK(layer.find("out_proj.weight").shape() == Shape{7, 4});
  CHECK(layer.find("k_proj.weight").shape() == Shape{6, 3});
}

TEST_CASE("FluxMultiHeadAttention: defaults are nheads 8 and no bias, mha(q) and mha(q, kv) repeat the input",
          "[functional][flux]") {
  FluxMultiHeadAttention layer(16);
  CHECK(layer.options().nheads == 8);
  CHECK(layer.parameters().size() == 4);  // four weights, no biases
  const Tensor x = randn64({2, 5, 16}, 6).to(DType::float32), kv = randn64({2, 3, 16}, 7).to(DType::float32);
  check_close(layer(x).output, layer(x, x, x).output, 0.0);
  check_close(layer.forward(x, kv).scores, layer(x, kv, kv).scores, 0.0);
  CHECK(layer.forward(x, kv).scores.shape() == Shape{2, 8, 5, 3});
}

TEST_CASE("FluxMultiHeadAttention: equals the functional form with separate weights, out_proj and no scale",
          "[functional][flux]") {
  FluxMultiHeadAttention layer(FluxAttentionDims::same(8), options64(2, true));
  randomize(layer, 8);
  const Tensor q = randn64({2, 4, 8}, 9).detach(), kv = randn64({2, 6, 8}, 10).detach();
  functional::MultiHeadAttentionOptions o;
  o.num_heads = 2;
  o.q_proj_weights = layer.find("q_proj.weight"), o.k_proj_weights = layer.find("k_proj.weight");
  o.v_proj_weights = layer.find("v_proj.weight");
  o.in_proj_bias = concat({layer.find("q_proj.bias"), layer.find("k_proj.bias"), layer.find("v_proj.bias")}, 0);
  o.out_proj_weights = layer.find("out_proj.weight"), o.out_proj_bias = layer.find("out_proj.bias");
  o.return_attention_weights = true, o.average_attention_weights = false;
  const auto f = functional::multi_head_attention(q, kv, kv, o);
  const auto r = layer(q, kv, kv);
  check_close(r.output, f.output, 1e-12);
  check_close(r.scores, f.attention_weights, 1e-12);
}

TEST_CASE("FluxMultiHeadAttention: causal mask blocks later keys, a fully masked row gives zeros, not NaN",
          "[functional][flux]") {
  const Tensor x = randn64({1, 4, 8}, 11).detach();
  const Tensor m = nn::flux_causal_mask(x);
  CHECK(m.to_vector() == std::vector<double>{1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1});
  FluxMultiHeadAttention layer(FluxAttentionDims::same(8), options64(2, true));
  randomize(layer, 12);
  const auto r = layer(x, x, x, {}, m);
  for (std::int64_t t = 0; t < 4; ++t)
    for (std::int64_t s = t + 1; s < 4; ++s) CHECK(r.scores.at({0, 1, t, s}) == 0.0);
  Tensor none = zeros({1, 1, 4, 4}, DType::int64);
  const auto blocked = layer(x, x, x, {}, none);
  for (double w : blocked.scores.to_vector()) CHECK(w == 0.0);
  const Tensor bias = layer.find("out_proj.bias");
  for (std::int64_t e = 0; e < 8; ++e) CHECK(blocked.output.at({0, 2, e}) == Approx(bias.at({e})).margin(1e-14));
}

TEST_CASE("FluxMultiHeadAttention: float64 gradcheck of q, k, v, the additive bias and every weight, dropout on",
          "[functional][flux][gradcheck]") {
  FluxMultiHeadAttention layer(FluxAttentionDims::of({4, 3, 5}, {4, 6}, 3), options64(2, true, 0.25));
  randomize(layer, 13);
  layer.train();
  const Tensor keep = index_tensor({1, 1, 0, 1, 0, 1, 0, 0}, {2, 1, 1, 4});  // key padding per batch
  std::vector<Tensor> inputs{randn64({2, 3, 4}, 14), randn64({2, 4, 3}, 15), randn64({2, 4, 5}, 16),
                             randn64({1, 2, 3, 4}, 17)};
  for (const Tensor& p : layer.parameters()) inputs.push_back(p);
  check_gradcheck(
      [&](const std::vector<Tensor>& in) {
        layer.reseed(21);  // same dropout mask in every evaluation
        const auto r = layer(in[0], in[1], in[2], in[3], keep);
        return concat({reshape(r.output, {-1}), reshape(r.scores, {-1})}, 0);
      },
      inputs);
}

TEST_CASE("FluxMultiHeadAttention: bad sizes, inputs, bias and mask raise typed errors naming them",
          "[functional][flux]") {
  auto make = [](FluxAttentionDims d, std::int64_t nheads, double dropout = 0.0) {
    FluxAttentionOptions o;
    o.nheads = nheads, o.dropout_prob = dropout;
    FluxMultiHeadAttention layer(d, o);
  };
  CHECK_THROWS_WITH(make(FluxAttentionDims::of(8, {6, 8}, 8), 4),
                    Catch::Contains("qk = 6 is not divisible by nheads = 4"));
  CHECK_THROWS_AS(make(FluxAttentionDims::of(8, {8, 6}, 8), 4), ValueError);
  CHECK_THROWS_WITH(make(FluxAttentionDims::of(8, {8, 6}, 8), 4), Catch::Contains("v = 6 is not divisible"));
  CHECK_THROWS_WITH(make(FluxAttentionDims::of(0, 8, 8), 2), Catch::Contains("q_in must be positive, got 0"));
  CHECK_THROWS_WITH(make(FluxAttentionDims::same(8), 2, 1.5), Catch::Contains("dropout_prob must be in [0, 1]"));

  FluxMultiHeadAttention layer(FluxAttentionDims::of({4, 3, 5}, {4, 4}, 3), options64(2, false));
  const Tensor q = randn64({2, 3, 4}, 1).detach(), k = randn64({2, 5, 3}, 2).detach(), v = randn64({2, 5, 5}, 3).detach();
  auto shape_error = [](const std::function<void()>& call, const std::string& fragment) {
    INFO(fragment);
    CHECK_THROWS_AS(call(), ShapeError);
    CHECK_THROWS_WITH(call(), Catch::Contains(fragment));
  };
  shape_error([&] { layer(k, k, v); }, "q must be (batch, len, 4), got (2, 5, 3)");
  shape_error([&] { layer(q, q, v); }, "k must be (batch, len, 3), got (2, 3, 4)");
  shape_error([&] { layer(q, k, randn64({2, 4, 5}, 4)); }, "must share the batch size, and k and v the length");
  shape_error([&] { layer(q, k, v, zeros({3, 4}, DType::float64)); },
              "bias shape (3, 4) does not broadcast to scores (B, nheads, q_len, kv_len) = (2, 2, 3, 5)");
  shape_error([&] { layer(q, k, v, {}, ones({2, 1, 3, 4}, DType::int64)); }, "mask shape (2, 1, 3, 4)");
  Tensor bad = zeros({1, 1, 3, 5}, DType::float64);
  bad.set({0, 0, 1, 2}, kInf);
  CHECK_THROWS_AS(layer(q, k, v, bad), ValueError);
  CHECK_THROWS_WITH(layer(q, k, v, bad), Catch::Contains("bias entries must be finite or -inf, found inf"));
}
