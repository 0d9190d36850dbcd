// NaN through the attention core, every attention API and softmax: a NaN among a row's unblocked logits makes
// that row's weights and output NaN on every kernel path (scalar tails, SIMD bodies, register tiles, CBLAS row
// blocks; with and without keep-mask, bias and causal), while a NaN at a blocked position leaves no trace. The
// row lengths straddle every SIMD width the library is built for (SSE2 to AVX-512, float and double), so the
// same cases cover the portable and AVX2 builds. The rule is written in docs/attention.md, "Masked softmax".
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "testing.hpp"
#include "xgrad/functional/attention.hpp"
#include "xgrad/nn/attention.hpp"
#include "xgrad/nn/flux_attention.hpp"
#include "xgrad/nn/multi_head_attention.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"

using namespace xgrad;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Around 2, 4, 8 and 16 lanes and the 4-batch register tiles built from them.
const std::vector<std::int64_t> kLengths = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65};

Tensor random(const Shape& shape, std::uint64_t seed, DType dtype = DType::float32) {
  Generator gen(seed);
  return randn(shape, gen, dtype);
}

// The entries of `t` whose leading indices are `prefix`: one row (or one head's row) of a row-major tensor.
std::vector<double> slice(const Tensor& t, const std::vector<std::int64_t>& prefix) {
  const auto p = static_cast<std::int64_t>(prefix.size());
  std::int64_t start = 0, len = 1;
  for (std::int64_t a = 0; a < t.dim(); ++a) {
    start = start * t.size(a) + (a < p ? prefix[static_cast<std::size_t>(a)] : 0);
    if (a >= p) len *= t.size(a);
  }
  const auto all = t.to_vector();
  return {all.begin() + start, all.begin() + start + len};
}

bool all_nan(const std::vector<double>& v) {
  for (double x : v)
    if (!std::isnan(x)) return false;
  return !v.empty();
}

std::int64_t count_nan(const Tensor& t) {
  std::int64_t n = 0;
  for (double x : t.to_vector()) n += std::isnan(x) ? 1 : 0;
  return n;
}

// Every entry of `got` equals `want` (within float32 rounding) except where `want` is NaN too.
void check_same(const Tensor& got, const Tensor& want) {
  REQUIRE(got.shape() == want.shape());
  const auto g = got.to_vector(), w = want.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << ": " << g[i] << " vs " << w[i]);
    if (std::isnan(w[i])) CHECK(std::isnan(g[i]));
    else CHECK(g[i] == Approx(w[i]).margin(1e-6).epsilon(1e-5));
  }
}

// `key` (B, S, d) with a NaN at (b, s, f), and the (B, S) keep-mask that blocks exactly that key.
std::pair<Tensor, Tensor> nan_key_and_mask(const Tensor& key, std::int64_t b, std::int64_t s, std::int64_t f) {
  Tensor nan_key = key.clone();
  nan_key.set({b, s, f}, kNaN);
  Tensor keep = ones({key.size(0), key.size(1)}, DType::int64);
  keep.set({b, s}, 0);
  return {nan_key, keep};
}

enum class Blocking { none, keep_mask, bias, causal };

const char* name_of(Blocking b) {
  switch (b) {
    case Blocking::none: return "none";
    case Blocking::keep_mask: return "keep-mask";
    case Blocking::bias: return "bias";
    case Blocking::causal: return "causal";
  }
  return "?";
}

// Blocks (t + s) % 3 == 0 through a keep-mask or a -inf bias, or s > t when causal. Row t = 2 keeps key 0.
AttentionOptions blocking_options(Blocking how, std::int64_t T, std::int64_t S, DType dt) {
  AttentionOptions o;
  o.return_scores = true;
  if (how == Blocking::causal) o.causal = true;
  if (how == Blocking::keep_mask || how == Blocking::bias) {
    std::vector<double> keep(static_cast<std::size_t>(T * S)), bias(keep.size());
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t s = 0; s < S; ++s) {
        const bool blocked = (t + s) % 3 == 0;
        keep[static_cast<std::size_t>(t * S + s)] = blocked ? 0.0 : 1.0;
        bias[static_cast<std::size_t>(t * S + s)] = blocked ? -kInf : 0.25 * static_cast<double>(s % 4);
      }
    if (how == Blocking::keep_mask) o.mask = from_vector(keep, {T, S}, DType::int64);
    else o.bias = from_vector(bias, {T, S}, dt);
  }
  return o;
}

}  // namespace

