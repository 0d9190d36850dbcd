#include "model.hpp"

#include <fmt/format.h>

#include <cmath>

#include "xgrad/errors.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace char_lm {

using xgrad::Tensor;
namespace nn = xgrad::nn;

namespace {

// GPT-2's initialisation: every weight ~ N(0, 0.02), biases zero. Each layer gets its own seed so
// adding a layer does not shift the draws of the others.
nn::Dense dense(std::int64_t in, std::int64_t units, std::uint64_t seed, nn::Activation act = {}) {
  return nn::Dense({.units = units, .activation = std::move(act), .kernel_initializer = nn::initializers::random_normal(0.0, 0.02),
                    .input_dim = in, .seed = seed});
}
nn::LayerNormOptions ln(std::int64_t d) { return {.epsilon = 1e-5, .input_dim = d}; }  // torch's epsilon

}  // namespace

Block::Block(const ModelConfig& c, std::int64_t index)
    : Module("Block"),
      c_(c),
      ln1_(ln(c.d_model)),
      ln2_(ln(c.d_model)),
      query_(dense(c.d_model, c.d_model, c.seed + 100 * std::uint64_t(index) + 1)),
      key_(dense(c.d_model, c.d_model, c.seed + 100 * std::uint64_t(index) + 2)),
      value_(dense(c.d_model, c.d_model, c.seed + 100 * std::uint64_t(index) + 3)),
      out_(dense(c.d_model, c.d_model, c.seed + 100 * std::uint64_t(index) + 4)),
      fc1_(dense(c.d_model, c.d_ff, c.seed + 100 * std::uint64_t(index) + 5, "gelu")),
      fc2_(dense(c.d_ff, c.d_model, c.seed + 100 * std::uint64_t(index) + 6)) {
  register_module("ln1", ln1_);
  register_module("query", query_);
  register_module("key", key_);
  register_module("value", value_);
  register_module("out", out_);
  register_module("ln2", ln2_);
  register_module("fc1", fc1_);
  register_module("fc2", fc2_);
}

Tensor Block::forward(const Tensor& x, xgrad::Generator& gen) {
  const auto B = x.shape()[0], T = x.shape()[1], H = c_.heads, Dh = c_.d_model / c_.heads;
  const bool drop = is_training() && c_.dropout > 0;
  // Projection layout (B, T, H, Dh): the attention core takes it without transposes.
  const Tensor h = ln1_(x);
  const xgrad::Shape heads{B, T, H, Dh};
  auto att = xgrad::attention(xgrad::reshape(query_(h), heads), xgrad::reshape(key_(h), heads),
                              xgrad::reshape(value_(h), heads),
                              {.scale = 1.0 / std::sqrt(double(Dh)), .causal = true, .dropout = c_.dropout,
                               .training = drop, .generator = &gen});
  Tensor a = out_(xgrad::reshape(att.output, {B, T, c_.d_model}));
  if (drop) a = xgrad::dropout(a, c_.dropout, gen);
  const Tensor y = x + a;
  Tensor m = fc2_(fc1_(ln2_(y)));
  if (drop) m = xgrad::dropout(m, c_.dropout, gen);
  return y + m;
}

TinyLM::TinyLM(const ModelConfig& c)
    : Module("TinyLM"),
      c_(c),
      tok_({.input_dim = c.vocab, .output_dim = c.d_model, .embeddings_initializer = nn::initializers::random_normal(0.0, 0.02),
            .seed = c.seed}),
      ln_f_(ln(c.d_model)),
      head_(dense(c.d_model, c.vocab, c.seed + 99)),
      dropout_gen_(c.seed + 7) {
  if (c.heads <= 0 || c.d_model % c.heads != 0)
    throw xgrad::ValueError(fmt::format("TinyLM: heads {} must divide d_model {}", c.heads, c.d_model));
  register_module("tok", tok_);
  xgrad::Generator g(c.seed + 98);
  pos_ = register_parameter("pos", xgrad::randn({c.context, c.d_model}, g, xgrad::DType::float32, 0.0, 0.02));
  for (std::int64_t i = 0; i < c.layers; ++i)
    blocks_.push_back(std::make_unique<Block>(c, i)), register_module(fmt::format("block{}", i), *blocks_.back());
  register_module("ln_f", ln_f_);
  register_module("head", head_);
}

Tensor TinyLM::forward(const Tensor& ids) {
  if (ids.dim() != 2 || ids.shape()[1] > c_.context || ids.shape()[1] < 1)
    throw xgrad::ShapeError(fmt::format("TinyLM: ids must be (batch, T) with 1 <= T <= context {}, got {}", c_.context,
                                        xgrad::shape_str(ids.shape())));
  const auto T = ids.shape()[1];
  Tensor x = tok_(ids) + (T == c_.context ? pos_ : xgrad::narrow(pos_, 0, 0, T));
  if (is_training() && c_.dropout > 0) x = xgrad::dropout(x, c_.dropout, dropout_gen_);
  for (auto& b : blocks_) x = b->forward(x, dropout_gen_);
  return head_(ln_f_(x));
}

}  // namespace char_lm
