// functional::multi_head_attention against PyTorch 1.13's F.multi_head_attention_forward
// (tools/make_functional_attention_fixtures.py), finite differences (float64 gradcheck, dropout active under a
// fixed seed) and hand-checked rules: zero weights where torch gives NaN, causal leakage, bad inputs
// (docs/attention.md, "PyTorch / Ivy functional MHA").
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "testing.hpp"
#include "fixtures.hpp"
#include "xgrad/functional/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"

using namespace xgrad;
using functional::multi_head_attention;
using functional::MultiHeadAttentionOptions;
using functional::MultiHeadAttentionResult;
using test::check_close;
using test::check_gradcheck;
using test::randn64;

namespace {

using Json = nlohmann::json;
constexpr double kInf = std::numeric_limits<double>::infinity();

// A fixture tensor; float tensors get back the -inf entries JSON cannot hold (listed under "neg_inf").
Tensor fx(const Json& j, DType dtype = DType::float64) {
  Tensor t = test::fixture_tensor(j, dtype);
  if (dtype != DType::int64) {
    const Shape strides = contiguous_strides(t.shape());
    for (std::int64_t flat : j.value("neg_inf", std::vector<std::int64_t>{})) {
      std::vector<std::int64_t> index(strides.size());
      for (std::size_t a = 0; a < strides.size(); ++a) index[a] = (flat / strides[a]) % t.shape()[a];
      t.set(index, -kInf);
    }
  }
  return t;
}

// torch's bool masks are written without the "neg_inf" list that float tensors carry.
bool is_bool_mask(const Json& c, const char* name) { return !c[name].contains("neg_inf"); }

const char* const kWeightNames[] = {"in_proj_weights", "q_proj_weights", "k_proj_weights", "v_proj_weights",
                                    "in_proj_bias",    "out_proj_weights", "out_proj_bias", "bias_k",
                                    "bias_v",          "static_k",        "static_v"};

// The options a fixture case describes, with every weight a leaf requiring grad (listed in `leaves`).
MultiHeadAttentionOptions case_options(const Json& c, std::vector<std::pair<std::string, Tensor>>& leaves,
                                       DType dtype = DType::float64) {
  MultiHeadAttentionOptions o;
  o.num_heads = c["num_heads"];
  o.batch_first = false;  // torch's functional form is sequence-first
  o.add_zero_attn = c["add_zero_attn"];
  o.average_attention_weights = c["average"];
  o.return_attention_weights = true;
  Tensor* slots[] = {&o.in_proj_weights, &o.q_proj_weights, &o.k_proj_weights, &o.v_proj_weights,
                     &o.in_proj_bias,    &o.out_proj_weights, &o.out_proj_bias, &o.bias_k,
                     &o.bias_v,          &o.static_k,        &o.static_v};
  for (std::size_t i = 0; i < std::size(kWeightNames); ++i)
    if (c.contains(kWeightNames[i])) {
      *slots[i] = fx(c[kWeightNames[i]], dtype).set_requires_grad();
      leaves.emplace_back(kWeightNames[i], *slots[i]);
    }
  for (auto [name, slot] : {std::pair{"attention_mask", &o.attention_mask}, {"key_padding_mask", &o.key_padding_mask}})
    if (c.contains(name)) *slot = is_bool_mask(c, name) ? fx(c[name], DType::int64) : fx(c[name]);
  return o;
}

// Output and weights flattened into one tensor, so one gradcheck covers both cotangents.
Tensor both(const MultiHeadAttentionResult& r) {
  return concat({reshape(r.output, {-1}), reshape(r.attention_weights, {-1})}, 0);
}

}  // namespace