TEST_CASE("attention core: a NaN query makes its row's weights and output NaN on every path and row length",
          "[attention][nan]") {
  constexpr std::int64_t T = 7, N = 2, Dk = 4;  // 7 query rows: one full 6-row tile and a 1-row tail
  for (DType dt : {DType::float32, DType::float64})
    for (std::int64_t Dv : {3, 16})  // 3: the CBLAS row-block path; 16: whole SIMD batches, the register tiles
      for (Blocking how : {Blocking::none, Blocking::keep_mask, Blocking::bias, Blocking::causal})
        for (std::int64_t S : kLengths) {
          INFO(dtype_name(dt) << " Dv " << Dv << " blocking " << name_of(how) << " S " << S);
          const Tensor q = random({1, T, N, Dk}, 1, dt), k = random({1, S, N, Dk}, 2, dt);
          const Tensor v = random({1, S, N, Dv}, 3, dt);
          const AttentionOptions o = blocking_options(how, T, S, dt);
          const AttentionResult clean = attention(q, k, v, o);
          Tensor q_nan = q.clone();
          q_nan.set({0, 2, 1, 0}, kNaN);  // head 1, query row 2: every score of that row is NaN
          const AttentionResult r = attention(q_nan, k, v, o);
          CHECK(all_nan(slice(r.scores, {0, 1, 2})));  // all S weights, the blocked ones too
          CHECK(all_nan(slice(r.output, {0, 2, 1})));
          CHECK(count_nan(r.scores) == S);
          CHECK(count_nan(r.output) == Dv);
          // Nothing else moved: the clean run with that row made NaN by hand.
          Tensor want_scores = clean.scores.clone(), want_out = clean.output.clone();
          for (std::int64_t s = 0; s < S; ++s) want_scores.set({0, 1, 2, s}, kNaN);
          for (std::int64_t d = 0; d < Dv; ++d) want_out.set({0, 2, 1, d}, kNaN);
          check_same(r.scores, want_scores);
          check_same(r.output, want_out);
        }
}

TEST_CASE("attention core: one NaN key reaches exactly the rows that may attend it, blocked, it leaves no trace",
          "[attention][nan]") {
  constexpr std::int64_t T = 7, N = 1, Dk = 4;
  for (DType dt : {DType::float32, DType::float64})
    for (std::int64_t Dv : {3, 16})
      for (std::int64_t S : kLengths) {
        INFO(dtype_name(dt) << " Dv " << Dv << " S " << S);
        const std::int64_t bad = S / 2;  // the key holding the NaN
        const Tensor q = random({1, T, N, Dk}, 4, dt), v = random({1, S, N, Dv}, 6, dt);
        const Tensor k = random({1, S, N, Dk}, 5, dt);
        Tensor k_nan = k.clone();
        k_nan.set({0, bad, 0, 3}, kNaN);

        // Unblocked: every row sees it, every row is NaN.
        AttentionOptions plain;
        plain.return_scores = true;
        const AttentionResult all = attention(q, k_nan, v, plain);
        CHECK(count_nan(all.scores) == T * S);
        CHECK(count_nan(all.output) == T * Dv);

        // Causal: rows t < bad never see key `bad`, and equal the clean run; rows t >= bad are NaN.
        AttentionOptions causal = plain;
        causal.causal = true;
        const AttentionResult c = attention(q, k_nan, v, causal), c_clean = attention(q, k, v, causal);
        for (std::int64_t t = 0; t < T; ++t) {
          INFO("causal row " << t);
          if (t >= bad) {
            CHECK(all_nan(slice(c.scores, {0, 0, t})));
            CHECK(all_nan(slice(c.output, {0, t})));
          } else {
            CHECK(count_nan(from_vector(slice(c.scores, {0, 0, t}), {S})) == 0);
            CHECK(slice(c.output, {0, t}) == slice(c_clean.output, {0, t}));
          }
        }

        // Blocked for every query by a keep-mask, or by a -inf bias (NaN + -inf is NaN: the bias must block
        // before it is added): the result is the clean run's, bit for bit.
        std::vector<double> keep(static_cast<std::size_t>(S), 1.0), bias(static_cast<std::size_t>(S), 0.0);
        keep[static_cast<std::size_t>(bad)] = 0.0;
        bias[static_cast<std::size_t>(bad)] = -kInf;
        AttentionOptions masked = plain, biased = plain;
        masked.mask = from_vector(keep, {S}, DType::int64);
        biased.bias = from_vector(bias, {S}, dt);
        for (const AttentionOptions* o : {&masked, &biased}) {
          const AttentionResult got = attention(q, k_nan, v, *o), want = attention(q, k, v, *o);
          CHECK(got.scores.to_vector() == want.scores.to_vector());
          CHECK(got.output.to_vector() == want.output.to_vector());
          CHECK(count_nan(got.output) == 0);
        }
      }
}

