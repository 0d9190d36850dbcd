// Error messages of the attention APIs (and the ops beneath them) name the operation, the argument and every
// shape involved, so a user can act on them without reading the source.
#include <catch2/catch.hpp>

#include <limits>

#include "nn_helpers.hpp"
#include "xgrad/functional/attention.hpp"
#include "xgrad/nn/attention.hpp"
#include "xgrad/nn/flux_attention.hpp"
#include "xgrad/nn/losses.hpp"
#include "xgrad/nn/multi_head_attention.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/nn.hpp"

using namespace xgrad;
using Catch::Contains;
using test::message_of;

TEST_CASE("MultiHeadAttention: a key that does not match the value names both shapes, whatever the key's rank",
          "[attention]") {
  nn::MultiHeadAttention mha({.num_heads = 2, .key_dim = 3});
  const Tensor value = zeros({2, 2, 7});
  for (const Shape& key : {Shape{2}, Shape{}, Shape{2, 3, 7}, Shape{2, 2, 1, 7}}) {
    const std::string m = message_of<ShapeError>([&] { mha(zeros({2, 4, 7}), value, {.key = zeros(key)}); });
    INFO(m);
    CHECK_THAT(m, Contains("MultiHeadAttention: All dimensions of `value` and `key`, except the last one, must be "
                           "equal"));
    CHECK_THAT(m, Contains("value_shape=(2, 2, 7)"));
    CHECK_THAT(m, Contains("key_shape=" + shape_str(key)));
  }
  // A query of too low a rank names the query; one of another dtype names both dtypes.
  CHECK_THAT(message_of<ShapeError>([&] { mha(zeros({4, 7}), value); }),
             Contains("MultiHeadAttention: query must have a batch axis") && Contains("(4, 7)"));
  CHECK_THAT(message_of<TypeError>([&] { mha(zeros({2, 4, 7}, DType::float64), value); }),
             Contains("query of shape (2, 4, 7) has dtype float64 but the layer's weights are float32"));
  // A KVCache call names the masks it cannot keep.
  nn::KVCache cache;
  CHECK_THAT(message_of<ValueError>([&] {
               mha(zeros({2, 4, 7}), value, {.value_mask = ones({2, 2}), .cache = &cache});
             }),
             Contains("a KVCache supports only use_causal_mask") && Contains("value_mask (2, 2)"));
}

TEST_CASE("Attention (Keras): a rank error names the argument and all three shapes", "[attention]") {
  nn::Attention att;
  const std::string m = message_of<ShapeError>([&] { att(zeros({2, 4, 7}), zeros({2, 2, 7}), {.key = zeros({2})}); });
  CHECK_THAT(m, Contains("Attention: key must be (*batch, length, features) with at least 3 axes, got (2,)"));
  CHECK_THAT(m, Contains("query (2, 4, 7), value (2, 2, 7) and key (2,)"));
  CHECK_THAT(message_of<ShapeError>([&] { att(zeros({2, 4, 7}), zeros({3, 4, 2, 7})); }),
             Contains("query (2, 4, 7), value (3, 4, 2, 7) and key (3, 4, 2, 7) must share their batch axes"));
}