TEST_CASE("multi_head_attention: output, weights and every gradient match torch for each weight and mask form",
          "[functional]") {
  for (const Json& c : test::load_fixture("functional_attention.json"))
    for (DType dt : {DType::float64, DType::float32}) {
      if (!c.contains("grads")) continue;  // the NaN case has its own test
      INFO(c["name"].get<std::string>() << " " << dtype_name(dt));
      const double tol = dt == DType::float64 ? 1e-12 : 5e-5;
      Tensor q = fx(c["query"], dt).set_requires_grad(), k = fx(c["key"], dt).set_requires_grad();
      Tensor v = fx(c["value"], dt).set_requires_grad();
      std::vector<std::pair<std::string, Tensor>> leaves{{"query", q}, {"key", k}, {"value", v}};
      const MultiHeadAttentionOptions o = case_options(c, leaves, dt);  // float masks stay float64: converted
      const MultiHeadAttentionResult r = multi_head_attention(q, k, v, o);
      check_close(r.output, fx(c["output"]), tol);
      check_close(r.attention_weights, fx(c["weights"]), tol);
      (sum(r.output * fx(c["r"], dt)) + sum(r.attention_weights * fx(c["r2"], dt))).backward();
      for (auto& [name, t] : leaves) {
        INFO("gradient of " << name);
        const Tensor g = t.grad().defined() ? t.grad() : zeros_like(t);  // static_k/v: key, value unused
        check_close(g, fx(c["grads"][name]), 10 * tol);
      }
    }
}

TEST_CASE("multi_head_attention: batch_first inputs give the transposed sequence-first result", "[functional]") {
  for (const Json& c : test::load_fixture("functional_attention.json")) {
    if (c["query"]["shape"].size() != 3 || !c.contains("grads")) continue;
    INFO(c["name"].get<std::string>());
    std::vector<std::pair<std::string, Tensor>> leaves;
    MultiHeadAttentionOptions o = case_options(c, leaves);
    o.batch_first = true;
    const auto r = multi_head_attention(transpose(fx(c["query"]), 0, 1), transpose(fx(c["key"]), 0, 1),
                                        transpose(fx(c["value"]), 0, 1), o);
    check_close(r.output, transpose(fx(c["output"]), 0, 1), 1e-12);
    check_close(r.attention_weights, fx(c["weights"]), 1e-12);
  }
}

TEST_CASE("multi_head_attention: fully blocked rows give zero weights and the output bias where torch gives NaN",
          "[functional]") {
  const Json fixture = test::load_fixture("functional_attention.json");
  const Json& c = fixture.back();
  REQUIRE(c["name"].get<std::string>().find("NaN") != std::string::npos);
  std::vector<std::pair<std::string, Tensor>> leaves;
  const MultiHeadAttentionOptions o = case_options(c, leaves);
  const auto r = multi_head_attention(fx(c["query"]), fx(c["key"]), fx(c["value"]), o);
  // Output (L, N, E): batch 1 has every key padded, query row 2 of the (L, S) mask is blocked everywhere.
  const Tensor out = r.output, want = fx(c["output"]), bias = o.out_proj_bias;
  const std::int64_t L = out.shape()[0], N = out.shape()[1], E = out.shape()[2];
  const auto nan_out = c["output"]["nan"].get<std::vector<std::int64_t>>();
  std::int64_t blocked = 0;
  for (std::int64_t t = 0; t < L; ++t)
    for (std::int64_t b = 0; b < N; ++b)
      for (std::int64_t e = 0; e < E; ++e) {
        const bool full = b == 1 || t == 2;
        const std::int64_t flat = (t * N + b) * E + e;
        INFO("t " << t << " b " << b << " e " << e);
        CHECK(std::count(nan_out.begin(), nan_out.end(), flat) == (full ? 1 : 0));  // torch: NaN exactly there
        CHECK_FALSE(std::isnan(out.at({t, b, e})));
        if (full) ++blocked;
        CHECK(out.at({t, b, e}) == Approx(full ? bias.at({e}) : want.at({t, b, e})).margin(1e-12));
      }
  CHECK(blocked == (L + 1) * E);  // batch 1: L rows; batch 0: row 2
  // Weights (N, heads, L, S): zero on fully blocked rows, torch's values elsewhere.
  const Tensor w = r.attention_weights, ww = fx(c["weights"]);
  const auto nan_w = c["weights"]["nan"].get<std::vector<std::int64_t>>();
  const auto wv = w.to_vector(), wantv = ww.to_vector();
  const std::int64_t H = w.shape()[1], S = w.shape()[3];
  for (std::int64_t i = 0; i < w.numel(); ++i) {
    const std::int64_t b = i / (H * L * S), t = (i / S) % L;
    const bool full = b == 1 || t == 2;
    INFO("weight " << i);
    CHECK(std::count(nan_w.begin(), nan_w.end(), i) == (full ? 1 : 0));
    CHECK(wv[i] == Approx(full ? 0.0 : wantv[i]).margin(1e-12));
  }
}

