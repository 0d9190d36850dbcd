// Positional tables, the GPT-2 block (gradcheck, causality) and the LM (parameter count, cached decoding
// against full recomputation, generation).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "testing.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/nn/transformer.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"

using namespace xgrad;
using namespace xgrad::nn;
using Catch::Matchers::Contains;
using xgrad::test::check_close;
using xgrad::test::check_gradcheck;
using xgrad::test::randn64;

namespace {

TransformerLMOptions small_lm(double dropout = 0.0) {
  return {.vocab_size = 11, .context_length = 16, .d_model = 8, .num_heads = 2, .num_layers = 2,
          .dropout = dropout, .dtype = DType::float64, .seed = 7};
}

Tensor random_ids(const Shape& shape, std::int64_t vocab, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(numel(shape)));
  for (auto& id : ids) id = static_cast<std::int64_t>(gen.next() % static_cast<std::uint64_t>(vocab));
  return index_tensor(ids, shape);
}

// Two forward/backward steps of an LM (the second step's dropout masks show the generators moved on): the
// outputs, the parameter gradients summed over both, and the tape's length after the first forward.
struct TwoSteps {
  std::vector<Tensor> outputs, grads;
  std::size_t tape_after_forward = 0;
};

TwoSteps two_steps(const TransformerLMOptions& options) {
  TransformerLM lm(options);
  lm.reseed(5);
  TwoSteps r;
  for (std::uint64_t step = 0; step < 2; ++step) {
    clear_tape();
    const Tensor out = lm(random_ids({2, 9}, 11, 6 + step));
    if (step == 0) r.tape_after_forward = tape_size();
    sum(out * out).backward();
    r.outputs.push_back(out);
  }
  for (const Tensor& p : lm.parameters()) r.grads.push_back(p.grad());
  return r;
}

}  // namespace

TEST_CASE("PositionalEmbedding adds the table rows offset … offset+T-1 to every batch row", "[transformer]") {
  PositionalEmbedding pos(6, 3, DType::float64, 1);
  REQUIRE(pos.named_parameters().at(0).first == "embeddings");
  const Tensor x = randn64({2, 2, 3}, 2);
  const Tensor y = pos(x, 3);
  const auto xv = x.to_vector(), yv = y.to_vector(), e = pos.embeddings().to_vector();
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 2; ++t)
      for (int d = 0; d < 3; ++d) CHECK(yv[(b * 2 + t) * 3 + d] == xv[(b * 2 + t) * 3 + d] + e[(3 + t) * 3 + d]);
  check_gradcheck([&](const std::vector<Tensor>& in) { return pos(in[0], 3); }, {x, pos.embeddings()});
}

TEST_CASE("PositionalEmbedding rejects positions beyond max_len and wrong shapes, naming both", "[transformer]") {
  PositionalEmbedding pos(4, 3, DType::float64);
  CHECK_ERROR(pos(zeros({1, 3, 3}, DType::float64), 2), ShapeError,
              Contains("(1, 3, 3)") && Contains("offset 2") && Contains("max_len 4"));
  CHECK_ERROR(pos(zeros({1, 5, 3}, DType::float64)), ShapeError, Contains("max_len 4"));
  CHECK_ERROR(pos(zeros({1, 2, 5}, DType::float64)), ShapeError, Contains("(1, 2, 5)"));
  CHECK_ERROR(PositionalEmbedding(0, 3), ValueError, Contains("max_len"));
}

TEST_CASE("SinusoidalPositionalEncoding holds sin/cos(p / 10000^(2i/d)), a buffer, no parameter", "[transformer]") {
  SinusoidalPositionalEncoding pe(3, 4, DType::float64);
  CHECK(pe.named_parameters().empty());
  REQUIRE(pe.named_buffers().at(0).first == "encodings");
  // d = 4: frequencies 1 and 1/100; values from Python's math.sin/cos
  check_close(pe.encodings(), from_vector({0, 1, 0, 1,                                                    //
                                           0.8414709848078965, 0.5403023058681398, 0.009999833334166664,  //
                                           0.9999500004166653,                                            //
                                           0.9092974268256817, -0.4161468365471424, 0.01999866669333308,  //
                                           0.9998000066665778},
                                          {3, 4}, DType::float64),
              1e-15);
  const Tensor y = pe(zeros({1, 1, 4}, DType::float64), 2);
  check_close(y, reshape(slice(pe.encodings(), 0, 2, 3), {1, 1, 4}), 0.0);
  CHECK_THROWS_AS(pe(zeros({1, 2, 4}, DType::float64), 2), ShapeError);
}

