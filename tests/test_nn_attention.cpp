// Keras Attention (Luong dot / concat, docs/attention.md) against its formulas evaluated by torch
// (tools/make_attention_fixtures.py), Keras 3.15 itself (tools/make_attention_keras_fixtures.py), finite
// differences, and hand-checked masking rules.
#include <catch2/catch.hpp>

#include "testing.hpp"
#include "fixtures.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/nn/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"

using namespace xgrad;
using nn::Attention;
using nn::AttentionCall;
using nn::AttentionLayerOptions;
using test::check_close;
using test::check_gradcheck;
using test::fixture_tensor;
using test::load_fixture;
using test::randn64;

namespace {

using Inputs = std::vector<Tensor>;

AttentionLayerOptions f64(AttentionLayerOptions o) {
  o.dtype = DType::float64;
  return o;
}

// Overwrites a scalar weight in place (tests only; the fixtures perturb the initial 1 so factors show).
void set_scalar(const Tensor& w, double value) {
  NoGradGuard guard;
  *w.host_data<double>() = value;
}

}  // namespace

TEST_CASE("Attention: outputs, scores and every gradient match the documented formulas for dot and concat, masked or not",
          "[attention]") {
  const auto fx = load_fixture("attention_luong.json");
  for (const char* name : {"dot_0", "dot_1", "dot_masked", "concat_0", "concat_1", "concat_masked"}) {
    INFO(name);
    const auto& c = fx.at(name);
    Attention layer(f64({.use_scale = c["use_scale"].get<bool>(), .score_mode = c["mode"].get<std::string>()}));
    if (layer.scale().defined()) set_scalar(layer.scale(), c["scale"].get<double>());
    if (layer.concat_score_weight().defined()) set_scalar(layer.concat_score_weight(), c["concat_weight"].get<double>());
    Tensor q = fixture_tensor(fx["query"]).set_requires_grad(), k = fixture_tensor(fx["key"]).set_requires_grad();
    Tensor v = fixture_tensor(fx["value"]).set_requires_grad();
    AttentionCall call{.key = k, .return_attention_scores = true, .use_causal_mask = c["causal"].get<bool>()};
    if (c.contains("value_mask")) call.value_mask = fixture_tensor(c["value_mask"], DType::int64);
    if (c.contains("query_mask")) call.query_mask = fixture_tensor(c["query_mask"], DType::int64);
    const auto r = layer(q, v, call);
    check_close(r.output, fixture_tensor(c["out"]));
    check_close(r.scores, fixture_tensor(c["scores"]));
    (sum(r.output * fixture_tensor(c["r_out"])) + sum(r.scores * fixture_tensor(c["r_scores"]))).backward();
    check_close(q.grad(), fixture_tensor(c["dquery"]));
    check_close(k.grad(), fixture_tensor(c["dkey"]));
    check_close(v.grad(), fixture_tensor(c["dvalue"]));
    if (c.contains("dscale")) CHECK(layer.scale().grad().item() == Approx(c["dscale"].get<double>()).epsilon(1e-12));
    if (c.contains("dconcat_weight"))
      CHECK(layer.concat_score_weight().grad().item() == Approx(c["dconcat_weight"].get<double>()).epsilon(1e-12));
  }
}

TEST_CASE("Attention: use_scale, concat, masks and causal equal Keras 3 itself", "[attention]") {
  const auto fx = load_fixture("attention_keras.json");
  for (const auto& [mode, c] : fx["attention"].items()) {
    INFO(mode);
    Attention layer(f64({.use_scale = true, .score_mode = mode}));
    const auto w = c["weights"].get<std::vector<double>>();  // Keras order: scale, concat_score_weight
    set_scalar(layer.scale(), w[0]);
    if (mode == "concat") set_scalar(layer.concat_score_weight(), w[1]);
    const auto r = layer(fixture_tensor(c["query"]), fixture_tensor(c["value"]),
                         {.key = fixture_tensor(c["key"]), .query_mask = fixture_tensor(c["query_mask"], DType::int64),
                          .value_mask = fixture_tensor(c["value_mask"], DType::int64),
                          .return_attention_scores = true, .use_causal_mask = true});
    // Keras-on-JAX's concat scores are off by up to 8e-8 from numpy's float64 evaluation of the same formula
    // (measured); xgrad matches the torch evaluation of it to 1e-12 in the test above
    const double tol = mode == "concat" ? 1e-7 : 1e-10;
    check_close(r.output, fixture_tensor(c["out"]), tol);
    check_close(r.scores, fixture_tensor(c["scores"]), tol);
  }
}

