#include "ops/composed.hpp"

#include <fmt/format.h>

#include <limits>

#include "ops/checks.hpp"

#include "xgrad/ops/compare.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/indexing.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::detail {

namespace {

Tensor constant(double value, const Tensor& like) { return full({}, value, like.dtype(), like.device()); }

// The causal keep-mask (T, S): 1 where s <= t (top-left aligned), built on the host once per call.
Tensor causal_keep(std::int64_t T, std::int64_t S, const Tensor& like) {
  std::vector<double> keep(static_cast<std::size_t>(T * S));
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t s = 0; s < S; ++s) keep[static_cast<std::size_t>(t * S + s)] = s <= t ? 1.0 : 0.0;
  return from_vector(keep, {T, S}, like.dtype(), like.device());
}

}  // namespace

Tensor composed_softmax(const Tensor& a, std::int64_t axis, bool log) {
  if (a.dim() == 0) return reshape(composed_softmax(reshape(a, {1}), 0, log), {});
  if (a.numel() == 0) return zeros_like(a);
  // The shift m is a constant of the math (softmax is shift-invariant), so it carries no gradient. A slice
  // whose maximum is not finite shifts by 0 instead: where(m - m, ...) tests finiteness without comparisons
  // (m - m is 0 for finite m, NaN for +-inf and NaN). An all -inf slice then has exp = 0 and sum 0, which
  // where(s, s, 1) keeps from dividing 0 by 0; a NaN reaches the sum and makes the slice NaN.
  const Tensor m = max(a.detach(), {axis}, true);
  const Tensor shift = where(m - m, constant(0.0, a), m);
  const Tensor shifted = a - shift;
  const Tensor s = sum(exp(shifted), {axis}, true);
  const Tensor safe_s = where(s, s, constant(1.0, a));
  if (!log) return exp(shifted) / safe_s;
  return where(s, shifted - xgrad::log(safe_s), constant(0.0, a));
}

Tensor composed_layer_norm(const Tensor& a, const Tensor& weight, const Tensor& bias, double epsilon) {
  const Tensor centred = a - mean(a, {-1}, true);
  const Tensor variance = mean(centred * centred, {-1}, true);
  Tensor y = centred / sqrt(variance + epsilon);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

Tensor composed_mse(const Tensor& a, const Tensor& b) {
  const Tensor d = a - b;
  return mean(d * d);
}

Tensor composed_embedding(const Tensor& indices, const Tensor& weight) {
  Shape shape = indices.shape();
  shape.push_back(weight.size(1));
  try {
    return reshape(index_select(weight, 0, reshape(indices, {-1})), shape);
  } catch (const IndexError& e) {
    throw IndexError(fmt::format("embedding: an index is outside the vocabulary of {} rows ({})", weight.size(0),
                                 e.what()));
  }
}

Tensor composed_cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options) {
  const std::int64_t classes = logits.size(-1), rows = targets.numel();
  const Tensor x = reshape(logits, {rows, classes});
  const Tensor t = reshape(targets, {rows, 1});
  const Tensor one = constant(1.0, x), zero = constant(0.0, x);
  const Tensor counted = where(ne(t, static_cast<double>(options.ignore_index)), one, zero);  // (rows, 1)
  // A target outside [0, classes) that is not ignored is an error, as in the fused kernel.
  const Tensor out_of_range = where(counted, where(lt(t, 0.0), one, where(ge(t, static_cast<double>(classes)), one, zero)), zero);
  if (rows > 0 && max(out_of_range).item() != 0.0) {
    const auto bad = static_cast<std::int64_t>(argmax(reshape(out_of_range, {rows})).item());
    throw IndexError(fmt::format("cross_entropy: target {} (at flat position {} of targets {}) is not a class in "
                                 "[0, {}) nor ignore_index {}",
                                 index_at(targets, bad), bad, shape_str(targets.shape()), classes, options.ignore_index));
  }
  // lse = m + log(sum(exp(x - m))) with the shift of composed_softmax; x_t picked by where, never by a
  // product, so a -inf logit elsewhere in the row cannot turn 0 * -inf into NaN.
  const Tensor m = max(x.detach(), {-1}, true);
  const Tensor shift = where(m - m, zero, m);
  const Tensor s = sum(exp(x - shift), {-1}, true);
  const Tensor lse = shift + log(where(s, s, one));
  const Tensor picked = sum(where(eq(t, arange(classes, DType::int64, x.device())), x, zero), {-1}, true);
  Tensor row = (lse - picked) * (1.0 - options.label_smoothing);
  if (options.label_smoothing != 0.0) row = row + (lse - mean(x, {-1}, true)) * options.label_smoothing;
  row = where(counted, row, zero);
  if (options.per_target) return reshape(row, targets.shape());
  const Tensor total = sum(row);
  if (!options.mean) return total;
  const Tensor count = sum(counted);
  return total / where(count, count, one);  // nothing counted: 0 / 1, a zero loss with a zero gradient
}

AttentionResult composed_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o,
                                   const Tensor& dropout_mask) {
  // (B, T, N, D) -> (B, N, T, D): one batched matmul per product.
  const Tensor qh = permute(q, {0, 2, 1, 3}), kh = permute(k, {0, 2, 1, 3}), vh = permute(v, {0, 2, 1, 3});
  Tensor z = matmul(qh, kh, false, true) * o.scale;  // Z = scale·Q·Kᵀ (B, N, T, S)
  if (o.bias.defined()) z = z + o.bias;
  const Tensor blocked = constant(-std::numeric_limits<double>::infinity(), z);
  if (o.mask.defined()) z = where(o.mask, z, blocked);
  if (o.causal) z = where(causal_keep(q.size(1), k.size(1), z), z, blocked);
  const Tensor p = composed_softmax(z, -1, false);
  const Tensor kept = dropout_mask.defined() ? p * dropout_mask : p;
  AttentionResult result{permute(matmul(kept, vh), {0, 2, 1, 3}), Tensor()};
  if (o.return_scores) result.scores = o.scores_after_dropout ? kept : p;
  return result;
}

}  // namespace xgrad::detail