TEST_CASE("TransformerBlock names its sub-modules and checks its options", "[transformer]") {
  TransformerBlock block({.d_model = 8, .num_heads = 2});
  std::vector<std::string> names;
  for (const auto& [name, t] : block.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"ln1.gamma", "ln1.beta", "attn.query.kernel", "attn.query.bias",
                                          "attn.key.kernel", "attn.key.bias", "attn.value.kernel",
                                          "attn.value.bias", "attn.attention_output.kernel",
                                          "attn.attention_output.bias", "ln2.gamma", "ln2.beta", "mlp_in.kernel",
                                          "mlp_in.bias", "mlp_out.kernel", "mlp_out.bias"});
  CHECK(block.num_parameters() == 2 * 8 + 4 * (8 * 8 + 8) + 2 * 8 + (8 * 32 + 32) + (32 * 8 + 8));
  CHECK_ERROR(TransformerBlock({.d_model = 9, .num_heads = 2}), ValueError, Contains("divide d_model 9"));
  CHECK_ERROR(TransformerBlock({.d_model = 8, .num_heads = 0}), ValueError, Contains("num_heads"));
}

TEST_CASE("TransformerBlock: float64 gradcheck of input and every parameter, without and with dropout, the MLP "
          "activation kept or recomputed, with and without gradient checkpointing",
          "[transformer]") {
  const double rate = GENERATE(0.0, 0.3);
  const bool recompute = GENERATE(false, true);
  const bool checkpointing = GENERATE(false, true);
  INFO("dropout " << rate << (recompute ? ", MLP activation recomputed" : "")
                  << (checkpointing ? ", gradient checkpointing" : ""));
  TransformerBlock block({.d_model = 8, .num_heads = 2, .mlp_ratio = 2, .dropout = rate, .dtype = DType::float64,
                          .seed = 3, .recompute_mlp_activation = recompute,
                          .gradient_checkpointing = checkpointing});
  std::vector<Tensor> inputs{randn64({2, 3, 8}, 4)};
  for (const Tensor& p : block.parameters()) inputs.push_back(p);
  check_gradcheck(
      [&](const std::vector<Tensor>& in) {
        block.reseed(11);  // the same dropout masks on every evaluation
        return block(in[0]);
      },
      inputs);
}

TEST_CASE("TransformerLM: recomputing the MLP activation, checkpointing the blocks, or both give bitwise the "
          "losses and gradients of two steps of the plain model, dropout included",
          "[transformer][checkpoint]") {
  const bool recompute = GENERATE(false, true);
  const bool checkpointing = GENERATE(false, true);
  if (!recompute && !checkpointing) return;  // the plain model is the reference of the other three
  INFO((recompute ? "MLP activation recomputed" : "") << (checkpointing ? ", blocks checkpointed" : ""));
  for (const DType dt : {DType::float32, DType::float64}) {
    INFO((dt == DType::float32 ? "float32" : "float64"));
    TransformerLMOptions o = small_lm(0.2);
    o.dtype = dt;
    const TwoSteps want = two_steps(o);
    o.recompute_mlp_activation = recompute;
    o.gradient_checkpointing = checkpointing;
    const TwoSteps got = two_steps(o);
    if (checkpointing) {  // the first of the 2 blocks records one node, the last (the backward starts there) its ops
      auto ops_of_block = [&](bool recompute_mlp) {
        TransformerBlock block({.d_model = 8, .num_heads = 2, .dropout = 0.2, .dtype = dt,
                                .recompute_mlp_activation = recompute_mlp});
        const Tensor x = randn64({2, 9, 8}, 1).to(dt);
        const std::size_t before = tape_size();
        block(x);
        return tape_size() - before;
      };
      const std::size_t plain_ops = ops_of_block(false);
      CHECK(plain_ops > 10);
      CHECK(got.tape_after_forward == want.tape_after_forward - 2 * plain_ops + 1 + ops_of_block(recompute));
    }
    for (std::size_t step = 0; step < 2; ++step) check_close(got.outputs[step], want.outputs[step], 0.0);
    REQUIRE(got.grads.size() == want.grads.size());
    for (std::size_t i = 0; i < want.grads.size(); ++i) {
      INFO("parameter " << i);
      check_close(got.grads[i], want.grads[i], 0.0);
    }
  }
}