TEST_CASE("Attention: trainable weights are scale and concat_score_weight, both 1, only when asked for", "[attention]") {
  CHECK(Attention().parameters().empty());
  const Attention scaled({.use_scale = true});
  REQUIRE(scaled.named_parameters().size() == 1);
  CHECK(scaled.named_parameters()[0].first == "scale");
  CHECK(scaled.scale().item() == 1.0);
  CHECK(scaled.scale().shape() == Shape{});
  const Attention concat({.score_mode = "concat"});
  REQUIRE(concat.named_parameters().size() == 1);
  CHECK(concat.named_parameters()[0].first == "concat_score_weight");
  CHECK(Attention({.use_scale = true, .score_mode = "concat"}).named_parameters().size() == 2);
}

TEST_CASE("Attention: dot scores have no 1/sqrt(d) factor, key defaults to value, hand-computed weights",
          "[attention]") {
  // q = [1, 0], keys [1, 0] and [0, 2]: scores 1 and 0 -> weights e/(e+1), 1/(e+1)
  Attention layer(f64({}));
  const Tensor q = from_vector({1, 0}, {1, 1, 2}, DType::float64), kv = from_vector({1, 0, 0, 2}, {1, 2, 2}, DType::float64);
  const auto r = layer(q, kv, {.return_attention_scores = true});
  const double e = std::exp(1.0);
  CHECK(r.scores.at({0, 0, 0}) == Approx(e / (e + 1)).epsilon(1e-14));
  CHECK(r.output.at({0, 0, 0}) == Approx(e / (e + 1)).epsilon(1e-14));
  CHECK(r.output.at({0, 0, 1}) == Approx(2 / (e + 1)).epsilon(1e-14));
}

TEST_CASE("Attention: a padded query row gives a zero output but a normal score row", "[attention]") {
  Attention layer(f64({}));
  const Tensor q = randn64({1, 2, 3}, 1), v = randn64({1, 4, 3}, 2);
  const auto r = layer(q, v, {.query_mask = from_vector({1, 0}, {1, 2}), .return_attention_scores = true});
  for (std::int64_t d = 0; d < 3; ++d) CHECK(r.output.at({0, 1, d}) == 0.0);
  CHECK(sum(r.scores, {-1}).at({0, 1}) == Approx(1.0).epsilon(1e-14));
  CHECK(r.scores.at({0, 1, 0}) > 0.0);
}

TEST_CASE("Attention: higher-rank inputs treat every leading axis as a batch axis", "[attention]") {
  Attention layer(f64({.score_mode = "concat"}));
  const Tensor q = randn64({2, 3, 6, 4}, 3), v = randn64({2, 3, 5, 4}, 4);
  const Tensor vm = from_vector(std::vector<double>(30, 1.0), {2, 3, 5});
  const auto r = layer(q, v, {.value_mask = vm, .return_attention_scores = true});
  CHECK(r.output.shape() == Shape{2, 3, 6, 4});
  CHECK(r.scores.shape() == Shape{2, 3, 6, 5});
  // the same result as the (1, 6, 4) slice on its own
  Attention single(f64({.score_mode = "concat"}));
  const auto s = single(reshape(slice(slice(q, 0, 1, 2), 1, 2, 3), {1, 6, 4}),
                        reshape(slice(slice(v, 0, 1, 2), 1, 2, 3), {1, 5, 4}), {.return_attention_scores = true});
  check_close(reshape(slice(slice(r.output, 0, 1, 2), 1, 2, 3), {1, 6, 4}), s.output, 1e-14);
}

