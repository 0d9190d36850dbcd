// GPT-2's block and LM as compositions of the existing layers: every gradient is the layers' own, so this
// file holds only wiring, the seeds, and the decoding loop.
#include "xgrad/nn/transformer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "xgrad/autograd/gradient_checkpoint.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/precision.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

namespace {

void require_positive(const char* layer, const char* arg, std::int64_t value) {
  if (value <= 0) throw ValueError(fmt::format("{}: {} must be positive, got {}", layer, arg, value));
}

// Validates `o` and draws its seed when unset (each sub-module's seed derives from it); the constructors
// call it in their first member initializer, so every later one sees the resolved seed.
const TransformerBlockOptions& checked(TransformerBlockOptions& o) {
  o.seed = seed_or_next(o.seed);
  require_positive("TransformerBlock", "d_model", o.d_model);
  require_positive("TransformerBlock", "num_heads", o.num_heads);
  require_positive("TransformerBlock", "mlp_ratio", o.mlp_ratio);
  if (o.d_model % o.num_heads != 0)
    throw ValueError(fmt::format("TransformerBlock: num_heads {} must divide d_model {}", o.num_heads, o.d_model));
  return o;
}

const TransformerLMOptions& checked(TransformerLMOptions& o) {
  o.seed = seed_or_next(o.seed);
  require_positive("TransformerLM", "vocab_size", o.vocab_size);
  require_positive("TransformerLM", "context_length", o.context_length);
  require_positive("TransformerLM", "num_layers", o.num_layers);
  return o;
}

// Distinct streams per sub-module from one user seed (splitmix-style odd multiplier).
std::uint64_t sub_seed(std::uint64_t seed, std::uint64_t i) { return seed + 0x9E3779B97F4A7C15ULL * (i + 1); }
std::uint64_t sub_seed(const std::optional<std::uint64_t>& seed, std::uint64_t i) { return sub_seed(*seed, i); }

Tensor gelu_tanh(const Tensor& x) { return gelu(x, true); }

}  // namespace

TransformerBlock::TransformerBlock(TransformerBlockOptions options)
    : Module("TransformerBlock", options.dtype),
      ln1({.epsilon = checked(options).layer_norm_epsilon,
           .input_dim = options.d_model,
           .dtype = options.dtype,
           .seed = sub_seed(options.seed, 5)}),
      attn({.num_heads = options.num_heads,
            .key_dim = options.d_model / options.num_heads,
            .dropout = options.dropout,
            .dtype = options.dtype,
            .seed = sub_seed(options.seed, 0)}),
      attn_dropout(options.dropout, {}, sub_seed(options.seed, 1)),
      ln2({.epsilon = options.layer_norm_epsilon,
           .input_dim = options.d_model,
           .dtype = options.dtype,
           .seed = sub_seed(options.seed, 6)}),
      mlp_in({.units = options.mlp_ratio * options.d_model,
              .activation = Activation(gelu_tanh, "gelu_tanh"),
              .input_dim = options.d_model,
              .dtype = options.dtype,
              .seed = sub_seed(options.seed, 2)}),
      mlp_out({.units = options.d_model,
               .input_dim = options.mlp_ratio * options.d_model,
               .dtype = options.dtype,
               .seed = sub_seed(options.seed, 3)}),
      mlp_dropout(options.dropout, {}, sub_seed(options.seed, 4)),
      options_(options) {
  const Shape io{1, 1, options.d_model};
  attn.build(io, io, io);  // weights exist up front, so optimizers and counts see them before a call
  register_module("ln1", ln1);
  register_module("attn", attn);
  register_module("attn_dropout", attn_dropout);
  register_module("ln2", ln2);
  register_module("mlp_in", mlp_in);
  register_module("mlp_out", mlp_out);
  register_module("mlp_dropout", mlp_dropout);
}

Tensor TransformerBlock::forward(const Tensor& x, KVCache* cache) {
  if (!options_.gradient_checkpointing || cache || !grad_enabled()) return layers_forward(x, cache);
  // The recomputation runs when backward() does, perhaps after the caller's PrecisionScope ended: it takes
  // the forward's product precision with it, as every product's own backward does.
  const ProductPrecision precision = product_precision();
  auto segment = [this, precision](const std::vector<Tensor>& in) {
    const PrecisionScope scope(precision);
    return layers_forward(in[0], nullptr);
  };
  return gradient_checkpoint(segment, {x},
                             {.parameters = parameters(),
                              .generators = {&attn.dropout_generator(), &attn_dropout.generator(),
                                             &mlp_dropout.generator()}});
}

