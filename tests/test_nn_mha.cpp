// Keras MultiHeadAttention against torch's F.multi_head_attention_forward with the weights converted to Keras
// layout (tools/make_attention_fixtures.py), against Keras 3.15 itself for attention_axes, output_shape and masks
// (tools/make_attention_keras_fixtures.py), against finite differences, and hand-checked rules
// (docs/attention.md, "Keras 3 MultiHeadAttention").
#include <catch2/catch.hpp>

#include "testing.hpp"
#include "fixtures.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/nn/attention.hpp"
#include "xgrad/nn/multi_head_attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"

using namespace xgrad;
using nn::MultiHeadAttention;
using nn::MultiHeadAttentionCall;
using nn::MultiHeadAttentionOptions;
using test::check_close;
using test::check_gradcheck;
using test::fixture_tensor;
using test::load_fixture;
using test::randn64;

namespace {

using Inputs = std::vector<Tensor>;

MultiHeadAttentionOptions f64(MultiHeadAttentionOptions o) {
  o.dtype = DType::float64;
  return o;
}

std::vector<Tensor> tensors(const nlohmann::json& list) {
  std::vector<Tensor> out;
  for (const auto& j : list) out.push_back(fixture_tensor(j));
  return out;
}

// A float64 layer built for the fixture's inputs and loaded with its weights (Keras order).
void load(MultiHeadAttention& layer, const nlohmann::json& c, const Tensor& q, const Tensor& v, const Tensor& k) {
  layer.build(q.shape(), v.shape(), k.defined() ? k.shape() : v.shape());
  layer.set_weights(tensors(c["weights"]));
}

Tensor optional_tensor(const nlohmann::json& c, const char* name, DType dtype = DType::float64) {
  return c.contains(name) ? fixture_tensor(c[name], dtype) : Tensor();
}

}  // namespace

TEST_CASE("MultiHeadAttention: outputs, per-head and averaged weights and all gradients equal torch's MHA",
          "[attention]") {
  const auto fx = load_fixture("attention_mha_torch.json");
  for (const char* name : {"cross", "masked_causal", "self_no_bias"}) {
    INFO(name);
    const auto& c = fx.at(name);
    const bool self = std::string(name) == "self_no_bias";
    MultiHeadAttention layer(f64({.num_heads = c["num_heads"], .key_dim = c["key_dim"], .use_bias = !self}));
    Tensor q = fixture_tensor(c["query"]).set_requires_grad();
    Tensor k = self ? q : fixture_tensor(c["key"]).set_requires_grad();
    Tensor v = self ? q : fixture_tensor(c["value"]).set_requires_grad();
    load(layer, c, q, v, k);
    MultiHeadAttentionCall call{.key = self ? Tensor() : k, .attention_mask = optional_tensor(c, "attention_mask", DType::int64),
                                .query_mask = optional_tensor(c, "query_mask", DType::int64),
                                .value_mask = optional_tensor(c, "value_mask", DType::int64),
                                .return_attention_scores = true, .use_causal_mask = c["causal"].get<bool>()};
    const auto r = layer(q, v, call);
    check_close(r.output, fixture_tensor(c["out"]));
    check_close(r.scores, fixture_tensor(c["scores"]));
    check_close(mean(r.scores, {1}), fixture_tensor(c["avg_scores"]));
    (sum(r.output * fixture_tensor(c["r_out"])) + sum(r.scores * fixture_tensor(c["r_scores"]))).backward();
    const auto grad_inputs = tensors(c["grad_inputs"]);
    check_close(q.grad(), grad_inputs[0]);
    if (!self) {
      check_close(k.grad(), grad_inputs[1]);
      check_close(v.grad(), grad_inputs[2]);
    }
    const auto want = tensors(c["grad_weights"]);
    const auto weights = layer.get_weights();
    REQUIRE(weights.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      INFO("weight " << i);
      check_close(weights[i].grad(), want[i]);
    }
  }
}

