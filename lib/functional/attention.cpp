// Functional multi-head attention (Ivy / PyTorch form, docs/attention.md) on top of the shared core: inputs are
// brought to batch-first, projected straight into the core's (B, T, N, D) layout, extended by
// bias_k/bias_v, static_k/static_v and the zero position, and PyTorch's masks are turned into the
// core's keep-mask (boolean masks) and additive bias (float masks).
#include "xgrad/functional/attention.hpp"

#include <fmt/format.h>

#include <cmath>
#include <string_view>

#include "ops/checks.hpp"
#include "xgrad/errors.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::functional {

namespace {

constexpr const char* kOp = "multi_head_attention";

std::string shape_of(const Tensor& t) { return t.defined() ? shape_str(t.shape()) : "absent"; }

// `context` ends the message: what the expected shape was derived from.
void require_shape(const char* arg, const Tensor& t, const Shape& expected, const char* meaning,
                   std::string_view context = {}) {
  if (t.shape() != expected)
    throw ShapeError(fmt::format("{}: {} must have shape {} {}, got {}{}", kOp, arg, shape_str(expected), meaning,
                                 shape_str(t.shape()), context));
}

// A tensor that meets the query in a product has the query's dtype and device; called after its shape check.
void require_query_dtype(const Tensor& query, const char* arg, const Tensor& t) {
  if (t.defined()) detail::check_pair(kOp, "query", query, arg, t);
}

// Sizes of one call, batch-first: query (B, L, Q), key (B, S, K), value (B, S, V).
struct Sizes {
  std::int64_t B, L, S, E, N, hd;
};

// Brings a (batch_first or sequence-first or unbatched) input to (B, len, features).
Tensor to_batch_first(const Tensor& x, bool batched, bool batch_first) {
  if (!batched) return unsqueeze(x, 0);
  return batch_first ? x : transpose(x, 0, 1);
}

// The three (E, in) projection weights and (E,) biases; undefined weights mean "use the input as is".
struct Projections {
  Tensor wq, wk, wv, bq, bk, bv;
};

// The caller's query, key and value shapes, for messages: "query (2, 5, 8), key (2, 7, 6) and value (2, 7, 6)".
struct InputShapes {
  std::string query, key, value;
  std::string all() const { return fmt::format("query {}, key {} and value {}", query, key, value); }
};

Projections projections(const MultiHeadAttentionOptions& o, const Tensor& q, const Tensor& k, const Tensor& v,
                        const InputShapes& given, std::int64_t& E) {
  const std::int64_t Q = q.shape()[2], K = k.shape()[2], V = v.shape()[2];
  Projections p;
  const bool separate = o.q_proj_weights.defined() || o.k_proj_weights.defined() || o.v_proj_weights.defined();
  if (o.in_proj_weights.defined()) {
    const Tensor& w = o.in_proj_weights;
    if (w.dim() != 2 || w.shape()[0] % 3 != 0 || w.shape()[1] != Q)
      throw ShapeError(fmt::format("{}: in_proj_weights must be (3E, {}) for query features {}, got {} (query {})", kOp,
                                   Q, Q, shape_str(w.shape()), given.query));
    if (K != Q || V != Q)
      throw ShapeError(fmt::format("{}: packed in_proj_weights {} need query, key and value of one width, got {}; "
                                   "pass q_proj_weights, k_proj_weights and v_proj_weights for different widths",
                                   kOp, shape_str(w.shape()), given.all()));
    E = w.shape()[0] / 3;
    p.wq = narrow(w, 0, 0, E);
    p.wk = narrow(w, 0, E, E);
    p.wv = narrow(w, 0, 2 * E, E);
  } else if (separate) {
    if (!o.q_proj_weights.defined() || !o.k_proj_weights.defined() || !o.v_proj_weights.defined())
      throw ValueError(fmt::format("{}: separate projections need q_proj_weights, k_proj_weights and "
                                   "v_proj_weights, got shapes {}, {} and {}",
                                   kOp, shape_of(o.q_proj_weights), shape_of(o.k_proj_weights),
                                   shape_of(o.v_proj_weights)));
    if (o.q_proj_weights.dim() != 2)
      throw ShapeError(fmt::format("{}: q_proj_weights must be 2-D (E, query features) for query {}, got {}", kOp,
                                   given.query, shape_str(o.q_proj_weights.shape())));
    E = o.q_proj_weights.shape()[0];
    require_shape("q_proj_weights", o.q_proj_weights, {E, Q}, "(E, query features)", " for query " + given.query);
    require_shape("k_proj_weights", o.k_proj_weights, {E, K}, "(E, key features)", " for key " + given.key);
    require_shape("v_proj_weights", o.v_proj_weights, {E, V}, "(E, value features)", " for value " + given.value);
    p.wq = o.q_proj_weights;
    p.wk = o.k_proj_weights;
    p.wv = o.v_proj_weights;
  } else {
    if (K != Q || V != Q)
      throw ShapeError(fmt::format("{}: without projection weights query, key and value need one feature width, got "
                                   "{}",
                                   kOp, given.all()));
    E = Q;
  }
  if (o.in_proj_bias.defined()) {
    if (!p.wq.defined())
      throw ValueError(fmt::format("{}: in_proj_bias {} needs projection weights", kOp,
                                   shape_str(o.in_proj_bias.shape())));
    require_shape("in_proj_bias", o.in_proj_bias, {3 * E}, "(3E,)", fmt::format(" (E = {})", E));
    p.bq = narrow(o.in_proj_bias, 0, 0, E);
    p.bk = narrow(o.in_proj_bias, 0, E, E);
    p.bv = narrow(o.in_proj_bias, 0, 2 * E, E);
  }
  return p;
}

// bias_k / bias_v given as (E,) or (1, 1, E), appended as one more position of every batch element.
Tensor append_bias_position(const char* arg, const Tensor& x, const Tensor& bias, std::int64_t E) {
  if (!(bias.numel() == E && (bias.dim() == 1 || (bias.dim() == 3 && bias.shape()[0] == 1 && bias.shape()[1] == 1))))
    throw ShapeError(fmt::format("{}: {} must be ({},) or (1, 1, {}), got {}", kOp, arg, E, E,
                                 shape_str(bias.shape())));
  if (bias.dtype() != x.dtype())
    throw TypeError(fmt::format("{}: {} {} is {} but the projected keys and values are {}", kOp, arg,
                                shape_str(bias.shape()), dtype_name(bias.dtype()), dtype_name(x.dtype())));
  const Shape row{x.shape()[0], 1, E};
  return concat({x, add(zeros(row, x.dtype(), x.device()), reshape(bias, {1, 1, E}))}, 1);
}

// static_k / static_v (B·N, S', hd) in the core's layout (B, S', N, hd).
Tensor static_in_core_layout(const char* arg, const Tensor& t, const Sizes& z) {
  if (t.dim() != 3 || t.shape()[0] != z.B * z.N || t.shape()[2] != z.hd)
    throw ShapeError(fmt::format("{}: {} must be (batch·num_heads, S', head_dim) = ({}, S', {}), got {}", kOp, arg,
                                 z.B * z.N, z.hd, shape_str(t.shape())));
  return permute(reshape(t, {z.B, z.N, t.shape()[1], z.hd}), {0, 2, 1, 3});
}

// The user's masks seen as (B or 1, N or 1, L, S_src) and (B or 1, 1, 1, S_src), shapes checked.
struct UserMasks {
  Tensor attention, key_padding;
};

UserMasks user_masks(const MultiHeadAttentionOptions& o, const Sizes& z, bool batched) {
  UserMasks m;
  const Tensor& am = o.attention_mask;
  if (am.defined() && !o.is_causal) {  // is_causal ignores attention_mask (Ivy's meaning)
    if (am.dim() == 2) {
      require_shape("attention_mask", am, {z.L, z.S}, "(L, S)");
      m.attention = reshape(am, {1, 1, z.L, z.S});
    } else if (am.dim() == 3) {
      require_shape("attention_mask", am, {z.B * z.N, z.L, z.S}, batched ? "(batch·num_heads, L, S)" : "(num_heads, L, S)");
      m.attention = reshape(am, {z.B, z.N, z.L, z.S});
    } else {
      throw ShapeError(fmt::format("{}: attention_mask must be 2-D (L, S) = ({}, {}) or 3-D (batch·num_heads, L, S) "
                                   "= ({}, {}, {}), got {}-D shape {}",
                                   kOp, z.L, z.S, z.B * z.N, z.L, z.S, am.dim(), shape_str(am.shape())));
    }
  }
  const Tensor& kpm = o.key_padding_mask;
  if (kpm.defined()) {
    if (batched && kpm.dim() != 2)
      throw ShapeError(fmt::format("{}: key_padding_mask must be 2-D (batch, S) = ({}, {}) for a batched query, "
                                   "got {}",
                                   kOp, z.B, z.S, shape_str(kpm.shape())));
    if (batched) require_shape("key_padding_mask", kpm, {z.B, z.S}, "(batch, S)");
    else require_shape("key_padding_mask", kpm, {z.S}, "(S,) for an unbatched query");
    m.key_padding = reshape(kpm, {z.B, 1, 1, z.S});
  }
  return m;
}

bool is_boolean(const Tensor& t) { return t.defined() && t.dtype() == DType::int64; }

// The core's keep-mask from the boolean masks (nonzero = blocked) and, when extra key positions follow
// the S_src user columns, the causal rule (the core's own causal flag would block those columns too).
// Extra columns always attend. Built with ops where the masks live, as 0/1 in `like`'s dtype; undefined
// when nothing is blocked this way.
Tensor keep_mask(const UserMasks& m, bool causal, const Sizes& z, std::int64_t S_f, const Tensor& like) {
  const Tensor am = is_boolean(m.attention) ? m.attention : Tensor();
  const Tensor kpm = is_boolean(m.key_padding) ? m.key_padding : Tensor();
  if (!am.defined() && !kpm.defined() && !causal) return {};
  const std::int64_t Bm = (kpm.defined() || (am.defined() && am.shape()[0] > 1)) ? z.B : 1;
  const std::int64_t Nm = am.defined() ? am.shape()[1] : 1;
  const Tensor one = ones({}, like.dtype(), like.device()), zero = zeros({}, like.dtype(), like.device());
  Tensor keep = ones({Bm, Nm, z.L, z.S}, like.dtype(), like.device());
  if (am.defined()) keep = mul(keep, where(am, zero, one));
  if (kpm.defined()) keep = mul(keep, where(kpm, zero, one));
  if (causal) {  // s > t blocked among the user columns: a constant pattern, made on the host
    std::vector<double> lower(static_cast<std::size_t>(z.L * z.S));
    for (std::int64_t t = 0; t < z.L; ++t)
      for (std::int64_t s = 0; s < z.S; ++s) lower[static_cast<std::size_t>(t * z.S + s)] = s <= t ? 1.0 : 0.0;
    keep = mul(keep, from_vector(lower, {z.L, z.S}, like.dtype(), like.device()));
  }
  if (S_f == z.S) return keep;
  return concat({keep, ones({Bm, Nm, z.L, S_f - z.S}, like.dtype(), like.device())}, -1);
}

// The core's additive bias from the float masks (summed, as PyTorch merges them), with zero columns for
// the extra key positions. Differentiable like any float input.
Tensor additive_bias(const UserMasks& m, DType dtype, std::int64_t S_f, std::int64_t S) {
  Tensor bias;
  for (const Tensor* t : {&m.attention, &m.key_padding}) {
    if (!t->defined() || is_boolean(*t)) continue;
    const Tensor f = t->dtype() == dtype ? *t : t->to(dtype);
    bias = bias.defined() ? add(bias, f) : f;
  }
  if (!bias.defined() || S_f == S) return bias;
  Shape pad = bias.shape();
  pad.back() = S_f - S;
  return concat({bias, zeros(pad, dtype, bias.device())}, -1);
}

void check_inputs(const Tensor& query, const Tensor& key, const Tensor& value, const MultiHeadAttentionOptions& o) {
  if (!query.defined()) throw ValueError(fmt::format("{}: query is undefined", kOp));
  if (query.dim() != 2 && query.dim() != 3)
    throw ShapeError(fmt::format("{}: query must be 2-D (L, E) unbatched or 3-D batched, got shape {}", kOp,
                                 shape_str(query.shape())));
  detail::check_floating(kOp, "query", query);
  if (key.defined() != value.defined())
    throw ValueError(fmt::format("{}: key and value must both be given or both be absent (self-attention), got "
                                 "key {} and value {}",
                                 kOp, shape_of(key), shape_of(value)));
  if (key.defined() && (key.dim() != query.dim() || value.dim() != query.dim()))
    throw ShapeError(fmt::format("{}: expected key and value to be {}-D like the query {}, got key {} and value {}",
                                 kOp, query.dim(), shape_str(query.shape()), shape_str(key.shape()),
                                 shape_str(value.shape())));
  if (o.num_heads <= 0) throw ValueError(fmt::format("{}: num_heads must be positive, got {}", kOp, o.num_heads));
  if (!(o.dropout >= 0.0 && o.dropout <= 1.0))
    throw ValueError(fmt::format("{}: dropout must be in [0, 1], got {}", kOp, o.dropout));
  if (o.bias_k.defined() != o.bias_v.defined())
    throw ValueError(fmt::format("{}: bias_k and bias_v must be given together, got bias_k {} and bias_v {}", kOp,
                                 shape_of(o.bias_k), shape_of(o.bias_v)));
  if (o.bias_k.defined() && (o.static_k.defined() || o.static_v.defined()))
    throw ValueError(fmt::format("{}: bias cannot be added to static key/value (bias_k {}, static_k {}, static_v {})",
                                 kOp, shape_of(o.bias_k), shape_of(o.static_k), shape_of(o.static_v)));
  if (o.out_proj_bias.defined() && !o.out_proj_weights.defined())
    throw ValueError(fmt::format("{}: out_proj_bias {} needs out_proj_weights", kOp,
                                 shape_str(o.out_proj_bias.shape())));
}

}  // namespace