TEST_CASE("TransformerLM: with gradient checkpointing, eval and cached decoding run the blocks directly",
          "[transformer][checkpoint]") {
  TransformerLMOptions o = small_lm();
  TransformerLM plain(o);
  o.gradient_checkpointing = true;
  TransformerLM checkpointed(o);
  const Tensor prompt = random_ids({1, 3}, 11, 9);
  Generator g1(1), g2(1);
  const Tensor a = plain.generate(prompt, 5, 0.0, g1), b = checkpointed.generate(prompt, 5, 0.0, g2);
  CHECK(a.to_vector() == b.to_vector());
  clear_tape();
  {
    NoGradGuard no_grad;
    check_close(checkpointed(prompt), plain(prompt), 0.0);
  }
  CHECK(tape_size() == 0);
}

TEST_CASE("TransformerBlock is causal: changing later positions never changes earlier outputs", "[transformer]") {
  TransformerBlock block({.d_model = 8, .num_heads = 2, .dtype = DType::float64, .seed = 5});
  const Tensor x = randn64({2, 5, 8}, 6);
  const Tensor y = block(x);
  Tensor x2 = x.clone();
  double* d = x2.host_data<double>();
  for (int b = 0; b < 2; ++b)
    for (int i = 3 * 8; i < 5 * 8; ++i) d[b * 40 + i] += 10.0;
  const Tensor y2 = block(x2);
  check_close(slice(y2, 1, 0, 3), slice(y, 1, 0, 3), 0.0);
  const auto a = slice(y2, 1, 3, 5).to_vector(), b = slice(y, 1, 3, 5).to_vector();
  CHECK(a != b);  // the test can fail: later rows did see the change
}

TEST_CASE("TransformerLM of the Tiny LM sizes has exactly 421,697 parameters, named like GPT-2's", "[transformer]") {
  TransformerLM lm({.vocab_size = 65, .context_length = 64, .d_model = 128, .num_heads = 4, .num_layers = 2});
  CHECK(lm.num_parameters() == 421697);
  CHECK(lm.find("blocks.1.attn.query.kernel").shape() == Shape{128, 4, 32});
  CHECK(lm.find("position_embedding.embeddings").shape() == Shape{64, 128});
  CHECK(lm.find("head.bias").shape() == Shape{65});
  CHECK(lm(random_ids({2, 5}, 65, 1)).shape() == Shape{2, 5, 65});
  CHECK(&lm.block(1) == &dynamic_cast<TransformerBlock&>(*lm.blocks.named_children().at(1).second));
  CHECK_ERROR(lm.block(2), IndexError, Contains("block 2") && Contains("2 layers"));
}

TEST_CASE("TransformerLM rejects bad ids and positions past the context", "[transformer]") {
  TransformerLM lm(small_lm());
  CHECK_ERROR(lm(random_ids({5}, 11, 1)), ShapeError, Contains("(5,)"));
  CHECK_ERROR(lm(random_ids({1, 17}, 11, 1)), ShapeError, Contains("max_len 16"));
  CHECK_THROWS_AS(lm(index_tensor({0, 11}, {1, 2})), IndexError);
  Generator gen(0);
  CHECK_ERROR(lm.generate(random_ids({1, 2}, 11, 1), 3, -1.0, gen), ValueError, Contains("temperature"));
  CHECK_ERROR(lm.generate(random_ids({1, 17}, 11, 1), 3, 0.0, gen), ShapeError, Contains("(1, 17)"));
}