TEST_CASE("MultiHeadAttention: attention_axes, output_shape and Keras's mask rules equal Keras 3 itself", "[attention]") {
  const auto fx = load_fixture("attention_keras.json");
  for (const auto& [name, c] : fx["mha"].items()) {
    INFO(name);
    MultiHeadAttentionOptions o = f64({.num_heads = c["num_heads"], .key_dim = c["key_dim"], .use_bias = c["use_bias"]});
    if (c.contains("value_dim")) o.value_dim = c["value_dim"].get<std::int64_t>();
    if (c.contains("output_shape")) o.output_shape = c["output_shape"].get<Shape>();
    if (c.contains("attention_axes")) o.attention_axes = c["attention_axes"].get<std::vector<std::int64_t>>();
    MultiHeadAttention layer(o);
    const Tensor q = fixture_tensor(c["query"]), v = fixture_tensor(c["value"]), k = optional_tensor(c, "key");
    load(layer, c, q, v, k);
    const auto r = layer(q, v, {.key = k, .attention_mask = optional_tensor(c, "attention_mask", DType::int64),
                                .query_mask = optional_tensor(c, "query_mask", DType::int64),
                                .value_mask = optional_tensor(c, "value_mask", DType::int64),
                                .key_mask = optional_tensor(c, "key_mask", DType::int64),
                                .return_attention_scores = true, .use_causal_mask = c["use_causal_mask"].get<bool>()});
    // Keras computes in float64 too, but with the query scaled before the product and another summation order
    check_close(r.output, fixture_tensor(c["out"]), 1e-10);
    check_close(r.scores, fixture_tensor(c["scores"]), 1e-10);
  }
}

TEST_CASE("MultiHeadAttention: weights are built on the first call with Keras names, shapes and order", "[attention]") {
  MultiHeadAttention layer(f64({.num_heads = 3, .key_dim = 2, .value_dim = 4, .output_shape = Shape{5, 2}}));
  CHECK_FALSE(layer.built());
  CHECK(layer.parameters().empty());
  const auto r = layer(randn64({2, 4, 7}, 1).detach(), randn64({2, 6, 8}, 2).detach(), {.key = randn64({2, 6, 9}, 3).detach()});
  CHECK(r.output.shape() == Shape{2, 4, 5, 2});
  const auto named = layer.named_parameters();
  const std::vector<std::pair<std::string, Shape>> want{
      {"query.kernel", {7, 3, 2}}, {"query.bias", {3, 2}}, {"key.kernel", {9, 3, 2}}, {"key.bias", {3, 2}},
      {"value.kernel", {8, 3, 4}}, {"value.bias", {3, 4}}, {"attention_output.kernel", {3, 4, 5, 2}},
      {"attention_output.bias", {5, 2}}};
  REQUIRE(named.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CHECK(named[i].first == want[i].first);
    CHECK(named[i].second.shape() == want[i].second);
  }
  for (double b : layer.find("query.bias").to_vector()) CHECK(b == 0.0);  // biases start at zero
  MultiHeadAttention no_bias(f64({.num_heads = 2, .key_dim = 2, .use_bias = false}));
  no_bias(randn64({1, 3, 4}, 4).detach(), randn64({1, 3, 4}, 5).detach());
  CHECK(no_bias.get_weights().size() == 4);
  // four kernels, each drawn on its own
  CHECK(layer.find("query.kernel").to_vector() != layer.find("key.kernel").to_vector());
}

TEST_CASE("MultiHeadAttention: a padded query row attends nothing and outputs the output bias", "[attention]") {
  MultiHeadAttention layer(f64({.num_heads = 2, .key_dim = 3, .bias_initializer = nn::Initializer([](const Shape& s, DType dt, Generator& g) {
                                  return randn(s, g, dt);
                                })}));
  const Tensor q = randn64({1, 3, 4}, 6).detach(), v = randn64({1, 5, 4}, 7).detach();
  const auto r = layer(q, v, {.query_mask = from_vector({1, 0, 1}, {1, 3}), .return_attention_scores = true});
  const Tensor bias = layer.find("attention_output.bias");
  for (std::int64_t d = 0; d < 4; ++d) CHECK(r.output.at({0, 1, d}) == Approx(bias.at({d})).epsilon(1e-14));
  for (double s : sum(r.scores, {-1}).to_vector()) CHECK((s == 0.0 || s == Approx(1.0).epsilon(1e-14)));
  for (std::int64_t s = 0; s < 5; ++s) CHECK(r.scores.at({0, 0, 1, s}) == 0.0);
}

TEST_CASE("MultiHeadAttention: changing future tokens never changes past outputs under use_causal_mask", "[attention]") {
  MultiHeadAttention layer(f64({.num_heads = 2, .key_dim = 3}));
  const Tensor x = randn64({2, 6, 4}, 8).detach();
  const Tensor before = layer(x, x, {.use_causal_mask = true}).output;
  Tensor y = x.clone();
  for (std::int64_t d = 0; d < 4; ++d) y.set({0, 4, d}, 50.0), y.set({1, 2, d}, -3.0 * d);
  const Tensor after = layer(y, y, {.use_causal_mask = true}).output;
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t t = 0; t < (b == 0 ? 4 : 2); ++t)
      for (std::int64_t d = 0; d < 4; ++d) CHECK(after.at({b, t, d}) == before.at({b, t, d}));
  CHECK(after.at({0, 5, 0}) != before.at({0, 5, 0}));  // the future does see the change
}

