// The mask-polarity table of docs/attention.md ("Masks at a glance"), checked row by row: blocking key 1 of 3
// through every API's mask arguments gives it weight exactly 0 and leaves keys 0 and 2 a distribution. The nn
// layers and the core read nonzero as attend; the functional form's int64 masks read nonzero as blocked.
#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <vector>

#include "xgrad/functional/attention.hpp"
#include "xgrad/nn/attention.hpp"
#include "xgrad/nn/flux_attention.hpp"
#include "xgrad/nn/multi_head_attention.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

namespace {

// Every row of `scores` (..., 3): key 1 has weight exactly 0, keys 0 and 2 share the whole mass.
void check_key_1_blocked(const std::string& api, const Tensor& scores) {
  INFO(api);
  REQUIRE(scores.defined());
  const auto w = scores.to_vector();
  REQUIRE(w.size() % 3 == 0);
  for (std::size_t r = 0; r < w.size(); r += 3) {
    CHECK(w[r + 1] == 0.0);
    CHECK(w[r] > 0.0);
    CHECK(w[r] + w[r + 2] == Approx(1.0));
  }
}

Tensor random(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen);
}

}  // namespace

TEST_CASE("mask polarity: each API blocks key 1 with the polarity docs/attention.md gives it", "[attention]") {
  const Tensor keep = index_tensor({1, 0, 1}, {1, 3});     // nonzero = attend
  const Tensor blocked = index_tensor({0, 1, 0}, {1, 3});  // nonzero = blocked
  const Tensor q = random({1, 2, 4}, 1), kv = random({1, 3, 4}, 2);

  AttentionOptions core;
  core.mask = keep;
  core.return_scores = true;
  check_key_1_blocked("xgrad::attention mask",
                      attention(reshape(q, {1, 2, 1, 4}), reshape(kv, {1, 3, 1, 4}), reshape(kv, {1, 3, 1, 4}), core)
                          .scores);

  nn::Attention att;
  check_key_1_blocked("nn::Attention value_mask",
                      att(q, kv, {.value_mask = keep, .return_attention_scores = true}).scores);

  nn::MultiHeadAttention mha({.num_heads = 2, .key_dim = 2});
  check_key_1_blocked("nn::MultiHeadAttention value_mask",
                      mha(q, kv, {.value_mask = keep, .return_attention_scores = true}).scores);
  check_key_1_blocked("nn::MultiHeadAttention key_mask",
                      mha(q, kv, {.key_mask = keep, .return_attention_scores = true}).scores);
  check_key_1_blocked("nn::MultiHeadAttention attention_mask (B, 1, S)",
                      mha(q, kv, {.attention_mask = reshape(keep, {1, 1, 3}), .return_attention_scores = true}).scores);

  nn::FluxMultiHeadAttention flux(4, {.nheads = 2});
  check_key_1_blocked("nn::FluxMultiHeadAttention mask", flux(q, kv, kv, {}, keep).scores);

  functional::MultiHeadAttentionOptions o;
  o.num_heads = 2;
  o.return_attention_weights = true;
  o.average_attention_weights = false;
  functional::MultiHeadAttentionOptions padding = o, attn = o, additive = o;
  padding.key_padding_mask = blocked;
  attn.attention_mask = index_tensor({0, 1, 0, 0, 1, 0}, {2, 3});
  additive.key_padding_mask = from_vector({0.0, -std::numeric_limits<double>::infinity(), 0.0}, {1, 3});
  check_key_1_blocked("functional key_padding_mask int64",
                      functional::multi_head_attention(q, kv, kv, padding).attention_weights);
  check_key_1_blocked("functional attention_mask int64",
                      functional::multi_head_attention(q, kv, kv, attn).attention_weights);
  check_key_1_blocked("functional key_padding_mask float -inf",
                      functional::multi_head_attention(q, kv, kv, additive).attention_weights);
  // The same int64 tensor read with the nn polarity would keep key 1 and block the others: no silent agreement.
  padding.key_padding_mask = keep;
  const auto w = functional::multi_head_attention(q, kv, kv, padding).attention_weights.to_vector();
  CHECK(w[0] == 0.0);
  CHECK(w[1] == Approx(1.0));
}