TEST_CASE("Attention: changing future tokens never changes past outputs under use_causal_mask", "[attention]") {
  for (const char* mode : {"dot", "concat"}) {
    INFO(mode);
    Attention layer(f64({.use_scale = true, .score_mode = mode}));
    Tensor x = randn64({2, 5, 3}, 5).detach();
    const Tensor before = layer(x, x, {.use_causal_mask = true}).output;
    Tensor y = x.clone();
    for (std::int64_t d = 0; d < 3; ++d) y.set({1, 3, d}, 100.0 + d), y.set({0, 4, d}, -7.0);
    const Tensor after = layer(y, y, {.use_causal_mask = true}).output;
    for (std::int64_t b = 0; b < 2; ++b)
      for (std::int64_t t = 0; t < (b == 1 ? 3 : 4); ++t)
        for (std::int64_t d = 0; d < 3; ++d) CHECK(after.at({b, t, d}) == before.at({b, t, d}));
    CHECK(after.at({1, 3, 0}) != before.at({1, 3, 0}));
  }
}

TEST_CASE("Attention: gradcheck of query, key, value and the scalar weights in every mask path with dropout",
          "[attention]") {
  const Tensor q = randn64({2, 3, 2}, 11), k = randn64({2, 4, 2}, 12), v = randn64({2, 4, 3}, 13);
  const Tensor vm = from_vector({1, 0, 1, 1, 1, 1, 0, 1}, {2, 4}), qm = from_vector({1, 1, 0, 1, 1, 1}, {2, 3});
  const Tensor r_scores = randn64({2, 3, 4}, 14).detach();
  for (const char* mode : {"dot", "concat"}) {
    Attention layer(f64({.use_scale = true, .score_mode = mode, .dropout = 0.3, .seed = 5}));
    set_scalar(layer.scale(), 0.7);
    Inputs inputs{q, k, v, layer.scale()};
    if (layer.concat_score_weight().defined()) inputs.push_back(layer.concat_score_weight());
    for (int path = 0; path < 4; ++path) {
      INFO(mode << " path " << path);
      check_gradcheck(
          [&](const Inputs& in) {
            layer.reseed(17);  // one dropout mask for every evaluation
            AttentionCall call{.key = in[1], .return_attention_scores = true, .training = true};
            if (path == 1 || path == 3) call.value_mask = vm, call.query_mask = qm;
            call.use_causal_mask = path >= 2;
            const auto r = layer(in[0], in[2], call);
            return sum(r.output) + sum(r.scores * r_scores);
          },
          inputs);
    }
  }
}

TEST_CASE("Attention: bad arguments and shapes raise typed errors naming them", "[attention]") {
  CHECK_THROWS_AS(Attention({.score_mode = "general"}), ValueError);
  CHECK_THROWS_WITH(Attention({.score_mode = "general"}), Catch::Contains("score_mode") && Catch::Contains("general"));
  CHECK_THROWS_AS(Attention({.dropout = 1.5}), ValueError);
  CHECK_THROWS_WITH(Attention({.dropout = -0.5}), Catch::Contains("dropout must be in [0, 1], got -0.5"));
  Attention layer(f64({}));
  const Tensor q = randn64({2, 3, 4}, 1).detach(), v = randn64({2, 5, 4}, 2).detach();
  auto throws = [&](const Tensor& query, const Tensor& value, const AttentionCall& call, const std::string& text) {
    CHECK_THROWS_AS(layer(query, value, call), ShapeError);
    CHECK_THROWS_WITH(layer(query, value, call), Catch::Contains(text));
  };
  throws(q, v, {.key = randn64({2, 5, 3}, 3).detach()}, "query (2, 3, 4) and key (2, 5, 3)");
  throws(q, v, {.key = randn64({2, 6, 4}, 3).detach()}, "key (2, 6, 4) and value (2, 5, 4)");
  throws(q, randn64({3, 5, 4}, 4).detach(), {}, "query (2, 3, 4), value (3, 5, 4)");
  throws(q, v, {.query_mask = ones({2, 5})}, "query_mask must have shape (2, 3)");
  throws(q, v, {.value_mask = ones({2, 1, 5})}, "value_mask must have shape (2, 5)");
  throws(randn64({3, 4}, 5).detach(), v, {}, "query must be (*batch, length, features)");
  CHECK_THROWS_AS(layer(q.to(DType::float32), v), TypeError);
}
