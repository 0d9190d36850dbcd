// The fused attention core against PyTorch (tools/make_attention_fixtures.py), finite differences
// (gradcheck, float64) and hand-checked masking and dropout rules (docs/attention.md, "The masked softmax",
// "Dropout").
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "testing.hpp"
#include "fixtures.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"

using namespace xgrad;
using test::check_close;
using test::check_gradcheck;
using test::fixture_tensor;
using test::load_fixture;
using test::randn64;

namespace {

using Inputs = std::vector<Tensor>;

// L = Σ R1 ⊙ out + Σ R2 ⊙ scores: a loss on both outputs, so neither backward can hide behind the other.
Tensor both_outputs_loss(const AttentionResult& r, const Tensor& r1, const Tensor& r2) {
  return sum(r.output * r1) + sum(r.scores * r2);
}

}  // namespace

TEST_CASE("attention: output, weights and gradients match torch with bias, keep-mask, causal and a fully blocked row",
          "[attention]") {
  const auto fx = load_fixture("attention_core.json");
  for (const char* path : {"masked", "masked_causal"}) {
    for (DType dt : {DType::float64, DType::float32}) {
      INFO(path << " " << dtype_name(dt));
      const double tol = dt == DType::float64 ? 1e-12 : 2e-5;
      const auto& c = fx.at(path);
      Tensor q = fixture_tensor(fx["q"], dt).set_requires_grad(), k = fixture_tensor(fx["k"], dt).set_requires_grad();
      Tensor v = fixture_tensor(fx["v"], dt).set_requires_grad(), b = fixture_tensor(fx["bias"], dt).set_requires_grad();
      AttentionOptions o;
      o.scale = fx["scale"].get<double>();
      o.bias = b;
      o.mask = fixture_tensor(fx["mask"], DType::int64);
      o.causal = std::string(path) == "masked_causal";
      o.return_scores = true;
      const AttentionResult r = attention(q, k, v, o);
      check_close(r.output, fixture_tensor(c["out"]), tol);
      check_close(r.scores, fixture_tensor(c["weights"]), tol);
      both_outputs_loss(r, fixture_tensor(c["r_out"], dt), fixture_tensor(c["r_weights"], dt)).backward();
      check_close(q.grad(), fixture_tensor(c["dq"]), tol);
      check_close(k.grad(), fixture_tensor(c["dk"]), tol);
      check_close(v.grad(), fixture_tensor(c["dv"]), tol);
      check_close(b.grad(), fixture_tensor(c["dbias"]), tol);
    }
  }
}

TEST_CASE("attention: blocked weights are exactly 0, a fully blocked row gives zero weights, output and gradient",
          "[attention]") {
  Tensor q = randn64({1, 2, 1, 3}, 1), k = randn64({1, 3, 1, 3}, 2), v = randn64({1, 3, 1, 2}, 3);
  Tensor bias = randn64({1, 1, 2, 3}, 4);
  AttentionOptions o;
  o.mask = from_vector({1, 0, 1, 0, 0, 0}, {2, 3}, DType::float32);  // row 1 blocks everything
  o.bias = bias;
  o.return_scores = true;
  const AttentionResult r = attention(q, k, v, o);
  CHECK(r.scores.at({0, 0, 0, 1}) == 0.0);
  CHECK(r.scores.at({0, 0, 0, 0}) + r.scores.at({0, 0, 0, 2}) == Approx(1.0).epsilon(1e-15));
  for (std::int64_t s = 0; s < 3; ++s) CHECK(r.scores.at({0, 0, 1, s}) == 0.0);
  for (std::int64_t d = 0; d < 2; ++d) CHECK(r.output.at({0, 1, 0, d}) == 0.0);
  sum(r.output * randn64({1, 2, 1, 2}, 5).detach()).backward();
  for (std::int64_t d = 0; d < 3; ++d) CHECK(q.grad().at({0, 1, 0, d}) == 0.0);  // the blocked query row
  CHECK(bias.grad().at({0, 0, 0, 1}) == 0.0);
  for (std::int64_t s = 0; s < 3; ++s) CHECK(bias.grad().at({0, 0, 1, s}) == 0.0);
  CHECK(bias.grad().at({0, 0, 0, 0}) != 0.0);  // unblocked positions do get one
}