Tensor TransformerBlock::layers_forward(const Tensor& x, KVCache* cache) {
  const Tensor h = ln1(x);
  const Tensor y = add(x, attn_dropout(attn(h, h, {.use_causal_mask = true, .cache = cache}).output));
  if (!options_.recompute_mlp_activation) return add(y, mlp_dropout(mlp_out(mlp_in(ln2(y)))));
  // mlp_out(mlp_in(z)) with mlp_in's GELU fused into mlp_out's product, which keeps the pre-activation and
  // recomputes the GELU in its backward: the (tokens, mlp_ratio·d) GELU output is not held until then.
  const Tensor pre = linear(ln2(y), mlp_in.kernel(), mlp_in.bias());
  return add(y, mlp_dropout(activated_linear(pre, LinearInputActivation::gelu_tanh, mlp_out.kernel(),
                                             mlp_out.bias())));
}

void TransformerBlock::reseed(std::uint64_t seed) {
  attn.reseed(sub_seed(seed, 0));
  attn_dropout.reseed(sub_seed(seed, 1));
  mlp_dropout.reseed(sub_seed(seed, 4));
}

TransformerLM::TransformerLM(TransformerLMOptions options)
    : Module("TransformerLM", options.dtype),
      options_(checked(options)),
      token_embedding({.input_dim = options.vocab_size,
                       .output_dim = options.d_model,
                       .embeddings_initializer = initializers::random_normal(0.0, 0.02),
                       .dtype = options.dtype,
                       .seed = sub_seed(options.seed, 0)}),
      position_embedding(options.context_length, options.d_model, options.dtype, sub_seed(options.seed, 1)),
      dropout(options.dropout, {}, sub_seed(options.seed, 2)),
      ln_f({.epsilon = options.layer_norm_epsilon,
            .input_dim = options.d_model,
            .dtype = options.dtype,
            .seed = sub_seed(options.seed, 4)}),
      head({.units = options.vocab_size,
            .input_dim = options.d_model,
            .dtype = options.dtype,
            .seed = sub_seed(options.seed, 3)}) {
  register_module("token_embedding", token_embedding);
  register_module("position_embedding", position_embedding);
  register_module("dropout", dropout);
  register_module("blocks", blocks);
  for (std::int64_t i = 0; i < options.num_layers; ++i) {
    // Not the last block: the backward starts with it, so its activations would be recomputed at once and
    // held at the same time as they are now; checkpointing it would cost a forward and lower no peak.
    const bool checkpointed = options.gradient_checkpointing && i + 1 < options.num_layers;
    blocks_list_.push_back(&blocks.register_module(
        std::to_string(i), std::make_unique<TransformerBlock>(TransformerBlockOptions{
                               .d_model = options.d_model,
                               .num_heads = options.num_heads,
                               .mlp_ratio = options.mlp_ratio,
                               .dropout = options.dropout,
                               .layer_norm_epsilon = options.layer_norm_epsilon,
                               .dtype = options.dtype,
                               .seed = sub_seed(options.seed, 10 + static_cast<std::uint64_t>(i)),
                               .recompute_mlp_activation = options.recompute_mlp_activation,
                               .gradient_checkpointing = checkpointed})));
  }
  register_module("ln_f", ln_f);
  register_module("head", head);
  to(dtype());  // the `blocks` container reports the model's dtype
}

Tensor TransformerLM::forward(const Tensor& ids, TransformerCache* cache) {
  require_defined(ids, "TransformerLM", "ids");
  if (ids.dim() != 2)
    throw ShapeError(fmt::format("TransformerLM: ids must be (batch, time), got {}", shape_str(ids.shape())));
  if (cache && cache->layers.empty()) cache->layers.resize(blocks_list_.size());
  const std::int64_t offset = cache ? cache->length() : 0;
  Tensor x = dropout(position_embedding(token_embedding(ids), offset));
  for (std::size_t i = 0; i < blocks_list_.size(); ++i) x = (*blocks_list_[i])(x, cache ? &cache->layers[i] : nullptr);
  return head(ln_f(x));
}