TEST_CASE("multi_head_attention: bool and -inf float masks block the same keys, is_causal ignores attention_mask",
          "[functional]") {
  const Tensor x = randn64({2, 5, 8}, 1).detach(), w = randn64({24, 8}, 2, 0.4).detach();
  MultiHeadAttentionOptions o;
  o.num_heads = 2;
  o.in_proj_weights = w;
  o.return_attention_weights = true;
  o.average_attention_weights = false;
  Tensor blocked = index_tensor({0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0}, {5, 5});
  Tensor additive = zeros({5, 5}, DType::float64);
  for (std::int64_t i = 0; i < 25; ++i)
    if (blocked.at({i / 5, i % 5}) != 0) additive.set({i / 5, i % 5}, -kInf);
  o.attention_mask = blocked;
  const auto a = multi_head_attention(x, x, x, o);
  o.attention_mask = additive;
  const auto b = multi_head_attention(x, x, x, o);
  check_close(a.output, b.output, 1e-13);
  check_close(a.attention_weights, b.attention_weights, 1e-13);
  for (std::int64_t i = 0; i < 25; ++i)
    if (blocked.at({i / 5, i % 5}) != 0) CHECK(a.attention_weights.at({1, 1, i / 5, i % 5}) == 0.0);

  // is_causal: (s <= t) regardless of attention_mask, which equals passing the causal mask itself.
  Tensor causal = zeros({5, 5}, DType::int64);
  for (std::int64_t t = 0; t < 5; ++t)
    for (std::int64_t s = t + 1; s < 5; ++s) causal.set({t, s}, 1);
  o.attention_mask = causal;
  const auto explicit_causal = multi_head_attention(x, x, x, o);
  o.attention_mask = blocked;
  o.is_causal = true;
  const auto flag = multi_head_attention(x, x, x, o);
  check_close(flag.output, explicit_causal.output, 1e-13);
  check_close(flag.attention_weights, explicit_causal.attention_weights, 1e-13);
}

TEST_CASE("multi_head_attention: is_causal leaks nothing from later positions, also with extra key positions",
          "[functional]") {
  for (bool extras : {false, true}) {
    INFO("bias_k/bias_v and add_zero_attn: " << extras);
    MultiHeadAttentionOptions o;
    o.num_heads = 2;
    o.is_causal = true;
    o.in_proj_weights = randn64({24, 8}, 3, 0.4);
    if (extras) {
      o.bias_k = randn64({8}, 4);
      o.bias_v = randn64({8}, 5);
      o.add_zero_attn = true;
    }
    const Tensor x = randn64({2, 6, 8}, 6);
    const Tensor y = multi_head_attention(x, {}, {}, o).output;
    Tensor x2 = x.detach().clone();
    for (std::int64_t e = 0; e < 8; ++e) x2.set({1, 4, e}, 100.0);  // change position 4 only
    const Tensor y2 = multi_head_attention(x2, {}, {}, o).output;
    for (std::int64_t t = 0; t < 6; ++t)
      for (std::int64_t e = 0; e < 8; ++e) {
        INFO("t " << t << " e " << e);
        if (t < 4) CHECK(y2.at({1, t, e}) == y.at({1, t, e}));
        else CHECK(y2.at({1, t, e}) != y.at({1, t, e}));
        CHECK(y2.at({0, t, e}) == y.at({0, t, e}));  // other batch untouched
      }
    // d y[:, 2] / d x[:, 3:] is exactly zero.
    sum(narrow(y, 1, 2, 1)).backward();
    for (std::int64_t t = 0; t < 6; ++t)
      for (std::int64_t e = 0; e < 8; ++e) {
        INFO("t " << t);
        if (t > 2) CHECK(x.grad().at({0, t, e}) == 0.0);
      }
    CHECK(x.grad().at({0, 2, 0}) != 0.0);
  }
}