TEST_CASE("TransformerLM: cached chunked decoding equals full recomputation to 1e-12, the cache grows by the chunk",
          "[transformer]") {
  TransformerLM lm(small_lm());
  const Tensor ids = random_ids({2, 10}, 11, 9);
  const Tensor full = lm(ids);
  NoGradGuard no_grad;
  TransformerCache cache;
  std::vector<Tensor> parts;
  std::int64_t start = 0;
  for (std::int64_t chunk : {4, 1, 1, 3, 1}) {  // a multi-row chunk after a cached past exercises the offset mask
    parts.push_back(lm(slice(ids, 1, start, start + chunk), &cache));
    start += chunk;
    CHECK(cache.length() == start);
    for (const KVCache& c : cache.layers) CHECK(c.key.shape() == Shape{2, start, 2, 4});
  }
  check_close(concat(parts, 1), full, 1e-12);
  cache.clear();
  CHECK(cache.length() == 0);
}

TEST_CASE("TransformerLM::generate gives the same tokens with and without the cache", "[transformer]") {
  TransformerLM lm(small_lm(0.2));  // dropout configured: generate must run in eval mode
  const Tensor prompt = random_ids({2, 3}, 11, 4);
  const double temperature = GENERATE(0.0, 1.0);
  INFO("temperature " << temperature);
  Generator g1(5), g2(5);
  const Tensor with = lm.generate(prompt, 10, temperature, g1, true);
  const Tensor without = lm.generate(prompt, 10, temperature, g2, false);
  CHECK(with.shape() == Shape{2, 13});
  CHECK(with.to_vector() == without.to_vector());
  CHECK(slice(with, 1, 0, 3).to_vector() == prompt.to_vector());
  CHECK(lm.is_training());  // the mode is restored
}

TEST_CASE("MultiHeadAttention KVCache: step-by-step equals one causal call, bad cached calls are rejected",
          "[transformer]") {
  MultiHeadAttention mha({.num_heads = 2, .key_dim = 3, .dtype = DType::float64, .seed = 1});
  const Tensor x = randn64({1, 4, 5}, 2);
  const Tensor full = mha(x, x, {.use_causal_mask = true}).output;
  KVCache cache;
  std::vector<Tensor> rows;
  for (std::int64_t t = 0; t < 4; ++t) {
    const Tensor xt = slice(x, 1, t, t + 1);
    rows.push_back(mha(xt, xt, {.use_causal_mask = true, .cache = &cache}).output);
    CHECK(cache.length() == t + 1);
  }
  check_close(concat(rows, 1), full, 1e-12);
  const Tensor mask = ones({1, 1}, DType::float64);
  CHECK_ERROR(mha(slice(x, 1, 0, 1), slice(x, 1, 0, 1), {.query_mask = mask, .cache = &cache}), ValueError,
              Contains("KVCache"));
  const Tensor other_batch = randn64({2, 1, 5}, 3);
  CHECK_ERROR(mha(other_batch, other_batch, {.cache = &cache}), ShapeError, Contains("(1, 4, 2, 3)"));
}

TEST_CASE("TransformerBlock: its LayerNorms use GPT-2's epsilon 1e-5, a plain LayerNorm Keras's 1e-3",
          "[transformer]") {
  // docs/layers.md states both defaults. x = (0, 2): mean 1, biased variance 1, so y_1 = 1 / sqrt(1 + epsilon).
  const Tensor x = from_vector({0.0, 2.0}, {1, 1, 2}, DType::float64);
  TransformerBlock block({.d_model = 2, .num_heads = 1, .dtype = DType::float64});
  CHECK(block.ln1(x).at({0, 0, 1}) == Approx(1.0 / std::sqrt(1.0 + 1e-5)).epsilon(1e-14));
  CHECK(block.ln2(x).at({0, 0, 1}) == Approx(1.0 / std::sqrt(1.0 + 1e-5)).epsilon(1e-14));
  LayerNorm plain({.dtype = DType::float64});
  CHECK(plain(x).at({0, 0, 1}) == Approx(1.0 / std::sqrt(1.0 + 1e-3)).epsilon(1e-14));
}