TEST_CASE("attention core: dropout and the backward keep a NaN row NaN", "[attention][nan]") {
  for (DType dt : {DType::float32, DType::float64}) {
    Tensor q = random({1, 3, 1, 4}, 7, dt), k = random({1, 5, 1, 4}, 8, dt), v = random({1, 5, 1, 8}, 9, dt);
    q.set({0, 1, 0, 2}, kNaN);
    q.set_requires_grad();
    Generator gen(3);
    AttentionOptions o;
    o.dropout = 0.5, o.training = true, o.generator = &gen, o.return_scores = true;
    const AttentionResult r = attention(q, k, v, o);
    CHECK(all_nan(slice(r.output, {0, 1})));
    CHECK(count_nan(r.output) == 8);
    sum(r.output).backward();
    CHECK(all_nan(slice(q.grad(), {0, 1})));
    CHECK(count_nan(q.grad()) == 4);  // rows 0 and 2 get ordinary gradients
  }
}

TEST_CASE("softmax and log_softmax: a NaN anywhere in a slice makes the whole slice NaN, on every length",
          "[nn][nan]") {
  for (DType dt : {DType::float32, DType::float64})
    for (bool log : {false, true})
      for (std::int64_t n : kLengths)
        for (std::int64_t at = 0; at < n; ++at) {
          INFO(dtype_name(dt) << (log ? " log_softmax" : " softmax") << " n " << n << " NaN at " << at);
          // Last axis: rows 0 and 2 stay finite, row 1 holds the NaN.
          Tensor x = random({3, n}, 10, dt);
          x.set({1, at}, kNaN);
          const Tensor y = log ? log_softmax(x, -1) : softmax(x, -1);
          CHECK(all_nan(slice(y, {1})));
          CHECK(count_nan(y) == n);
          // Middle axis (strided kernel): the slice (1, :, 2) holds the NaN.
          Tensor x3 = random({2, n, 3}, 11, dt);
          x3.set({1, at, 2}, kNaN);
          const Tensor y3 = log ? log_softmax(x3, 1) : softmax(x3, 1);
          CHECK(count_nan(y3) == n);
          for (std::int64_t i = 0; i < n; ++i) CHECK(std::isnan(y3.at({1, i, 2})));
        }
}

TEST_CASE("softmax and log_softmax: all-NaN, NaN beside -inf and +inf slices are NaN, not the zeros of a -inf slice",
          "[nn][nan]") {
  for (DType dt : {DType::float32, DType::float64})
    for (bool log : {false, true})
      for (std::int64_t axis : {-1, 0}) {
        INFO(dtype_name(dt) << (log ? " log_softmax" : " softmax") << " axis " << axis);
        const auto run = [&](std::vector<double> row) {
          const auto n = static_cast<std::int64_t>(row.size());
          const Tensor x = axis == -1 ? from_vector(row, {1, n}, dt) : from_vector(row, {n, 1}, dt);
          return log ? log_softmax(x, axis) : softmax(x, axis);
        };
        CHECK(count_nan(run({kNaN})) == 1);
        CHECK(count_nan(run({kNaN, kNaN, kNaN})) == 3);
        CHECK(count_nan(run({-kInf, kNaN, -kInf})) == 3);
        CHECK(count_nan(run({1.0, kInf, 2.0})) == 3);  // exp(inf - inf): the slice cannot be normalised
        // The xgrad rule for a slice of -inf only is unchanged: zeros.
        CHECK(run({-kInf, -kInf}).to_vector() == std::vector<double>{0.0, 0.0});
      }
}

TEST_CASE("Attention (Keras): a NaN query row gives a NaN output and score row, a masked NaN key does not leak",
          "[attention][nan]") {
  for (const char* mode : {"dot", "concat"})
    for (std::int64_t S : {1, 2, 5, 8, 17, 33}) {
      INFO(mode << " S " << S);
      nn::Attention att({.use_scale = true, .score_mode = mode});
      Tensor query = random({2, 5, 4}, 12), key = random({2, S, 4}, 13), value = random({2, S, 3}, 14);
      query.set({1, 2, 0}, kNaN);
      const nn::AttentionOutputs r = att(query, value, {.key = key, .return_attention_scores = true});
      CHECK(all_nan(slice(r.output, {1, 2})));
      CHECK(all_nan(slice(r.scores, {1, 2})));
      CHECK(count_nan(r.output) == 3);
      CHECK(count_nan(r.scores) == S);
      if (S < 2) continue;
      // A NaN key behind value_mask: nothing attends it.
      const Tensor clean_query = random({2, 5, 4}, 12);
      const auto [key_nan, mask] = nan_key_and_mask(key, 0, S - 1, 1);
      const auto got = att(clean_query, value, {.key = key_nan, .value_mask = mask});
      const auto want = att(clean_query, value, {.key = key, .value_mask = mask});
      CHECK(got.output.to_vector() == want.output.to_vector());
    }
}