TEST_CASE("multi_head_attention: returned weights are the ones after dropout, same seed same mask", "[functional]") {
  const Tensor x = randn64({2, 5, 8}, 7).detach();
  MultiHeadAttentionOptions o;
  o.num_heads = 2;
  o.in_proj_weights = randn64({24, 8}, 8, 0.4).detach();
  o.return_attention_weights = true;
  o.average_attention_weights = false;
  const auto eval = multi_head_attention(x, {}, {}, o);
  o.training = true;
  o.dropout = 0.4;
  o.seed = 11;
  const auto a = multi_head_attention(x, {}, {}, o), b = multi_head_attention(x, {}, {}, o);
  check_close(a.output, b.output, 0.0);
  const auto p = eval.attention_weights.to_vector(), d = a.attention_weights.to_vector();
  std::int64_t dropped = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (d[i] == 0.0) ++dropped;
    else CHECK(d[i] == Approx(p[i] / 0.6).epsilon(1e-12));
  }
  CHECK(dropped > 0);
  CHECK(dropped < static_cast<std::int64_t>(p.size()));
  o.seed.reset();
  CHECK_THROWS_AS(multi_head_attention(x, {}, {}, o), ValueError);  // dropout needs a random source
}

TEST_CASE("multi_head_attention: without projection weights q, k, v are used as given, out_proj may change width",
          "[functional]") {
  // One head, E = 2: weights = softmax(q·kᵀ/√2) by hand, output = weights · v, then W_o (3, 2).
  const Tensor q = from_vector({1, 0}, {1, 1, 2}, DType::float64), k = from_vector({1, 0, 0, 1}, {1, 2, 2}, DType::float64);
  const Tensor v = from_vector({2, 4, 6, 8}, {1, 2, 2}, DType::float64);
  MultiHeadAttentionOptions o;
  o.num_heads = 1;
  o.return_attention_weights = true;
  o.out_proj_weights = from_vector({1, 0, 0, 1, 1, 1}, {3, 2}, DType::float64);
  const auto r = multi_head_attention(q, k, v, o);
  const double e = std::exp(1 / std::sqrt(2.0)), p0 = e / (e + 1), p1 = 1 / (e + 1);
  check_close(r.attention_weights, from_vector({p0, p1}, {1, 1, 2}, DType::float64), 1e-14);
  const double c0 = 2 * p0 + 6 * p1, c1 = 4 * p0 + 8 * p1;
  check_close(r.output, from_vector({c0, c1, c0 + c1}, {1, 1, 3}, DType::float64), 1e-14);
}