TEST_CASE("MultiHeadAttention: dropout acts on P in training only, returned scores stay pre-dropout", "[attention]") {
  MultiHeadAttention layer(f64({.num_heads = 2, .key_dim = 2, .dropout = 0.5, .seed = 3}));
  const Tensor q = randn64({2, 4, 4}, 9).detach(), v = randn64({2, 5, 4}, 10).detach();
  const auto infer = layer(q, v, {.return_attention_scores = true, .training = false});
  const auto train = layer(q, v, {.return_attention_scores = true, .training = true});
  check_close(train.scores, infer.scores, 0.0);
  CHECK(train.output.to_vector() != infer.output.to_vector());
  layer.reseed(11);
  const Tensor a = layer(q, v, {.training = true}).output;
  layer.reseed(11);
  check_close(layer(q, v, {.training = true}).output, a, 0.0);  // re-seeding reproduces the masks
}

TEST_CASE("MultiHeadAttention: gradcheck of inputs and every weight in every mask path with dropout", "[attention]") {
  const Tensor q = randn64({2, 3, 4}, 21), k = randn64({2, 4, 3}, 22), v = randn64({2, 4, 5}, 23);
  const Tensor am = from_vector({1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1}, {2, 3, 4});
  const Tensor qm = from_vector({1, 0, 1, 1, 1, 1}, {2, 3}), vm = from_vector({1, 1, 1, 0, 1, 0, 1, 1}, {2, 4});
  const Tensor r_scores = randn64({2, 2, 3, 4}, 24).detach();
  MultiHeadAttention layer(f64({.num_heads = 2, .key_dim = 2, .value_dim = 3, .dropout = 0.3,
                                .output_shape = Shape{2, 2},
                                .bias_initializer = nn::Initializer([](const Shape& s, DType dt, Generator& g) { return randn(s, g, dt); }),
                                .seed = 4}));
  layer(q, v, {.key = k});
  Inputs inputs{q, k, v};
  for (const Tensor& w : layer.get_weights()) inputs.push_back(w);
  for (int path = 0; path < 5; ++path) {
    INFO("path " << path);  // none, attention_mask, padding masks, causal, all combined
    check_gradcheck(
        [&](const Inputs& in) {
          layer.reseed(5);
          MultiHeadAttentionCall call{.key = in[1], .return_attention_scores = true, .training = true};
          if (path == 1 || path == 4) call.attention_mask = am;
          if (path == 2 || path == 4) call.query_mask = qm, call.value_mask = vm;
          call.use_causal_mask = path >= 3;
          const auto r = layer(in[0], in[2], call);
          return sum(r.output) + sum(r.scores * r_scores);
        },
        inputs);
  }
}

TEST_CASE("MultiHeadAttention: gradcheck with attention over two axes of 5-D inputs and self-attention", "[attention]") {
  const Tensor x = randn64({2, 2, 3, 2, 4}, 31), w = randn64({2, 2, 3, 2, 4}, 32).detach();
  MultiHeadAttention layer(f64({.num_heads = 2, .key_dim = 2, .attention_axes = std::vector<std::int64_t>{3, 2}}));
  layer(x, x);
  Inputs inputs{x};
  for (const Tensor& p : layer.get_weights()) inputs.push_back(p);
  check_gradcheck([&](const Inputs& in) { return sum(layer(in[0], in[0]).output * w); }, inputs);
}