TransformerBlock& TransformerLM::block(std::size_t i) {
  if (i >= blocks_list_.size())
    throw IndexError(fmt::format("TransformerLM: block {} out of range for {} layers", i, blocks_list_.size()));
  return *blocks_list_[i];
}

void TransformerLM::reseed(std::uint64_t seed) {
  dropout.reseed(sub_seed(seed, 2));
  for (std::size_t i = 0; i < blocks_list_.size(); ++i) blocks_list_[i]->reseed(sub_seed(seed, 10 + i));
}

namespace {

// One token per row of `logits` (B, vocab): argmax at temperature 0, else a draw from softmax(logits / t).
std::vector<std::int64_t> pick_tokens(const Tensor& logits, double temperature, Generator& gen) {
  const std::int64_t B = logits.size(0), V = logits.size(1);
  const std::vector<double> l = logits.to_vector();
  std::vector<std::int64_t> out(static_cast<std::size_t>(B));
  std::vector<double> p(static_cast<std::size_t>(V));
  for (std::int64_t b = 0; b < B; ++b) {
    const double* row = l.data() + b * V;
    std::int64_t best = 0;
    for (std::int64_t v = 1; v < V; ++v) best = row[v] > row[best] ? v : best;
    if (temperature == 0.0) {
      out[static_cast<std::size_t>(b)] = best;
      continue;
    }
    double total = 0.0;  // shifted by the max so exp never overflows
    for (std::int64_t v = 0; v < V; ++v)
      total += p[static_cast<std::size_t>(v)] = std::exp((row[v] - row[best]) / temperature);
    double u = gen.uniform() * total;
    std::int64_t pick = V - 1;  // rounding can leave u just above the last cumulative sum
    for (std::int64_t v = 0; v < V; ++v)
      if ((u -= p[static_cast<std::size_t>(v)]) < 0.0) {
        pick = v;
        break;
      }
    out[static_cast<std::size_t>(b)] = pick;
  }
  return out;
}

// The last time step of (B, T, V) as (B, V).
Tensor last_step(const Tensor& logits) {
  const std::int64_t T = logits.size(1);
  return reshape(slice(logits, 1, T - 1, T), {logits.size(0), logits.size(2)});
}

}  // namespace

Tensor TransformerLM::generate(const Tensor& prompt, std::int64_t n_new, double temperature, Generator& gen,
                               bool use_cache) {
  require_defined(prompt, "TransformerLM::generate", "prompt");
  if (!(temperature >= 0.0) || n_new < 0)
    throw ValueError(fmt::format("TransformerLM::generate: temperature must be >= 0 and n_new >= 0, got {} and {}",
                                 temperature, n_new));
  const std::int64_t ctx = options_.context_length;
  if (prompt.dim() != 2 || prompt.size(1) == 0 || prompt.size(1) > ctx)
    throw ShapeError(fmt::format("TransformerLM::generate: prompt must be (batch, 1 … {}) ids, got {}", ctx,
                                 shape_str(prompt.shape())));
  const bool was_training = is_training();
  eval();
  NoGradGuard no_grad;
  const std::int64_t B = prompt.size(0);
  Tensor seq = prompt.to(DType::int64);
  TransformerCache cache;
  Tensor next_input = seq;  // what the next forward sees: everything (cold cache) or the newest column
  for (std::int64_t step = 0; step < n_new; ++step) {
    const std::int64_t T = seq.size(1);
    Tensor logits;
    if (!use_cache) {
      const std::int64_t start = std::max<std::int64_t>(0, T - ctx);
      logits = forward(slice(seq, 1, start, T));
    } else {
      if (cache.length() + next_input.size(1) > ctx) {  // full: restart from the last ctx / 2 tokens
        cache.clear();
        next_input = slice(seq, 1, T - std::max<std::int64_t>(1, ctx / 2), T);
      }
      logits = forward(next_input, &cache);
    }
    const std::vector<std::int64_t> picked = pick_tokens(last_step(logits), temperature, gen);
    next_input = index_tensor(picked, {B, 1}).to(seq.device());  // sampling is on the host, the model anywhere
    seq = concat({seq, next_input}, 1);
  }
  train(was_training);
  return seq;
}

}  // namespace xgrad::nn
