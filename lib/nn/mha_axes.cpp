#include "nn/mha_axes.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn::detail {

namespace {

constexpr const char* kLayer = "MultiHeadAttention";

Shape pick(const Shape& s, const std::vector<std::int64_t>& axes) {
  Shape out;
  for (std::int64_t a : axes) out.push_back(s[a]);
  return out;
}

Shape concat_shapes(std::initializer_list<Shape> parts) {
  Shape out;
  for (const Shape& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A keep-mask of any dtype as 1/0 in `dtype`, so masks can be combined by multiplication (logical AND).
Tensor as_keep(const Tensor& mask, DType dtype) {
  return where(mask, scalar(1.0, dtype, mask.device()), scalar(0.0, dtype, mask.device()));
}

// An implicit mask over input axes (B, a1 … a_{R-2}) placed in score layout: batch-like axes, a 1 for the heads,
// then its attention axes in the query slot (`of_query`) or the key slot, 1s in the other slot.
Tensor implicit_mask(const char* input_name, const Tensor& mask, const Shape& input, const AttentionLayout& l,
                     bool of_query, DType dtype) {
  const Shape want(input.begin(), input.end() - 1);
  if (mask.shape() != want)
    throw ShapeError(fmt::format("{}: {}_mask must have shape {} (the {} shape {} without its last axis), got {}",
                                 kLayer, input_name, shape_str(want), input_name, shape_str(input),
                                 shape_str(mask.shape())));
  Tensor keep = as_keep(mask, dtype);
  if (!l.identity) keep = permute(keep, l.order);
  const Shape ones_a(l.axes.size(), 1);
  const Shape& sizes = of_query ? l.query_sizes : l.key_sizes;
  return reshape(keep, concat_shapes({l.batch_sizes, {1}, of_query ? sizes : ones_a, of_query ? ones_a : sizes}));
}

// The explicit mask with size-1 axes inserted just before the query attention axes until it has the scores'
// rank (Keras: expand_dims at -(2A+1)); every axis must then be 1 or the scores' extent.
Tensor explicit_mask(const Tensor& mask, const AttentionLayout& l) {
  const Shape& scores = l.score_shape;
  const auto A = static_cast<std::int64_t>(l.axes.size());
  Shape s = mask.shape();
  bool fits = s.size() <= scores.size();
  while (fits && s.size() < scores.size()) {
    const std::int64_t at = std::max<std::int64_t>(0, static_cast<std::int64_t>(s.size()) - 2 * A);
    s.insert(s.begin() + at, 1);
  }
  for (std::size_t i = 0; fits && i < s.size(); ++i) fits = s[i] == 1 || s[i] == scores[i];
  if (!fits)
    throw ShapeError(fmt::format("{}: attention_mask shape {} does not broadcast to scores {}", kLayer,
                                 shape_str(mask.shape()), shape_str(scores)));
  return reshape(mask, s);
}

}  // namespace

std::vector<std::int64_t> resolve_attention_axes(const std::optional<std::vector<std::int64_t>>& axes,
                                                 std::int64_t rank) {
  std::vector<std::int64_t> out;
  if (!axes) {
    for (std::int64_t i = 1; i <= rank - 2; ++i) out.push_back(i);
    return out;
  }
  bool ok = !axes->empty();
  for (std::int64_t a : *axes) {
    const std::int64_t r = a < 0 ? a + rank : a;
    ok = ok && r >= 1 && r <= rank - 2 && std::find(out.begin(), out.end(), r) == out.end();
    out.push_back(r);
  }
  if (!ok)
    throw ValueError(fmt::format("{}: attention_axes ({}) are invalid for inputs of rank {}: each must lie in "
                                 "[1, {}] (or [{}, -2]), without repeats",
                                 kLayer, fmt::join(*axes, ", "), rank, rank - 2, 1 - rank));
  return out;
}

AttentionLayout attention_layout(const std::vector<std::int64_t>& axes, const Shape& query, const Shape& key,
                                 std::int64_t heads) {
  AttentionLayout l;
  l.axes = axes;
  const auto R = static_cast<std::int64_t>(query.size());
  for (std::int64_t i = 0; i <= R - 2; ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) l.batch_like.push_back(i);
  l.order = l.batch_like;
  l.order.insert(l.order.end(), axes.begin(), axes.end());
  for (std::int64_t i = 0; i <= R - 2; ++i) l.identity = l.identity && l.order[i] == i;
  l.batch_sizes = pick(query, l.batch_like);
  if (pick(key, l.batch_like) != l.batch_sizes)
    throw ShapeError(fmt::format("{}: query {} and key/value {} must agree on the batch and non-attention axes ({}) "
                                 "(attention_axes ({}))",
                                 kLayer, shape_str(query), shape_str(key), fmt::join(l.batch_like, ", "),
                                 fmt::join(axes, ", ")));
  l.query_sizes = pick(query, axes);
  l.key_sizes = pick(key, axes);
  l.Bp = numel(l.batch_sizes);
  l.Tp = numel(l.query_sizes);
  l.Sp = numel(l.key_sizes);
  l.score_shape = concat_shapes({l.batch_sizes, {heads}, l.query_sizes, l.key_sizes});
  return l;
}

Tensor to_core(const Tensor& projected, const AttentionLayout& l, bool of_query) {
  const std::int64_t R = projected.dim() - 1;  // the input's rank
  Tensor t = projected;
  if (!l.identity) {
    std::vector<std::int64_t> perm = l.order;
    perm.push_back(R - 1);  // heads
    perm.push_back(R);      // per-head features
    t = permute(t, perm);
  }
  return reshape(t, {l.Bp, of_query ? l.Tp : l.Sp, projected.size(-2), projected.size(-1)});
}

Tensor from_core(const Tensor& core, const AttentionLayout& l) {
  Tensor t = reshape(core, concat_shapes({l.batch_sizes, l.query_sizes, {core.size(2), core.size(3)}}));
  if (l.identity) return t;
  const auto R = static_cast<std::int64_t>(l.order.size()) + 1;
  std::vector<std::int64_t> inverse(R + 1);
  for (std::int64_t j = 0; j < R - 1; ++j) inverse[l.order[j]] = j;
  inverse[R - 1] = R - 1;
  inverse[R] = R;
  return permute(t, inverse);
}

Tensor combined_mask(const MaskInputs& m, const AttentionLayout& l, const Shape& query, const Shape& value,
                     const Shape& key, DType dtype) {
  std::vector<Tensor> parts;
  if (m.attention_mask.defined()) parts.push_back(explicit_mask(m.attention_mask, l));
  if (m.query_mask.defined()) parts.push_back(implicit_mask("query", m.query_mask, query, l, true, dtype));
  if (m.value_mask.defined()) parts.push_back(implicit_mask("value", m.value_mask, value, l, false, dtype));
  if (m.key_mask.defined()) parts.push_back(implicit_mask("key", m.key_mask, key, l, false, dtype));
  if (parts.empty()) return {};
  // Every mask is a keep-mask: the AND of several is their product (the core reads nonzero as keep).
  Tensor keep = parts.size() == 1 ? parts[0] : as_keep(parts[0], dtype);
  for (std::size_t i = 1; i < parts.size(); ++i) keep = mul(keep, as_keep(parts[i], dtype));
  if (l.score_shape.size() == 4) return keep;  // score layout is the core's (B, N, T, S): broadcast as it is
  // Several batch-like or attention axes: flattening needs every extent, so broadcast the mask out first.
  keep = where(keep, ones(l.score_shape, dtype, keep.device()), scalar(0.0, dtype, keep.device()));
  return reshape(keep, {l.Bp, l.score_shape[l.batch_sizes.size()], l.Tp, l.Sp});
}

}  // namespace xgrad::nn::detail