TEST_CASE("multi_head_attention: float64 gradcheck of every input and weight in each mask path, dropout active",
          "[functional][gradcheck]") {
  // fn sets the weights from its inputs and reseeds (options.seed builds a fresh generator per call), so every
  // evaluation draws the same dropout mask. Output and returned weights are both checked.
  const auto base = [] {
    MultiHeadAttentionOptions o;
    o.num_heads = 2;
    o.dropout = 0.3;
    o.training = true;
    o.seed = 99;
    o.return_attention_weights = true;
    return o;
  };
  SECTION("packed self-attention, no mask, averaged weights") {
    check_gradcheck(
        [&](const std::vector<Tensor>& in) {
          auto o = base();
          o.in_proj_weights = in[1], o.in_proj_bias = in[2], o.out_proj_weights = in[3], o.out_proj_bias = in[4];
          return both(multi_head_attention(in[0], {}, {}, o));
        },
        {randn64({2, 3, 4}, 1), randn64({12, 4}, 2, 0.5), randn64({12}, 3), randn64({4, 4}, 4), randn64({4}, 5)});
  }
  SECTION("separate weights, bool (L,S) mask and key_padding_mask, per-head weights, sequence-first") {
    const Tensor am = index_tensor({0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1}, {3, 4});  // row 2 fully blocked
    const Tensor kpm = index_tensor({0, 0, 0, 1, 0, 1, 0, 0}, {2, 4});
    check_gradcheck(
        [&](const std::vector<Tensor>& in) {
          auto o = base();
          o.batch_first = false;
          o.average_attention_weights = false;
          o.q_proj_weights = in[3], o.k_proj_weights = in[4], o.v_proj_weights = in[5];
          o.attention_mask = am, o.key_padding_mask = kpm;
          return both(multi_head_attention(in[0], in[1], in[2], o));
        },
        {randn64({3, 2, 4}, 6), randn64({4, 2, 5}, 7), randn64({4, 2, 3}, 8), randn64({4, 4}, 9, 0.5),
         randn64({4, 5}, 10, 0.5), randn64({4, 3}, 11, 0.5)});
  }
  SECTION("float (N*heads,L,S) mask with -inf and a differentiable float key_padding_mask") {
    Tensor am = randn64({4, 3, 4}, 12).detach();
    am.set({0, 1, 2}, -kInf), am.set({3, 0, 0}, -kInf), am.set({2, 2, 3}, -kInf);
    check_gradcheck(
        [&](const std::vector<Tensor>& in) {
          auto o = base();
          o.in_proj_weights = in[3], o.attention_mask = am, o.key_padding_mask = in[4];
          return both(multi_head_attention(in[0], in[1], in[2], o));
        },
        {randn64({2, 3, 4}, 13), randn64({2, 4, 4}, 14), randn64({2, 4, 4}, 15), randn64({12, 4}, 16, 0.5),
         randn64({2, 4}, 17)});
  }
  SECTION("bias_k, bias_v, add_zero_attn and is_causal (keep-mask path), averaged") {
    check_gradcheck(
        [&](const std::vector<Tensor>& in) {
          auto o = base();
          o.in_proj_weights = in[1], o.bias_k = in[2], o.bias_v = in[3], o.out_proj_weights = in[4];
          o.add_zero_attn = true, o.is_causal = true;
          return both(multi_head_attention(in[0], {}, {}, o));
        },
        {randn64({2, 3, 4}, 18), randn64({12, 4}, 19, 0.5), randn64({1, 1, 4}, 20), randn64({4}, 21),
         randn64({3, 4}, 22)});
  }
  SECTION("static_k, static_v, add_zero_attn, unbatched, key_padding_mask") {
    const Tensor kpm = index_tensor({0, 1, 0}, {3});  // S' = 3 static positions
    check_gradcheck(
        [&](const std::vector<Tensor>& in) {
          auto o = base();
          o.average_attention_weights = false;
          o.in_proj_weights = in[3], o.in_proj_bias = in[4], o.static_k = in[5], o.static_v = in[6];
          o.add_zero_attn = true, o.key_padding_mask = kpm;
          return both(multi_head_attention(in[0], in[1], in[2], o));
        },
        {randn64({3, 4}, 23), randn64({2, 4}, 24), randn64({2, 4}, 25), randn64({12, 4}, 26, 0.5),
         randn64({12}, 27), randn64({2, 3, 2}, 28), randn64({2, 3, 2}, 29)});
  }
  SECTION("is_causal in the core's own path, given scale") {
    check_gradcheck(
        [&](const std::vector<Tensor>& in) {
          auto o = base();
          o.is_causal = true, o.scale = 0.7;
          o.q_proj_weights = in[1], o.k_proj_weights = in[1], o.v_proj_weights = in[2];
          return both(multi_head_attention(in[0], in[0], in[0], o));
        },
        {randn64({2, 4, 4}, 30), randn64({4, 4}, 31, 0.5), randn64({4, 4}, 32, 0.5)});
  }
}