TEST_CASE("multi_head_attention (functional): projection errors name the query, key and value shapes",
          "[functional]") {
  using O = functional::MultiHeadAttentionOptions;
  const Tensor q = zeros({2, 3, 4}, DType::float64), v5 = zeros({2, 3, 5}, DType::float64);
  auto with = [](auto edit) {
    O o;
    o.num_heads = 2;
    edit(o);
    return o;
  };
  // Packed weights for inputs of different widths.
  CHECK_THAT(message_of<ShapeError>([&] {
               functional::multi_head_attention(q, q, v5,
                                                with([](O& o) { o.in_proj_weights = zeros({12, 4}, DType::float64); }));
             }),
             Contains("packed in_proj_weights (12, 4) need query, key and value of one width, got query (2, 3, 4), "
                      "key (2, 3, 4) and value (2, 3, 5)") &&
                 Contains("q_proj_weights, k_proj_weights and v_proj_weights"));
  CHECK_THAT(message_of<ShapeError>([&] {
               functional::multi_head_attention(q, {}, {},
                                                with([](O& o) { o.in_proj_weights = zeros({12, 5}, DType::float64); }));
             }),
             Contains("in_proj_weights must be (3E, 4) for query features 4, got (12, 5) (query (2, 3, 4))"));
  // Sequence-first inputs: the shapes named are the caller's, not the batch-first views.
  CHECK_THAT(message_of<ShapeError>([&] {
               functional::multi_head_attention(q, q, v5, with([](O& o) { o.batch_first = false; }));
             }),
             Contains("without projection weights query, key and value need one feature width, got query (2, 3, 4), "
                      "key (2, 3, 4) and value (2, 3, 5)"));
  CHECK_THAT(message_of<ShapeError>([&] {
               functional::multi_head_attention(q, zeros({2, 3, 3}, DType::float64), q, with([](O& o) {
                                                  o.q_proj_weights = zeros({4, 4}, DType::float64);
                                                  o.k_proj_weights = zeros({4, 4}, DType::float64);
                                                  o.v_proj_weights = zeros({4, 4}, DType::float64);
                                                }));
             }),
             Contains("k_proj_weights must have shape (4, 3) (E, key features), got (4, 4) for key (2, 3, 3)"));
  CHECK_THAT(message_of<ValueError>([&] {
               functional::multi_head_attention(q, {}, {}, with([](O& o) {
                                                  o.num_heads = 3;
                                                  o.in_proj_weights = zeros({12, 4}, DType::float64);
                                                }));
             }),
             Contains("embedding width 4 is not divisible by num_heads 3 (E is from in_proj_weights (12, 4))"));
  // Dtypes: named by argument, after the shapes are known to fit.
  CHECK_THAT(message_of<TypeError>([&] { functional::multi_head_attention(q, zeros({2, 3, 4}), q, with([](O&) {})); }),
             Contains("multi_head_attention: key (2, 3, 4) is float32 but query (2, 3, 4) is float64"));
  CHECK_THAT(message_of<TypeError>([&] {
               functional::multi_head_attention(q, {}, {}, with([](O& o) { o.out_proj_weights = zeros({4, 4}); }));
             }),
             Contains("multi_head_attention: out_proj_weights (4, 4) is float32 but query (2, 3, 4) is float64"));
  CHECK_THAT(message_of<TypeError>([&] { functional::multi_head_attention(index_tensor({1, 2}, {1, 2}), {}, {}); }),
             Contains("multi_head_attention: argument 'query' must be float32 or float64, got int64 of shape (1, 2)"));
}

TEST_CASE("FluxMultiHeadAttention: dtype and bias errors name the layer, the argument and its shape", "[attention]") {
  nn::FluxMultiHeadAttention mha(4, {.nheads = 2});
  const Tensor x = zeros({2, 3, 4});
  CHECK_THAT(message_of<TypeError>([&] { mha(x, zeros({2, 3, 4}, DType::float64), x); }),
             Contains("FluxMultiHeadAttention: k of shape (2, 3, 4) has dtype float64 but the layer's weights are "
                      "float32"));
  CHECK_THAT(message_of<TypeError>([&] { mha(x, x, x, zeros({1, 2, 3, 3}, DType::float64)); }),
             Contains("FluxMultiHeadAttention: bias of shape (1, 2, 3, 3) has dtype float64"));
  CHECK_THAT(message_of<ValueError>([&] { mha(x, x, x, full({3, 3}, std::numeric_limits<double>::quiet_NaN())); }),
             Contains("bias entries must be finite or -inf, found nan in bias (3, 3)"));
  CHECK_THAT(message_of<TypeError>([] { nn::FluxMultiHeadAttention(4, {.nheads = 2, .dtype = DType::int64}); }),
             Contains("dtype must be float32 or float64, got int64"));
}

TEST_CASE("attention core and the ops beneath the layers: dtype errors name both arguments and shapes",
          "[attention]") {
  const Tensor q = zeros({1, 2, 1, 3}), k = zeros({1, 4, 1, 3});
  AttentionOptions o;
  o.bias = zeros({2, 4}, DType::float64);
  CHECK_THAT(message_of<TypeError>([&] { attention(q, k, k, o); }),
             Contains("attention: bias (2, 4) is float64 but q (1, 2, 1, 3) is float32"));
  CHECK_THAT(message_of<TypeError>([&] { attention(q, k.to(DType::float64), k); }),
             Contains("attention: k (1, 4, 1, 3) is float64 but q (1, 2, 1, 3) is float32"));
  CHECK_THAT(message_of<TypeError>([] { layer_norm(zeros({2, 4}), zeros({4}, DType::float64), {}); }),
             Contains("layer_norm: weight (4,) is float64 but input (2, 4) is float32"));
  CHECK_THAT(message_of<TypeError>([] { nn::mse_loss(zeros({3}), zeros({3}, DType::float64)); }),
             Contains("mse_loss: target (3,) is float64 but prediction (3,) is float32"));
}
