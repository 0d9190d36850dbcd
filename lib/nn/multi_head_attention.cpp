// Keras 3 MultiHeadAttention (docs/attention.md): Q = query·Wq + bq as one GEMM over every position, the fused core in
// (B', T', N, H) layout (scale 1/√key_dim, masked softmax, dropout on P), then Y = C·Wo + bo contracting (N, Hv).
#include "xgrad/nn/multi_head_attention.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "nn/mha_axes.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

namespace {

constexpr const char* kLayer = "MultiHeadAttention";

void require_positive(const char* arg, std::int64_t value) {
  if (value <= 0) throw ValueError(fmt::format("{}: {} must be a positive integer, got {}", kLayer, arg, value));
}

// Keras EinsumDense's default kernel: glorot-uniform with fan_in = the contracted extents, fan_out = the produced.
Tensor glorot_uniform(const Shape& shape, std::int64_t fan_in, DType dtype, Generator& gen, Device device) {
  const double fan_out = static_cast<double>(numel(shape)) / static_cast<double>(fan_in);
  const double limit = std::sqrt(6.0 / (static_cast<double>(fan_in) + fan_out));
  return uniform(shape, gen, -limit, limit, dtype, device);
}

Shape without_last(const Shape& s) { return s.empty() ? s : Shape(s.begin(), s.end() - 1); }

Shape joined(Shape a, const Shape& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// y = x·W + b contracting the last `contracted` axes of x with the leading ones of an einsum kernel W
// (in…, out…) and bias (out…): one GEMM on the (positions, in) view.
// Y = X·W + b  =>  dW = Xᵀ·dY, db = Σ dY, dX = dY·Wᵀ (the linear op's own backward).
Tensor einsum_dense(const Tensor& x, const Tensor& kernel, const Tensor& bias, std::int64_t contracted) {
  const Shape& ks = kernel.shape();
  const std::int64_t in = numel(Shape(ks.begin(), ks.begin() + contracted));
  const Shape out(ks.begin() + contracted, ks.end());
  const Tensor y = linear(reshape(x, {-1, in}), reshape(kernel, {in, numel(out)}),
                         bias.defined() ? reshape(bias, {numel(out)}) : Tensor());
  return reshape(y, joined(Shape(x.shape().begin(), x.shape().end() - contracted), out));
}

void check_dtype(const char* arg, const Tensor& t, DType dtype) {
  require_defined(t, kLayer, arg);
  if (t.dtype() != dtype)
    throw TypeError(fmt::format("{}: {} of shape {} has dtype {} but the layer's weights are {}; convert it with "
                                ".to() or set MultiHeadAttentionOptions::dtype",
                                kLayer, arg, shape_str(t.shape()), dtype_name(t.dtype()), dtype_name(dtype)));
}

void check_rank(const char* arg, const Tensor& t) {
  if (t.dim() < 3)
    throw ShapeError(fmt::format("{}: {} must have a batch axis, at least one attention axis and a feature axis, "
                                 "got shape {}",
                                 kLayer, arg, shape_str(t.shape())));
}

// The checks of a cached call: one attention axis over (B, T, d) inputs, no padding masks (the cache
// does not keep them), a cache built for this batch and these heads.
void check_cached_call(const MultiHeadAttentionCall& call, const std::vector<std::int64_t>& axes,
                       const Tensor& query, const Tensor& K, DType dtype) {
  if (query.dim() != 3 || axes.size() != 1)
    throw ValueError(fmt::format("{}: a KVCache needs (batch, time, features) inputs and one attention axis, got "
                                 "query {} and attention_axes ({})",
                                 kLayer, shape_str(query.shape()), fmt::join(axes, ", ")));
  std::vector<std::string> masks;
  for (auto [name, mask] : {std::pair{"attention_mask", &call.attention_mask}, {"query_mask", &call.query_mask},
                            {"value_mask", &call.value_mask}, {"key_mask", &call.key_mask}})
    if (mask->defined()) masks.push_back(fmt::format("{} {}", name, shape_str(mask->shape())));
  if (!masks.empty())
    throw ValueError(fmt::format("{}: a KVCache supports only use_causal_mask (the cache keeps no masks), got {}",
                                 kLayer, fmt::join(masks, ", ")));
  const KVCache& c = *call.cache;
  if (c.length() == 0) return;
  const Shape& cs = c.key.shape();
  if (c.key.dtype() != dtype || c.key.dim() != 4 || cs[0] != K.size(0) || cs[2] != K.size(2) || cs[3] != K.size(3))
    throw ShapeError(fmt::format("{}: the KVCache holds keys {} that do not fit new keys {} (batch, heads, key_dim "
                                 "must agree)",
                                 kLayer, shape_str(cs), shape_str(K.shape())));
}

// Keep-mask (T, S) for queries at absolute positions past … past+T-1 over keys 0 … S-1: key j <= past + i.
Tensor offset_causal_mask(std::int64_t T, std::int64_t S, std::int64_t past, DType dtype) {
  std::vector<double> keep(static_cast<std::size_t>(T * S));
  for (std::int64_t i = 0; i < T; ++i)
    for (std::int64_t j = 0; j < S; ++j) keep[static_cast<std::size_t>(i * S + j)] = j <= past + i ? 1.0 : 0.0;
  return from_vector(keep, {T, S}, dtype);
}

}  // namespace

MultiHeadAttention::MultiHeadAttention(MultiHeadAttentionOptions options)
    : Module("MultiHeadAttention", options.dtype),
      options_(std::move(options)),
      init_gen_(seed_or_next(options_.seed)),
      dropout_gen_(init_gen_.initial_seed() + 0x9E3779B97F4A7C15ULL) {
  options_.seed = init_gen_.initial_seed();
  require_positive("num_heads", options_.num_heads);
  require_positive("key_dim", options_.key_dim);
  if (options_.value_dim) require_positive("value_dim", *options_.value_dim);
  if (!(options_.dropout >= 0.0 && options_.dropout <= 1.0))
    throw ValueError(fmt::format("{}: dropout must be in [0, 1], got {}", kLayer, options_.dropout));
  if (options_.output_shape) {
    if (options_.output_shape->empty())
      throw ValueError(fmt::format("{}: output_shape must hold at least one positive integer, got ()", kLayer));
    for (std::int64_t e : *options_.output_shape)
      if (e <= 0)
        throw ValueError(fmt::format("{}: output_shape must hold positive integers, got {}", kLayer,
                                     shape_str(*options_.output_shape)));
  }
  if (options_.attention_axes && options_.attention_axes->empty())
    throw ValueError(fmt::format("{}: attention_axes must name at least one axis, got ()", kLayer));
  register_module("query", query_);
  register_module("key", key_);
  register_module("value", value_);
  register_module("attention_output", output_);
  to(dtype());  // the projection sub-modules report the layer's dtype
}

MultiHeadAttention::MultiHeadAttention(std::int64_t num_heads, std::int64_t key_dim)
    : MultiHeadAttention(MultiHeadAttentionOptions{.num_heads = num_heads, .key_dim = key_dim}) {}

void MultiHeadAttention::build(const Shape& query_shape, const Shape& value_shape, const Shape& key_shape) {
  const std::int64_t dq = query_shape.back(), dv = value_shape.back(), dk = key_shape.back();
  if (built_) {
    if (dq != dq_ || dk != dk_ || dv != dv_)
      throw ShapeError(fmt::format("{}: built for feature sizes query {}, key {}, value {}; got query {}, value {}, "
                                   "key {}",
                                   kLayer, dq_, dk_, dv_, shape_str(query_shape), shape_str(value_shape),
                                   shape_str(key_shape)));
    return;
  }
  const std::int64_t N = options_.num_heads, Hk = options_.key_dim, Hv = options_.value_dim.value_or(Hk);
  const Shape O = options_.output_shape.value_or(Shape{dq});
  const DType dt = dtype();
  const Device dev = device();
  auto kernel = [&](const Shape& shape, std::int64_t fan_in) {
    return options_.kernel_initializer ? (*options_.kernel_initializer)(shape, dt, init_gen_, dev)
                                       : glorot_uniform(shape, fan_in, dt, init_gen_, dev);
  };
  auto bias = [&](const Shape& shape) {
    return options_.bias_initializer ? (*options_.bias_initializer)(shape, dt, init_gen_, dev) : zeros(shape, dt, dev);
  };
  auto make = [&](std::size_t i, Module& m, const Shape& kernel_shape, std::int64_t fan_in, const Shape& bias_shape) {
    kernels_[i] = m.register_parameter("kernel", kernel(kernel_shape, fan_in));
    if (options_.use_bias) biases_[i] = m.register_parameter("bias", bias(bias_shape));
  };
  make(0, query_, {dq, N, Hk}, dq, {N, Hk});
  make(1, key_, {dk, N, Hk}, dk, {N, Hk});
  make(2, value_, {dv, N, Hv}, dv, {N, Hv});
  make(3, output_, joined({N, Hv}, O), N * Hv, O);
  dq_ = dq, dk_ = dk, dv_ = dv;
  built_ = true;
}

AttentionOutputs MultiHeadAttention::forward(const Tensor& query, const Tensor& value, const MultiHeadAttentionCall& call) {
  clear_activity_losses();
  const Tensor& key = call.key.defined() ? call.key : value;
  const DType dt = dtype();
  check_dtype("query", query, dt);
  check_dtype("value", value, dt);
  check_dtype("key", key, dt);
  // Key against value before either one's rank: a key of the wrong rank is a key/value mismatch first.
  if (key.dim() != value.dim() || without_last(key.shape()) != without_last(value.shape()))
    throw ShapeError(fmt::format("{}: All dimensions of `value` and `key`, except the last one, must be equal. "
                                 "Received: value_shape={} and key_shape={}",
                                 kLayer, shape_str(value.shape()), shape_str(key.shape())));
  check_rank("query", query);
  check_rank("value", value);
  if (query.dim() != value.dim())
    throw ShapeError(fmt::format("{}: query {} and value {} must have the same rank", kLayer, shape_str(query.shape()),
                                 shape_str(value.shape())));
  const auto axes = detail::resolve_attention_axes(options_.attention_axes, query.dim());
  const std::int64_t N = options_.num_heads;
  detail::AttentionLayout layout = detail::attention_layout(axes, query.shape(), value.shape(), N);
  if (call.use_causal_mask && axes.size() != 1)
    throw ValueError(fmt::format("{}: use_causal_mask needs exactly one attention axis, got attention_axes ({})",
                                 kLayer, fmt::join(axes, ", ")));
  build(query.shape(), value.shape(), key.shape());

  // Q = query·Wq + bq, K = key·Wk + bk, V = value·Wv + bv: (B, …, N, H), Keras's einsum-dense layout
  const Tensor Q = einsum_dense(query, kernels_[0], biases_[0], 1);
  Tensor K = einsum_dense(key, kernels_[1], biases_[1], 1);
  Tensor V = einsum_dense(value, kernels_[2], biases_[2], 1);

  // With a cache the keys/values are the cached ones followed by the new: queries sit at past … past+T-1.
  std::int64_t past = 0;
  if (call.cache) {
    check_cached_call(call, axes, query, K, dt);
    KVCache& c = *call.cache;
    past = c.length();
    if (past > 0) K = concat({c.key, K}, 1), V = concat({c.value, V}, 1);
    c.key = K, c.value = V;
    layout = detail::attention_layout(axes, query.shape(), {K.size(0), K.size(1), dk_}, N);
  }

  xgrad::AttentionOptions o;
  o.scale = 1.0 / std::sqrt(static_cast<double>(options_.key_dim));  // Keras scales Q by this: same up to rounding
  o.mask = detail::combined_mask({call.attention_mask, call.query_mask, call.value_mask, call.key_mask}, layout,
                                 query.shape(), value.shape(), key.shape(), dt);
  o.causal = call.use_causal_mask && past == 0;  // the core's causal mask is top-left aligned
  if (call.use_causal_mask && past > 0 && query.size(1) > 1)  // one query row sees every cached key anyway
    o.mask = offset_causal_mask(query.size(1), K.size(1), past, dt);
  o.dropout = options_.dropout;
  o.training = call.training.value_or(is_training());
  o.generator = &dropout_gen_;
  o.return_scores = call.return_attention_scores;
  const AttentionResult r = attention(detail::to_core(Q, layout, true), detail::to_core(K, layout, false),
                                      detail::to_core(V, layout, false), o);

  // Y = C·Wo + bo, contracting (N, Hv): C (B, …, N, Hv) → query.shape[:-1] + O
  const Tensor C = detail::from_core(r.output, layout);
  AttentionOutputs result{einsum_dense(C, kernels_[3], biases_[3], 2), Tensor(), call.query_mask};
  if (call.return_attention_scores) result.scores = reshape(r.scores, layout.score_shape);
  if (options_.activity_regularizer)
    add_activity_loss(div(options_.activity_regularizer(result.output), scalar(double(query.size(0)), dt)));
  return result;
}

std::vector<Tensor> MultiHeadAttention::get_weights() const {
  std::vector<Tensor> out;
  for (std::size_t i = 0; built_ && i < 4; ++i) {
    out.push_back(kernels_[i]);
    if (biases_[i].defined()) out.push_back(biases_[i]);
  }
  return out;
}

void MultiHeadAttention::set_weights(const std::vector<Tensor>& weights) {
  const std::vector<Tensor> own = get_weights();
  if (!built_ || weights.size() != own.size())
    throw ValueError(fmt::format("{}: set_weights expects {} tensors (the layer is {}), got {}", kLayer, own.size(),
                                 built_ ? "built" : "not built yet: call build() first", weights.size()));
  for (std::size_t i = 0; i < own.size(); ++i) {
    if (weights[i].shape() != own[i].shape() || weights[i].dtype() != own[i].dtype())
      throw ShapeError(fmt::format("{}: set_weights: weight {} must be {} {}, got {} {}", kLayer, i,
                                   dtype_name(own[i].dtype()), shape_str(own[i].shape()),
                                   dtype_name(weights[i].dtype()), shape_str(weights[i].shape())));
    own[i].backend().copy(own[i].raw_data(), weights[i].raw_data(), own[i].numel() * dtype_size(own[i].dtype()));
  }
}

Tensor MultiHeadAttention::own_regularization_loss() const {
  Tensor total;
  auto add_penalty = [&](const Regularizer& reg, const Tensor& w) {
    if (!reg || !w.defined()) return;
    const Tensor p = reg(w);
    total = total.defined() ? add(total, p) : p;
  };
  for (std::size_t i = 0; i < 4; ++i) {
    add_penalty(options_.kernel_regularizer, kernels_[i]);
    add_penalty(options_.bias_regularizer, biases_[i]);
  }
  return total;
}

void MultiHeadAttention::apply_own_constraints() {
  NoGradGuard no_grad;
  auto project = [](const Constraint& c, const Tensor& w) {
    if (c && w.defined()) c.apply_(w);
  };
  for (std::size_t i = 0; i < 4; ++i) {
    project(options_.kernel_constraint, kernels_[i]);
    project(options_.bias_constraint, biases_[i]);
  }
}

std::string MultiHeadAttention::build_hint() const {
  return "its kernels are sized by the query, key and value widths; call build(query_shape, value_shape, "
         "key_shape), io::load a checkpoint, or run one forward pass";
}

void MultiHeadAttention::build_own_from_shapes(const std::function<const Shape*(const std::string&)>& shape_of) {
  const Shape *q = shape_of("query.kernel"), *k = shape_of("key.kernel"), *v = shape_of("value.kernel");
  if (q && k && v && q->size() == 3 && k->size() == 3 && v->size() == 3)
    build({q->front()}, {v->front()}, {k->front()});
}

std::string MultiHeadAttention::describe() const {
  return fmt::format("num_heads={}, key_dim={}, value_dim={}{}", options_.num_heads, options_.key_dim,
                     options_.value_dim.value_or(options_.key_dim), built_ ? "" : " (unbuilt)");
}

}  // namespace xgrad::nn
