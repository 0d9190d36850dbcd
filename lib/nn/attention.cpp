// Keras Attention (docs/attention.md) on the fused core with one head: leading axes flatten into one batch axis, the
// (*batch, T, d) inputs are viewed as (B, T, 1, d) with no copy. Concat scores are composed from ops and
// enter the core as an additive bias over zero-width products, so masking, softmax and dropout stay fused.
#include "xgrad/nn/attention.hpp"

#include <fmt/format.h>

#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

namespace {

constexpr const char* kLayer = "Attention";

Shape leading(const Tensor& t, std::int64_t drop) { return Shape(t.shape().begin(), t.shape().end() - drop); }

Shape append(Shape s, std::initializer_list<std::int64_t> tail) {
  s.insert(s.end(), tail);
  return s;
}

void check_dtype(const char* arg, const Tensor& t, DType dtype) {
  require_defined(t, kLayer, arg);
  if (t.dtype() != dtype)
    throw TypeError(fmt::format("{}: {} of shape {} has dtype {} but the layer is {}; convert it with .to()", kLayer,
                                arg, shape_str(t.shape()), dtype_name(t.dtype()), dtype_name(dtype)));
}

void check_mask(const char* arg, const Tensor& mask, const Shape& want, const char* against, const Tensor& input) {
  if (mask.defined() && mask.shape() != want)
    throw ShapeError(fmt::format("{}: {} must have shape {} to match {} {}, got {}", kLayer, arg, shape_str(want),
                                 against, shape_str(input.shape()), shape_str(mask.shape())));
}

}  // namespace

Attention::Attention(AttentionLayerOptions options)
    : Module("Attention", options.dtype), options_(std::move(options)), gen_(seed_or_next(options_.seed)) {
  options_.seed = gen_.initial_seed();
  if (options_.score_mode != "dot" && options_.score_mode != "concat")
    throw ValueError(fmt::format("{}: score_mode must be \"dot\" or \"concat\", got \"{}\"", kLayer, options_.score_mode));
  if (!(options_.dropout >= 0.0 && options_.dropout <= 1.0))
    throw ValueError(fmt::format("{}: dropout must be in [0, 1], got {}", kLayer, options_.dropout));
  if (options_.use_scale) scale_ = register_parameter("scale", scalar(1.0, dtype()));
  if (options_.score_mode == "concat")
    concat_score_weight_ = register_parameter("concat_score_weight", scalar(1.0, dtype()));
}

AttentionOutputs Attention::forward(const Tensor& query, const Tensor& value, const AttentionCall& call) {
  const Tensor& key = call.key.defined() ? call.key : value;
  check_dtype("query", query, dtype());
  check_dtype("value", value, dtype());
  check_dtype("key", key, dtype());
  const std::int64_t R = query.dim();
  const std::string all = fmt::format("query {}, value {} and key {}", shape_str(query.shape()),
                                      shape_str(value.shape()), shape_str(key.shape()));
  for (auto [arg, t] : {std::pair{"query", &query}, {"value", &value}, {"key", &key}})
    if (t->dim() < 3)
      throw ShapeError(fmt::format("{}: {} must be (*batch, length, features) with at least 3 axes, got {} ({})",
                                   kLayer, arg, shape_str(t->shape()), all));
  const Shape batch = leading(query, 2);
  if (value.dim() != R || key.dim() != R || leading(value, 2) != batch || leading(key, 2) != batch)
    throw ShapeError(fmt::format("{}: {} must share their batch axes (all but the last two)", kLayer, all));
  const std::int64_t Tq = query.size(-2), Tv = value.size(-2), d = query.size(-1), dv = value.size(-1);
  if (key.size(-1) != d)
    throw ShapeError(fmt::format("{}: query {} and key {} must have the same last dimension", kLayer,
                                 shape_str(query.shape()), shape_str(key.shape())));
  if (key.size(-2) != Tv)
    throw ShapeError(fmt::format("{}: key {} and value {} must have the same length (axis -2)", kLayer,
                                 shape_str(key.shape()), shape_str(value.shape())));
  check_mask("query_mask", call.query_mask, append(batch, {Tq}), "query", query);
  check_mask("value_mask", call.value_mask, append(batch, {Tv}), "value", value);
  const std::int64_t B = numel(batch);

  xgrad::AttentionOptions o;
  o.causal = call.use_causal_mask;
  o.dropout = options_.dropout;
  o.training = call.training.value_or(is_training());
  o.generator = &gen_;
  o.return_scores = call.return_attention_scores;
  o.scores_after_dropout = true;  // Keras returns the weights it applied
  if (call.value_mask.defined()) o.mask = reshape(call.value_mask, {B, 1, 1, Tv});  // blocks keys for every query
  Tensor q, k;
  if (options_.score_mode == "dot") {
    // e = scale · q·kᵀ: the scale rides on q (a differentiable scalar) and the core multiplies by 1
    q = reshape(query, {B, Tq, 1, d});
    k = reshape(key, {B, Tv, 1, d});
    if (scale_.defined()) q = mul(q, scale_);
  } else {
    // e_ij = c · Σ_d tanh(s·(q_id + k_jd)), composed from ops; it enters the core as the additive bias of a
    // zero product (q, k of width 1 and value 0), so the masked softmax, dropout and weights·V stay fused
    Tensor u = add(unsqueeze(query, -2), unsqueeze(key, -3));  // (*batch, Tq, Tv, d)
    if (scale_.defined()) u = mul(u, scale_);
    o.bias = reshape(mul(sum(tanh(u), {-1}), concat_score_weight_), {B, 1, Tq, Tv});
    q = zeros({B, Tq, 1, 1}, dtype(), query.device());
    k = zeros({B, Tv, 1, 1}, dtype(), query.device());
  }
  const AttentionResult r = attention(q, k, reshape(value, {B, Tv, 1, dv}), o);
  AttentionOutputs result{reshape(r.output, append(batch, {Tq, dv})), Tensor(), call.query_mask};
  if (call.query_mask.defined())  // out = m ⊙ o: padded query rows give zeros (their scores stay as computed)
    result.output = where(reshape(call.query_mask, append(batch, {Tq, 1})), result.output,
                          scalar(0.0, dtype(), query.device()));
  if (call.return_attention_scores) result.scores = reshape(r.scores, append(batch, {Tq, Tv}));
  return result;
}

std::string Attention::describe() const {
  return fmt::format("score_mode={}, use_scale={}, dropout={}", options_.score_mode, options_.use_scale,
                     options_.dropout);
}

}  // namespace xgrad::nn