TEST_CASE("MultiHeadAttention: bad arguments and inputs raise typed errors naming them and the shapes", "[attention]") {
  CHECK_THROWS_WITH(MultiHeadAttention(0, 4), Catch::Contains("num_heads must be a positive integer, got 0"));
  CHECK_THROWS_AS(MultiHeadAttention(-2, 4), ValueError);
  CHECK_THROWS_WITH(MultiHeadAttention(2, 0), Catch::Contains("key_dim must be a positive integer, got 0"));
  CHECK_THROWS_WITH(MultiHeadAttention({.num_heads = 2, .key_dim = 2, .value_dim = -1}), Catch::Contains("value_dim"));
  CHECK_THROWS_WITH(MultiHeadAttention({.num_heads = 2, .key_dim = 2, .dropout = 2.0}), Catch::Contains("dropout"));
  CHECK_THROWS_WITH(MultiHeadAttention({.num_heads = 2, .key_dim = 2, .output_shape = Shape{3, 0}}),
                    Catch::Contains("output_shape must hold positive integers, got (3, 0)"));
  MultiHeadAttention layer(f64({.num_heads = 2, .key_dim = 2}));
  const Tensor q = randn64({2, 3, 4}, 1).detach(), v = randn64({2, 5, 4}, 2).detach();
  auto shape_error = [&](MultiHeadAttention& l, const Tensor& query, const Tensor& value, const MultiHeadAttentionCall& c,
                         const std::string& text) {
    CHECK_THROWS_AS(l(query, value, c), ShapeError);
    CHECK_THROWS_WITH(l(query, value, c), Catch::Contains(text));
  };
  shape_error(layer, q, v, {.key = randn64({2, 4, 4}, 3).detach()},
              "All dimensions of `value` and `key`, except the last one, must be equal. Received: value_shape=(2, 5, 4) "
              "and key_shape=(2, 4, 4)");
  shape_error(layer, q, randn64({3, 5, 4}, 4).detach(), {}, "query (2, 3, 4) and key/value (3, 5, 4)");
  shape_error(layer, q, randn64({2, 5, 1, 4}, 4).detach(), {}, "must have the same rank");
  shape_error(layer, q, v, {.attention_mask = ones({2, 4, 5})},
              "attention_mask shape (2, 4, 5) does not broadcast to scores (2, 2, 3, 5)");
  shape_error(layer, q, v, {.attention_mask = ones({1, 2, 2, 3, 5})}, "attention_mask shape (1, 2, 2, 3, 5)");
  shape_error(layer, q, v, {.attention_mask = ones({5, 3, 5})}, "(5, 3, 5) does not broadcast");  // (N,T,S) read as (B,T,S)
  shape_error(layer, q, v, {.query_mask = ones({2, 5})}, "query_mask must have shape (2, 3)");
  shape_error(layer, q, v, {.value_mask = ones({2, 3})}, "value_mask must have shape (2, 5)");
  shape_error(layer, q, v, {.key = randn64({2, 5, 4}, 9).detach(), .key_mask = ones({5})},
              "key_mask must have shape (2, 5) (the key shape (2, 5, 4) without its last axis), got (5,)");
  layer(q, v);  // built for feature sizes 4, 4, 4
  shape_error(layer, randn64({2, 3, 6}, 5).detach(), v, {}, "built for feature sizes query 4");
  CHECK_THROWS_AS(layer(q.to(DType::float32), v), TypeError);

  MultiHeadAttention axes(f64({.num_heads = 2, .key_dim = 2, .attention_axes = std::vector<std::int64_t>{3}}));
  CHECK_THROWS_AS(axes(q, v), ValueError);
  CHECK_THROWS_WITH(axes(q, v), Catch::Contains("attention_axes (3) are invalid for inputs of rank 3"));
  MultiHeadAttention repeat(f64({.num_heads = 2, .key_dim = 2, .attention_axes = std::vector<std::int64_t>{1, -3}}));
  CHECK_THROWS_WITH(repeat(randn64({2, 3, 4, 4}, 6).detach(), randn64({2, 3, 4, 4}, 7).detach()),
                    Catch::Contains("attention_axes (1, -3) are invalid for inputs of rank 4"));
  MultiHeadAttention two(f64({.num_heads = 2, .key_dim = 2, .attention_axes = std::vector<std::int64_t>{1, 2}}));
  const Tensor x4 = randn64({2, 3, 4, 4}, 8).detach();
  CHECK_THROWS_AS(two(x4, x4, {.use_causal_mask = true}), ValueError);
  CHECK_THROWS_WITH(two(x4, x4, {.use_causal_mask = true}), Catch::Contains("use_causal_mask needs exactly one"));
}

TEST_CASE("MultiHeadAttention and Attention: the output mask is the query mask, as Keras propagates it",
          "[attention]") {
  const Tensor q = randn64({2, 3, 4}, 61).detach(), v = randn64({2, 5, 4}, 62).detach();
  const Tensor qm = from_vector({1, 1, 0, 1, 0, 1}, {2, 3}), vm = from_vector({1, 1, 1, 0, 1, 1, 0, 1, 1, 1}, {2, 5});
  MultiHeadAttention mha(f64({.num_heads = 2, .key_dim = 2}));
  CHECK(mha(q, v, {.query_mask = qm, .value_mask = vm}).mask.is_same(qm));
  CHECK_FALSE(mha(q, v, {.value_mask = vm}).mask.defined());  // no query mask, nothing to propagate
  nn::Attention luong({.dtype = DType::float64});
  CHECK(luong(q, v, {.query_mask = qm, .value_mask = vm}).mask.is_same(qm));
  CHECK_FALSE(luong(q, v).mask.defined());
}