TEST_CASE("multi_head_attention: bad inputs raise typed errors naming the argument and shapes", "[functional]") {
  const Tensor x3 = randn64({2, 3, 4}, 40).detach(), x2 = randn64({3, 4}, 41).detach();
  const Tensor w = randn64({12, 4}, 42).detach();
  MultiHeadAttentionOptions ok;
  ok.num_heads = 2;
  ok.in_proj_weights = w;
  auto with = [&](auto edit) {
    MultiHeadAttentionOptions o = ok;
    edit(o);
    return o;
  };
  using O = MultiHeadAttentionOptions;
  struct Bad {
    std::function<void()> call;
    std::string fragment;
  };
  const std::vector<Bad> shape_errors{
      {[&] { multi_head_attention(randn64({4}, 1), {}, {}, ok); }, "query must be 2-D (L, E) unbatched or 3-D"},
      {[&] { multi_head_attention(x3, x2, x2, ok); }, "expected key and value to be 3-D like the query (2, 3, 4)"},
      {[&] { multi_head_attention(x3, x3, randn64({2, 5, 4}, 1), ok); }, "key (2, 3, 4) and value (2, 5, 4)"},
      {[&] { multi_head_attention(x3, randn64({1, 3, 4}, 1), randn64({1, 3, 4}, 1), ok); }, "share the batch size"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.key_padding_mask = zeros({3}, DType::int64); })); },
       "key_padding_mask must be 2-D (batch, S) = (2, 3) for a batched query, got (3,)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.key_padding_mask = zeros({2, 4}, DType::int64); })); },
       "key_padding_mask must have shape (2, 3) (batch, S), got (2, 4)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.attention_mask = zeros({3}, DType::int64); })); },
       "attention_mask must be 2-D (L, S) = (3, 3) or 3-D (batch·num_heads, L, S) = (4, 3, 3), got 1-D shape (3,)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.attention_mask = zeros({2, 2, 3, 3}); })); },
       "got 4-D shape (2, 2, 3, 3)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.attention_mask = zeros({3, 4}); })); },
       "attention_mask must have shape (3, 3) (L, S), got (3, 4)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.attention_mask = zeros({2, 3, 3}); })); },
       "attention_mask must have shape (4, 3, 3) (batch·num_heads, L, S), got (2, 3, 3)"},
      {[&] { multi_head_attention(x2, {}, {}, with([](O& o) { o.attention_mask = zeros({4, 3, 3}); })); },
       "attention_mask must have shape (2, 3, 3) (num_heads, L, S), got (4, 3, 3)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.in_proj_weights = zeros({12, 5}); })); },
       "in_proj_weights must be (3E, 4) for query features 4, got (12, 5)"},
      {[&] { multi_head_attention(x3, x3, randn64({2, 3, 5}, 1), ok); }, "need query, key and value of one width"},
      {[&] {
         multi_head_attention(x3, {}, {}, with([](O& o) {
                                o.in_proj_weights = {};
                                o.q_proj_weights = zeros({4, 4}), o.k_proj_weights = zeros({4, 3});
                                o.v_proj_weights = zeros({4, 4});
                              }));
       },
       "k_proj_weights must have shape (4, 4) (E, key features), got (4, 3)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.in_proj_bias = zeros({8}); })); },
       "in_proj_bias must have shape (12,) (3E,), got (8,)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.out_proj_weights = zeros({4, 5}); })); },
       "out_proj_weights must be (O, 4) for embedding width 4, got (4, 5)"},
      {[&] {
         multi_head_attention(x3, {}, {}, with([](O& o) { o.out_proj_weights = zeros({5, 4}), o.out_proj_bias = zeros({4}); }));
       },
       "out_proj_bias must have shape (5,) (O,), got (4,)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.bias_k = zeros({5}), o.bias_v = zeros({4}); })); },
       "bias_k must be (4,) or (1, 1, 4), got (5,)"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.static_k = zeros({2, 3, 2}); })); },
       "static_k must be (batch·num_heads, S', head_dim) = (4, S', 2), got (2, 3, 2)"},
      {[&] {
         multi_head_attention(x3, {}, {}, with([](O& o) { o.static_k = zeros({4, 5, 2}), o.static_v = zeros({4, 6, 2}); }));
       },
       "keys and values differ in length"},
  };
  for (const Bad& b : shape_errors) {
    INFO(b.fragment);
    CHECK_THROWS_AS(b.call(), ShapeError);
    CHECK_THROWS_WITH(b.call(), Catch::Contains(b.fragment));
  }
  const std::vector<Bad> value_errors{
      {[&] { multi_head_attention(x3, x3, {}, ok); }, "key and value must both be given or both be absent"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.num_heads = 0; })); }, "num_heads must be positive, got 0"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.num_heads = 3; })); },
       "embedding width 4 is not divisible by num_heads 3"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.dropout = 1.5; })); }, "dropout must be in [0, 1], got 1.5"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.bias_k = zeros({4}); })); },
       "bias_k and bias_v must be given together"},
      {[&] {
         multi_head_attention(x3, {}, {}, with([](O& o) {
                                o.bias_k = zeros({4}), o.bias_v = zeros({4}), o.static_k = zeros({4, 3, 2});
                              }));
       },
       "bias cannot be added to static key/value"},
      {[&] {
         multi_head_attention(x3, {}, {}, with([](O& o) {
                                o.in_proj_weights = {};
                                o.q_proj_weights = zeros({4, 4});
                              }));
       },
       "separate projections need q_proj_weights, k_proj_weights and v_proj_weights, got shapes (4, 4), absent"},
      {[&] { multi_head_attention(x3, {}, {}, with([](O& o) { o.out_proj_bias = zeros({4}); })); },
       "out_proj_bias (4,) needs out_proj_weights"},
  };
  for (const Bad& b : value_errors) {
    INFO(b.fragment);
    CHECK_THROWS_AS(b.call(), ValueError);
    CHECK_THROWS_WITH(b.call(), Catch::Contains(b.fragment));
  }
}