TEST_CASE("MultiHeadAttention: a NaN query row gives a NaN output row, not the output bias, a masked NaN key does not "
          "leak",
          "[attention][nan]") {
  for (std::int64_t S : {1, 2, 5, 8, 17, 33}) {
    INFO("S " << S);
    nn::MultiHeadAttention mha({.num_heads = 2, .key_dim = 4, .seed = 1});
    Tensor query = random({2, 5, 6}, 15), value = random({2, S, 6}, 16), key = random({2, S, 6}, 17);
    Tensor query_nan = query.clone();
    query_nan.set({1, 3, 2}, kNaN);
    const auto r = mha(query_nan, value, {.key = key, .return_attention_scores = true});
    CHECK(all_nan(slice(r.output, {1, 3})));
    CHECK(count_nan(r.output) == 6);
    for (std::int64_t n = 0; n < 2; ++n) CHECK(all_nan(slice(r.scores, {1, n, 3})));
    CHECK(count_nan(r.scores) == 2 * S);
    // Causal: the NaN query's row is NaN; the rows before it are untouched.
    const auto c = mha(query_nan, value, {.key = key, .use_causal_mask = true});
    const auto c_clean = mha(query, value, {.key = key, .use_causal_mask = true});
    CHECK(all_nan(slice(c.output, {1, 3})));
    for (std::int64_t t = 0; t < 3; ++t) CHECK(slice(c.output, {1, t}) == slice(c_clean.output, {1, t}));
    if (S < 2) continue;
    const auto [key_nan, mask] = nan_key_and_mask(key, 1, 0, 5);
    const auto got = mha(query, value, {.key = key_nan, .value_mask = mask});
    const auto want = mha(query, value, {.key = key, .value_mask = mask});
    CHECK(got.output.to_vector() == want.output.to_vector());
  }
}

TEST_CASE("multi_head_attention (functional): a NaN query row gives NaN weights and output, masked NaN keys do not "
          "leak",
          "[functional][nan]") {
  for (std::int64_t S : {1, 2, 5, 8, 17, 33}) {
    INFO("S " << S);
    functional::MultiHeadAttentionOptions o;
    o.num_heads = 2;
    o.in_proj_weights = random({24, 8}, 18);
    o.out_proj_weights = random({8, 8}, 19);
    o.out_proj_bias = random({8}, 20);
    o.return_attention_weights = true;
    Tensor q = random({2, 5, 8}, 21), k = random({2, S, 8}, 22), v = random({2, S, 8}, 23);
    Tensor q_nan = q.clone();
    q_nan.set({0, 4, 7}, kNaN);
    const auto r = functional::multi_head_attention(q_nan, k, v, o);
    CHECK(all_nan(slice(r.output, {0, 4})));
    CHECK(count_nan(r.output) == 8);
    CHECK(all_nan(slice(r.attention_weights, {0, 4})));
    CHECK(count_nan(r.attention_weights) == S);
    if (S < 2) continue;
    // Blocked by an int64 key_padding_mask (nonzero = blocked) or a -inf float one: no trace.
    Tensor k_nan = k.clone();
    k_nan.set({1, 1, 0}, kNaN);
    Tensor padding = zeros({2, S}, DType::int64);
    padding.set({1, 1}, 1);
    Tensor additive = zeros({2, S});
    additive.set({1, 1}, -kInf);
    for (const Tensor& mask : {padding, additive}) {
      functional::MultiHeadAttentionOptions m = o;
      m.key_padding_mask = mask;
      const auto got = functional::multi_head_attention(q, k_nan, v, m);
      const auto want = functional::multi_head_attention(q, k, v, m);
      CHECK(got.output.to_vector() == want.output.to_vector());
      CHECK(count_nan(got.attention_weights) == 0);
    }
  }
}

TEST_CASE("FluxMultiHeadAttention: a NaN query row gives NaN scores and output, a masked NaN key does not leak",
          "[attention][nan]") {
  for (std::int64_t S : {1, 2, 5, 8, 17, 33}) {
    INFO("S " << S);
    nn::FluxMultiHeadAttention mha(8, {.nheads = 2, .bias = true});
    Tensor q = random({2, 5, 8}, 24), k = random({2, S, 8}, 25), v = random({2, S, 8}, 26);
    Tensor q_nan = q.clone();
    q_nan.set({1, 0, 3}, kNaN);
    const auto r = mha(q_nan, k, v);
    CHECK(all_nan(slice(r.output, {1, 0})));
    CHECK(count_nan(r.output) == 8);
    CHECK(count_nan(r.scores) == 2 * S);
    if (S < 2) continue;
    const auto [k_nan, keep] = nan_key_and_mask(k, 0, S - 1, 4);
    const Tensor mask = reshape(keep, {2, 1, 1, S});
    const auto got = mha(q, k_nan, v, {}, mask);
    const auto want = mha(q, k, v, {}, mask);
    CHECK(got.output.to_vector() == want.output.to_vector());
    CHECK(count_nan(got.scores) == 0);
  }
}
