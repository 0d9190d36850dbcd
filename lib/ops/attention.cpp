// The fused attention core: one kernel call forward, one backward per cotangent (output, scores).
// Z = scale·Q·Kᵀ + bias, P = masked_softmax(Z), P' = P ⊙ D / (1 - r), O = P'·V (docs/attention.md, "The
// masked softmax" and "Dropout").
#include "xgrad/ops/attention.hpp"

#include <fmt/format.h>

#include "ops/checks.hpp"
#include "ops/composed.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/attention.hpp"
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/backend/random.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad {

namespace {

constexpr const char* kOp = "attention";

void check_rank4(const char* arg, const Tensor& t, const char* layout) {
  if (t.dim() != 4)
    throw ShapeError(fmt::format("{}: {} must be 4-D {}, got shape {}", kOp, arg, layout, shape_str(t.shape())));
}

// Reads q (B, T, N, Dk), k (B, S, N, Dk), v (B, S, N, Dv) and checks that they agree.
AttentionDims dims_of(const Tensor& q, const Tensor& k, const Tensor& v) {
  detail::check_floating(kOp, "q", q);
  detail::check_floating(kOp, "k", k);
  detail::check_floating(kOp, "v", v);
  check_rank4("q", q, "(B, T, N, Dk)");
  check_rank4("k", k, "(B, S, N, Dk)");
  check_rank4("v", v, "(B, S, N, Dv)");
  detail::check_pair(kOp, "q", q, "k", k);
  detail::check_pair(kOp, "q", q, "v", v);
  const Shape &qs = q.shape(), &ks = k.shape(), &vs = v.shape();
  if (ks[0] != qs[0] || ks[2] != qs[2] || ks[3] != qs[3])
    throw ShapeError(fmt::format("{}: q {} and k {} must agree in batch, heads and width (B, *, N, Dk)", kOp,
                                 shape_str(qs), shape_str(ks)));
  if (vs[0] != ks[0] || vs[1] != ks[1] || vs[2] != ks[2])
    throw ShapeError(fmt::format("{}: k {} and v {} must agree in batch, length and heads (B, S, N, *)", kOp,
                                 shape_str(ks), shape_str(vs)));
  return {qs[0], qs[1], ks[1], qs[2], qs[3], vs[3]};
}

// A mask or bias seen through broadcast strides over the (B, N, T, S) scores; absent when undefined.
ScoreOperand score_operand(const char* arg, const Tensor& t, const Shape& scores) {
  if (!t.defined()) return {};
  bool fits = t.dim() <= 4;
  for (std::int64_t i = 1; fits && i <= t.dim(); ++i) {
    const std::int64_t e = t.shape()[t.dim() - i];
    fits = e == 1 || e == scores[4 - i];
  }
  if (!fits)
    throw ShapeError(fmt::format("{}: {} shape {} does not broadcast to scores {}", kOp, arg, shape_str(t.shape()),
                                 shape_str(scores)));
  const auto st = broadcast_strides(t.shape(), scores);
  return {t.raw_data(), t.dtype(), {st[0], st[1], st[2], st[3]}};
}

}  // namespace

AttentionResult attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  const AttentionDims d = dims_of(q, k, v);
  const Shape scores_shape{d.B, d.N, d.T, d.S};
  if (o.bias.defined()) {
    detail::check_pair(kOp, "q", q, "bias", o.bias);
  }
  if (o.mask.defined() && o.mask.device() != q.device())
    throw DeviceError(fmt::format("{}: mask {} lives on {} but q {} on {}", kOp, shape_str(o.mask.shape()),
                                  device_str(o.mask.device()), shape_str(q.shape()), device_str(q.device())));
  const ScoreOperand bias = score_operand("bias", o.bias, scores_shape);
  const ScoreOperand mask = score_operand("mask", o.mask, scores_shape);
  if (!(o.dropout >= 0.0 && o.dropout <= 1.0))
    throw ValueError(fmt::format("{}: dropout must be in [0, 1], got {}", kOp, o.dropout));
  const bool dropping = o.training && o.dropout > 0.0;
  if (dropping && !o.generator)
    throw ValueError(fmt::format("{}: dropout {} in training needs a generator (options.generator)", kOp, o.dropout));

  Backend& be = q.backend();
  const DType dt = q.dtype();
  // The dropout factors D / (1 - r): drawn again wherever the kernels need them when they can (the same key
  // reservation, so the same values), else a (B, N, T, S) mask drawn once and kept for the backward. Weights
  // returned after dropout are computed from a mask.
  const AttentionKernels* kernels = be.attention();
  const bool after = o.scores_after_dropout && dropping;
  AttentionDropout dropout;
  Tensor drop;
  if (dropping && o.dropout < 1.0 && kernels && kernels->regenerates_dropout() && !(o.return_scores && after)) {
    dropout.drawn = true;
    dropout.key = o.generator->reserve(dropout_blocks(numel(scores_shape)));
    dropout.rate = o.dropout;
  } else if (dropping) {
    drop = Tensor::empty(scores_shape, dt, q.device());
    if (o.dropout < 1.0)
      be.random().dropout_mask(dt, drop.raw_data(), drop.numel(), o.dropout,
                               o.generator->reserve(dropout_blocks(drop.numel())));
    else drop.fill_(0.0);  // rate 1 drops everything
    dropout.mask = drop.raw_data();
  }
  const bool empty = d.B * d.T * d.N * d.Dv == 0 || d.T * d.S == 0;
  if (!empty && !kernels) {  // no fused core on this device: the same math from primitives
    AttentionOptions composed = o;
    composed.scores_after_dropout = o.scores_after_dropout && dropping;
    return detail::composed_attention(q, k, v, composed, drop);
  }
  Tensor out = Tensor::empty({d.B, d.T, d.N, d.Dv}, dt, q.device());
  const Tensor& b = o.bias;
  const bool recording = needs_recording({&q, &k, &v, &b});
  // P, before dropout; only materialised when returned, or kept for a backward that cannot recompute it (else it
  // lives in kernel scratch): (B, N, T, S) per call adds up over the layers of a model.
  const bool recompute = !o.return_scores && kernels && kernels->recomputes_weights();
  Tensor weights =
      o.return_scores || (recording && !recompute) ? Tensor::empty(scores_shape, dt, q.device()) : Tensor();
  if (empty) {  // no positions on some axis: nothing to attend, the output is zeros
    out.fill_(0.0);
    if (weights.defined()) weights.fill_(0.0);
  } else {
    kernels->forward(dt, d, q.raw_data(), k.raw_data(), v.raw_data(), o.scale, bias, mask, o.causal, dropout,
                     weights.defined() ? weights.raw_data() : nullptr, out.raw_data());
  }

  AttentionResult result{out, Tensor()};
  if (o.return_scores) {
    result.scores = weights;
    if (after) {
      result.scores = Tensor::empty(scores_shape, dt, q.device());
      be.elementwise().binary(BinaryOp::mul, dt, weights.raw_data(), scores_shape, drop.raw_data(), scores_shape,
                              result.scores.raw_data(), scores_shape);
    }
  }
  if (empty || !recording) return result;

  // What the backward needs: Q only for dK, K only for dQ, V only to reach the logits, plus P and D (a kept
  // mask, or the key to draw it again: `dropout`); or, to recompute P, Q, K, the bias and the mask always.
  const bool logits = q.requires_grad() || k.requires_grad() || (b.defined() && b.requires_grad());
  const Tensor sq = save_if(recompute || k.requires_grad(), q), sk = save_if(recompute || q.requires_grad(), k);
  const Tensor sv = save_if(logits, v), sp = save_if(weights.defined(), weights), sd = drop;
  const Tensor sb = save_if(recompute && b.defined(), b), sm = save_if(recompute && o.mask.defined(), o.mask);
  const Shape bias_shape = b.defined() ? b.shape() : Shape{};
  const double scale = o.scale;
  const bool causal = o.causal;
  // One backward serves both cotangents: dO of the output (dweights null) or dP of the returned scores.
  auto backward = [=](BackwardContext& ctx, bool of_scores) {
    const Tensor& g = ctx.grad_output();
    auto buffer = [&](std::size_t i) { return ctx.needs_grad(i) ? ctx.grad_buffer(i).raw_data() : nullptr; };
    void* dq = buffer(0);
    void* dk = buffer(1);
    void* dv = of_scores ? nullptr : buffer(2);
    Tensor dlogits = ctx.needs_grad(3) ? Tensor::empty(scores_shape, dt, g.device()) : Tensor();
    auto ptr = [](const Tensor& t) -> const void* { return t.defined() ? t.raw_data() : nullptr; };
    AttentionDropout factors = dropout;
    factors.mask = ptr(sd);  // through the saved handle, which keeps a kept mask alive until here
    g.backend().attention()->backward(dt, d, ptr(sq), ptr(sk), ptr(sv), ptr(sp),
                                     score_operand("bias", sb, scores_shape), score_operand("mask", sm, scores_shape),
                                     factors, scale, causal,
                                     of_scores ? nullptr : g.raw_data(), of_scores ? g.raw_data() : nullptr, after,
                                     dq, dk, dv, dlogits.defined() ? dlogits.raw_data() : nullptr);
    // Z = scale·Q·Kᵀ + bias  =>  dbias = dZ summed over the axes the bias was broadcast along
    if (dlogits.defined()) ctx.accumulate(3, sum_to(dlogits, bias_shape));
  };
  record("attention", {&q, &k, &v, &b}, result.output, [backward](BackwardContext& ctx) { backward(ctx, false); });
  if (o.return_scores)
    record("attention_scores", {&q, &k, &v, &b}, result.scores,
           [backward](BackwardContext& ctx) { backward(ctx, true); });
  return result;
}

}  // namespace xgrad
