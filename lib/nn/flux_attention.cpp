// Flux-style multi-head attention: project, view the projections as (B, len, N, head) — the core's layout,
// no copy — run the shared core with the additive bias and keep-mask, merge heads, project out.
#include "xgrad/nn/flux_attention.hpp"

#include <fmt/format.h>

#include <cmath>

#include "xgrad/errors.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

namespace {

constexpr const char* kName = "FluxMultiHeadAttention";

FluxAttentionDims checked(const FluxAttentionDims& d, const FluxAttentionOptions& o) {
  for (auto [name, size] : {std::pair{"q_in", d.q_in}, {"k_in", d.k_in}, {"v_in", d.v_in}, {"qk", d.qk}, {"v", d.v},
                            {"out", d.out}})
    if (size <= 0) throw ValueError(fmt::format("{}: {} must be positive, got {}", kName, name, size));
  if (o.nheads <= 0) throw ValueError(fmt::format("{}: nheads must be positive, got {}", kName, o.nheads));
  if (d.qk % o.nheads != 0)
    throw ValueError(fmt::format("{}: qk = {} is not divisible by nheads = {}", kName, d.qk, o.nheads));
  if (d.v % o.nheads != 0)
    throw ValueError(fmt::format("{}: v = {} is not divisible by nheads = {}", kName, d.v, o.nheads));
  if (!(o.dropout_prob >= 0.0 && o.dropout_prob <= 1.0))
    throw ValueError(fmt::format("{}: dropout_prob must be in [0, 1], got {}", kName, o.dropout_prob));
  return d;
}

void check_input(const char* arg, const Tensor& x, std::int64_t width) {
  if (!x.defined()) throw ValueError(fmt::format("{}: {} is undefined", kName, arg));
  if (x.dim() != 3 || x.shape()[2] != width)
    throw ShapeError(fmt::format("{}: {} must be (batch, len, {}), got {}", kName, arg, width, shape_str(x.shape())));
}

// After the shape checks: an input or bias of another dtype than the layer's weights.
void check_dtype(const char* arg, const Tensor& x, DType dtype) {
  if (x.defined() && x.dtype() != dtype)
    throw TypeError(fmt::format("{}: {} of shape {} has dtype {} but the layer's weights are {}; convert it with .to()",
                                kName, arg, shape_str(x.shape()), dtype_name(x.dtype()), dtype_name(dtype)));
}

// Flux's bias and mask broadcast to the (B, N, T, S) scores (row-major view of (S, T, N, B)).
void check_score_operand(const char* arg, const Tensor& t, const Shape& scores) {
  if (!t.defined()) return;
  bool fits = t.dim() <= 4;
  for (std::int64_t i = 1; fits && i <= t.dim(); ++i) {
    const std::int64_t e = t.shape()[t.dim() - i];
    fits = e == 1 || e == scores[4 - i];
  }
  if (!fits)
    throw ShapeError(fmt::format("{}: {} shape {} does not broadcast to scores (B, nheads, q_len, kv_len) = {}", kName,
                                 arg, shape_str(t.shape()), shape_str(scores)));
}

}  // namespace

FluxMultiHeadAttention::Dense::Dense(std::int64_t in, std::int64_t out, bool with_bias, DType dtype, Generator& gen)
    : Module("Dense", dtype) {
  const double limit = std::sqrt(6.0 / static_cast<double>(in + out));  // glorot_uniform
  weight = register_parameter("weight", uniform({out, in}, gen, -limit, limit, dtype));
  if (with_bias) bias = register_parameter("bias", zeros({out}, dtype));
}

Tensor FluxMultiHeadAttention::Dense::forward(const Tensor& x) const {
  return linear(x, weight, bias, true);
}

FluxMultiHeadAttention::FluxMultiHeadAttention(FluxAttentionDims dims, FluxAttentionOptions options)
    : Module("MultiHeadAttention", options.dtype),
      dims_(checked(dims, options)),
      options_(options),
      generator_(seed_or_next(options.seed)),
      q_proj_(dims.q_in, dims.qk, options.bias, options.dtype, generator_),
      k_proj_(dims.k_in, dims.qk, options.bias, options.dtype, generator_),
      v_proj_(dims.v_in, dims.v, options.bias, options.dtype, generator_),
      out_proj_(dims.v, dims.out, options.bias, options.dtype, generator_) {
  register_module("q_proj", q_proj_);
  register_module("k_proj", k_proj_);
  register_module("v_proj", v_proj_);
  register_module("out_proj", out_proj_);
}

FluxAttentionResult FluxMultiHeadAttention::forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                    const Tensor& bias, const Tensor& mask) {
  check_input("q", q, dims_.q_in);
  check_input("k", k, dims_.k_in);
  check_input("v", v, dims_.v_in);
  const std::int64_t B = q.shape()[0], T = q.shape()[1], S = k.shape()[1], N = options_.nheads;
  if (k.shape()[0] != B || v.shape()[0] != B || v.shape()[1] != S)
    throw ShapeError(fmt::format("{}: q {}, k {} and v {} must share the batch size, and k and v the length", kName,
                                 shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape())));
  const Shape scores{B, N, T, S};
  check_score_operand("bias", bias, scores);
  check_score_operand("mask", mask, scores);
  for (auto [arg, x] : {std::pair{"q", &q}, {"k", &k}, {"v", &v}, {"bias", &bias}}) check_dtype(arg, *x, dtype());
  if (bias.defined() && is_floating(bias.dtype()))
    for (double x : bias.to_vector())  // NNlib lets +Inf logits share the mass; xgrad has no such rule
      if (std::isnan(x) || x == INFINITY)
        throw ValueError(fmt::format("{}: bias entries must be finite or -inf, found {} in bias {}", kName, x,
                                     shape_str(bias.shape())));

  // Projections (B, len, width) are (B, len, N, width/N) in memory: head n owns features [n·hd, (n+1)·hd).
  const Tensor qh = reshape(q_proj_.forward(q), {B, T, N, dims_.qk / N});
  const Tensor kh = reshape(k_proj_.forward(k), {B, S, N, dims_.qk / N});
  const Tensor vh = reshape(v_proj_.forward(v), {B, S, N, dims_.v / N});
  AttentionOptions core;
  core.scale = 1.0 / std::sqrt(static_cast<double>(dims_.qk / N));
  core.bias = bias;
  core.mask = mask;
  core.dropout = options_.dropout_prob;
  core.training = is_training();
  core.generator = &generator_;
  core.return_scores = true;
  core.scores_after_dropout = true;  // Flux returns the weights it multiplied V with
  const AttentionResult r = attention(qh, kh, vh, core);
  return {out_proj_.forward(reshape(r.output, {B, T, dims_.v})), r.scores};
}

std::string FluxMultiHeadAttention::describe() const {
  return fmt::format("({}, {}, {}) => ({}, {}) => {}, nheads={}", dims_.q_in, dims_.k_in, dims_.v_in, dims_.qk,
                     dims_.v, dims_.out, options_.nheads);
}

Tensor flux_causal_mask(const Tensor& x, std::int64_t axis) {
  if (!x.defined()) throw ValueError("flux_causal_mask: x is undefined");
  const std::int64_t len = x.shape()[static_cast<std::size_t>(normalize_axis(axis, x.dim(), "flux_causal_mask"))];
  Tensor m = zeros({len, len}, DType::int64);
  for (std::int64_t t = 0; t < len; ++t)
    for (std::int64_t s = 0; s <= t; ++s) m.set({t, s}, 1);
  return m;
}

}  // namespace xgrad::nn