TEST_CASE("attention: -inf bias blocks exactly like a keep-mask, and logits of 1e4 stay finite", "[attention]") {
  Tensor q = randn64({2, 3, 2, 4}, 7).detach(), k = randn64({2, 5, 2, 4}, 8).detach(), v = randn64({2, 5, 2, 3}, 9).detach();
  Tensor keep = from_vector({1, 1, 0, 1, 0}, {5}, DType::float64);
  Tensor additive = from_vector({0, 0, -INFINITY, 0, -INFINITY}, {5}, DType::float64);
  AttentionOptions by_mask, by_bias;
  by_mask.mask = keep;
  by_bias.bias = additive;
  by_mask.return_scores = by_bias.return_scores = true;
  const auto a = attention(q, k, v, by_mask), b = attention(q, k, v, by_bias);
  check_close(b.scores, a.scores, 0.0);
  check_close(b.output, a.output, 0.0);

  AttentionOptions huge;
  huge.scale = 1e4;  // logits of order 1e4: exp would overflow without the row maximum subtracted
  huge.return_scores = true;
  const auto h = attention(q, k, v, huge);
  for (double w : h.scores.to_vector()) CHECK(std::isfinite(w));
  for (double y : h.output.to_vector()) CHECK(std::isfinite(y));
  const Tensor row_sums = sum(h.scores, {-1});
  for (double s : row_sums.to_vector()) CHECK(s == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("attention: causal is top-left aligned when T != S, and keep-masks of any dtype agree", "[attention]") {
  Tensor q = randn64({1, 3, 1, 2}, 11).detach(), k = randn64({1, 5, 1, 2}, 12).detach(), v = randn64({1, 5, 1, 2}, 13).detach();
  AttentionOptions o;
  o.causal = true;
  o.return_scores = true;
  const auto r = attention(q, k, v, o);
  for (std::int64_t t = 0; t < 3; ++t)
    for (std::int64_t s = 0; s < 5; ++s) {
      INFO("t=" << t << " s=" << s);
      if (s > t) CHECK(r.scores.at({0, 0, t, s}) == 0.0);
      else CHECK(r.scores.at({0, 0, t, s}) > 0.0);
    }
  AttentionOptions as_int = o, as_float = o;
  as_int.mask = index_tensor({1, 0, 1, 1, 1}, {5});
  as_float.mask = from_vector({0.5, 0, -2, 1, 1}, {1, 1, 1, 5}, DType::float32);  // nonzero = attend
  check_close(attention(q, k, v, as_float).scores, attention(q, k, v, as_int).scores, 0.0);
}

TEST_CASE("attention: gradcheck of q, k, v and bias in every mask path with dropout active under a fixed seed",
          "[attention]") {
  const Tensor q = randn64({2, 3, 2, 3}, 21), k = randn64({2, 4, 2, 3}, 22), v = randn64({2, 4, 2, 2}, 23);
  const Tensor bias = randn64({2, 1, 3, 4}, 24);
  const Tensor pad = from_vector({1, 1, 0, 1, 1, 0, 1, 1}, {2, 1, 1, 4}, DType::float64);  // key padding
  const Tensor r1 = randn64({2, 3, 2, 2}, 25).detach(), r2 = randn64({2, 2, 3, 4}, 26).detach();
  struct Path {
    const char* name;
    bool mask, causal;
  };
  for (const Path p : {Path{"none", false, false}, Path{"mask", true, false}, Path{"causal", false, true},
                       Path{"mask+causal", true, true}}) {
    for (bool after : {false, true}) {
      INFO(p.name << (after ? ", scores after dropout" : ", scores before dropout"));
      check_gradcheck(
          [&](const Inputs& in) {
            Generator gen(99);  // reseeded every evaluation: every finite difference sees the same dropout mask
            AttentionOptions o;
            o.scale = 0.6;
            o.bias = in[3];
            if (p.mask) o.mask = pad;
            o.causal = p.causal;
            o.dropout = 0.4;
            o.training = true;
            o.generator = &gen;
            o.return_scores = true;
            o.scores_after_dropout = after;
            return both_outputs_loss(attention(in[0], in[1], in[2], o), r1, r2);
          },
          {q, k, v, bias});
    }
  }
}

TEST_CASE("attention: self-attention with one tensor as q, k and v sums the three gradient paths", "[attention]") {
  const Tensor x = randn64({2, 4, 2, 3}, 31);
  check_gradcheck(
      [](const Inputs& in) {
        AttentionOptions o;
        o.scale = 0.5;
        o.causal = true;
        return attention(in[0], in[0], in[0], o).output;
      },
      {x});
}

// Head widths of 8 are whole SIMD batches of doubles at every width xsimd picks (2, 4, 8), so the backward's
// products take the register tiles; 20 causal query rows make two blocks (16 and 4 rows, keys up to 16 and
// 20), and one tensor as q, k and v makes every product add into the same gradient buffer.
TEST_CASE("attention: the register-tiled backward passes gradcheck over several causal blocks, self-attention too",
          "[attention]") {
  const Tensor q = randn64({1, 20, 2, 8}, 71), k = randn64({1, 20, 2, 8}, 72), v = randn64({1, 20, 2, 8}, 73);
  for (bool causal : {true, false}) {
    for (bool self : {false, true}) {
      INFO("causal " << causal << ", self-attention " << self);
      check_gradcheck(
          [causal, self](const Inputs& in) {
            AttentionOptions o;
            o.scale = 0.4;
            o.causal = causal;
            return attention(in[0], in[self ? 0 : 1], in[self ? 0 : 2], o).output;
          },
          self ? Inputs{q} : Inputs{q, k, v});
    }
  }
}

TEST_CASE("attention: dropout draws one mask from the generator, the returned weights show it", "[attention]") {
  Tensor q = randn64({2, 4, 3, 2}, 41).detach(), k = randn64({2, 6, 3, 2}, 42).detach(), v = randn64({2, 6, 3, 2}, 43).detach();
  Generator g1(7), g2(7);
  AttentionOptions o;
  o.dropout = 0.5;
  o.training = true;
  o.return_scores = true;
  o.scores_after_dropout = true;
  o.generator = &g1;
  const auto a = attention(q, k, v, o);
  o.generator = &g2;
  check_close(attention(q, k, v, o).output, a.output, 0.0);  // same seed, same mask

  AttentionOptions plain;
  plain.return_scores = true;
  const auto p = attention(q, k, v, plain);
  const auto pw = p.scores.to_vector(), dw = a.scores.to_vector();
  std::int64_t dropped = 0;
  for (std::size_t i = 0; i < pw.size(); ++i) {
    if (dw[i] == 0.0) ++dropped;
    else CHECK(dw[i] == Approx(2.0 * pw[i]).epsilon(1e-14));  // kept weights are scaled by 1/(1 - rate)
  }
  CHECK(dropped > 0);
  CHECK(dropped < static_cast<std::int64_t>(pw.size()));

  o.training = false;  // inference: dropout is the identity
  check_close(attention(q, k, v, o).output, p.output, 0.0);
  o.training = true;
  o.dropout = 1.0;  // everything dropped
  for (double y : attention(q, k, v, o).output.to_vector()) CHECK(y == 0.0);
}

TEST_CASE("attention: only the inputs that require grad receive one", "[attention]") {
  Tensor q = randn64({1, 2, 1, 2}, 51), k = randn64({1, 3, 1, 2}, 52).detach(), v = randn64({1, 3, 1, 2}, 53).detach();
  sum(attention(q, k, v).output).backward();
  CHECK(q.grad().defined());
  CHECK_FALSE(k.grad().defined());
  CHECK_FALSE(v.grad().defined());
  Tensor v2 = randn64({1, 3, 1, 2}, 54);
  sum(attention(q.detach(), k, v2).output).backward();
  CHECK(v2.grad().defined());
}

TEST_CASE("attention: bad inputs raise typed errors naming the argument and shapes", "[attention]") {
  const Tensor q = randn64({2, 5, 4, 3}, 61).detach(), k = randn64({2, 6, 4, 3}, 62).detach();
  const Tensor v = randn64({2, 6, 4, 2}, 63).detach();
  auto throws_shape = [&](const Tensor& a, const Tensor& b, const Tensor& c, const AttentionOptions& o,
                          const std::string& fragment) {
    CHECK_THROWS_AS(attention(a, b, c, o), ShapeError);
    CHECK_THROWS_WITH(attention(a, b, c, o), Catch::Contains(fragment));
  };
  throws_shape(q, randn64({2, 6, 4, 5}, 64).detach(), v, {}, "q (2, 5, 4, 3) and k (2, 6, 4, 5)");
  throws_shape(q, k, randn64({2, 7, 4, 2}, 65).detach(), {}, "k (2, 6, 4, 3) and v (2, 7, 4, 2)");
  throws_shape(randn64({5, 4, 3}, 66).detach(), k, v, {}, "q must be 4-D (B, T, N, Dk), got shape (5, 4, 3)");
  AttentionOptions bad_mask;
  bad_mask.mask = ones({2, 5, 7});
  throws_shape(q, k, v, bad_mask, "attention: mask shape (2, 5, 7) does not broadcast to scores (2, 4, 5, 6)");
  AttentionOptions bad_bias;
  bad_bias.bias = zeros({3, 1, 1, 1, 6}, DType::float64);
  throws_shape(q, k, v, bad_bias, "bias shape (3, 1, 1, 1, 6) does not broadcast to scores (2, 4, 5, 6)");
  AttentionOptions f32_bias;
  f32_bias.bias = zeros({5, 6});
  CHECK_THROWS_AS(attention(q, k, v, f32_bias), TypeError);
  CHECK_THROWS_AS(attention(q, k.to(DType::float32), v), TypeError);
  for (double rate : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    AttentionOptions o;
    o.dropout = rate;
    CHECK_THROWS_AS(attention(q, k, v, o), ValueError);
    CHECK_THROWS_WITH(attention(q, k, v, o), Catch::Contains("dropout must be in [0, 1]"));
  }
  AttentionOptions no_gen;
  no_gen.dropout = 0.2;
  no_gen.training = true;
  CHECK_THROWS_AS(attention(q, k, v, no_gen), ValueError);
  CHECK_THROWS_WITH(attention(q, k, v, no_gen), Catch::Contains("needs a generator"));
  no_gen.training = false;  // inference needs none
  CHECK_NOTHROW(attention(q, k, v, no_gen));
}