MultiHeadAttentionResult multi_head_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                              const MultiHeadAttentionOptions& o) {
  check_inputs(query, key, value, o);
  const bool batched = query.dim() == 3;
  const bool self = !key.defined();
  const Tensor q_in = to_batch_first(query, batched, o.batch_first);
  const Tensor k_in = self ? q_in : to_batch_first(key, batched, o.batch_first);
  const Tensor v_in = self ? q_in : to_batch_first(value, batched, o.batch_first);
  const InputShapes given{shape_str(query.shape()), shape_of(self ? query : key), shape_of(self ? query : value)};
  if (k_in.shape()[0] != q_in.shape()[0] || v_in.shape()[0] != q_in.shape()[0] || k_in.shape()[1] != v_in.shape()[1])
    throw ShapeError(fmt::format("{}: {} must share the batch size, and key and value the length", kOp, given.all()));
  Sizes z{q_in.shape()[0], q_in.shape()[1], k_in.shape()[1], 0, o.num_heads, 0};
  const Projections p = projections(o, q_in, k_in, v_in, given, z.E);
  if (z.E % z.N != 0)
    throw ValueError(fmt::format(
        "{}: embedding width {} is not divisible by num_heads {} (E is from {})", kOp, z.E, z.N,
        o.in_proj_weights.defined()  ? "in_proj_weights " + shape_str(o.in_proj_weights.shape())
        : o.q_proj_weights.defined() ? "q_proj_weights " + shape_str(o.q_proj_weights.shape())
                                     : "the feature width of query " + given.query));
  z.hd = z.E / z.N;
  for (auto [arg, t] : {std::pair{"key", &key}, {"value", &value}, {"in_proj_weights", &o.in_proj_weights},
                        {"q_proj_weights", &o.q_proj_weights}, {"k_proj_weights", &o.k_proj_weights},
                        {"v_proj_weights", &o.v_proj_weights}, {"in_proj_bias", &o.in_proj_bias}})
    require_query_dtype(query, arg, *t);

  // Project (B, len, in) -> (B, len, E) with W (E, in); bias_k/bias_v add one position at the end.
  Tensor q = p.wq.defined() ? linear(q_in, p.wq, p.bq, true) : q_in;
  // A static key or value replaces the projection, which is then not computed (its gradient is 0).
  Tensor k = o.static_k.defined() ? Tensor() : p.wk.defined() ? linear(k_in, p.wk, p.bk, true) : k_in;
  Tensor v = o.static_v.defined() ? Tensor() : p.wv.defined() ? linear(v_in, p.wv, p.bv, true) : v_in;
  if (o.bias_k.defined()) {
    k = append_bias_position("bias_k", k, o.bias_k, z.E);
    v = append_bias_position("bias_v", v, o.bias_v, z.E);
  }
  // Split heads: (B, len, E) is already (B, len, N, hd) in memory; static_k/static_v replace them.
  q = reshape(q, {z.B, z.L, z.N, z.hd});
  k = o.static_k.defined() ? static_in_core_layout("static_k", o.static_k, z) : reshape(k, {z.B, -1, z.N, z.hd});
  v = o.static_v.defined() ? static_in_core_layout("static_v", o.static_v, z) : reshape(v, {z.B, -1, z.N, z.hd});
  if (k.shape()[1] != v.shape()[1])
    throw ShapeError(fmt::format("{}: keys and values differ in length after static_k {} / static_v {}: {} vs {}",
                                 kOp, shape_of(o.static_k), shape_of(o.static_v), k.shape()[1], v.shape()[1]));
  require_query_dtype(query, "static_k", o.static_k);
  require_query_dtype(query, "static_v", o.static_v);
  // User masks address the S source positions (S' with static keys); later columns always attend.
  z.S = o.static_k.defined() ? o.static_k.shape()[1] : z.S;
  if (o.add_zero_attn) {
    const Shape zero{z.B, 1, z.N, z.hd};
    k = concat({k, zeros(zero, k.dtype(), k.device())}, 1);
    v = concat({v, zeros(zero, v.dtype(), v.device())}, 1);
  }
  const std::int64_t S_f = k.shape()[1];

  const UserMasks masks = user_masks(o, z, batched);
  AttentionOptions core;
  core.scale = o.scale ? *o.scale : 1.0 / std::sqrt(static_cast<double>(z.hd));
  core.causal = o.is_causal && S_f == z.S;
  core.mask = keep_mask(masks, o.is_causal && !core.causal, z, S_f, q);
  core.bias = additive_bias(masks, q.dtype(), S_f, z.S);
  core.dropout = o.dropout;
  core.training = o.training;
  std::optional<Generator> local;
  core.generator = o.generator;
  if (!core.generator && o.seed) core.generator = &local.emplace(*o.seed);
  if (o.training && o.dropout > 0.0 && !core.generator)
    throw ValueError(fmt::format("{}: dropout {} in training needs options.generator or options.seed", kOp,
                                 o.dropout));
  core.return_scores = o.return_attention_weights;
  core.scores_after_dropout = true;  // PyTorch and Ivy return the weights they multiplied V with
  const AttentionResult r = attention(q, k, v, core);

  // Merge heads (B, L, N, hd) -> (B, L, E), project, restore the caller's layout.
  Tensor out = reshape(r.output, {z.B, z.L, z.E});
  if (o.out_proj_weights.defined()) {
    const Tensor& w = o.out_proj_weights;
    if (w.dim() != 2 || w.shape()[1] != z.E)
      throw ShapeError(fmt::format("{}: out_proj_weights must be (O, {}) for embedding width {}, got {}", kOp, z.E,
                                   z.E, shape_str(w.shape())));
    if (o.out_proj_bias.defined()) require_shape("out_proj_bias", o.out_proj_bias, {w.shape()[0]}, "(O,)");
    require_query_dtype(query, "out_proj_weights", w);
    require_query_dtype(query, "out_proj_bias", o.out_proj_bias);
    out = linear(out, w, o.out_proj_bias, true);  // W (O, E): PyTorch layout
  }
  MultiHeadAttentionResult result;
  result.output = !batched ? squeeze(out, 0) : o.batch_first ? out : transpose(out, 0, 1);
  if (o.return_attention_weights) {
    // A = (1/N) Σ_n P_n: PyTorch divides the head sum by num_heads.
    Tensor w = o.average_attention_weights ? mean(r.scores, {1}) : r.scores;
    result.attention_weights = batched ? w : squeeze(w, 0);
  }
  return result;
}

}  // namespace xgrad::functional
