// matmul: one batched GEMM forward, two backward, every operand read in place with transpose flags; linear and
// activated_linear on top.
#include "xgrad/ops/linalg.hpp"

#include <algorithm>
#include <functional>

#include <fmt/format.h>

#include "ops/checks.hpp"
#include "ops/elementwise_apply.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/backend/linalg.hpp"
#include "xgrad/ops/precision.hpp"
#include "xgrad/ops/reduction.hpp"

namespace xgrad {

namespace {

using Offsets = std::vector<std::int64_t>;

// How matmul(a, b) maps onto one batched GEMM C_i = op(A_i) op(B_i), op(A_i) (m, k), op(B_i) (k, n).
// A 1-D a is stored as (1, k), a 1-D b as (k, 1): the same bytes, so gradients need no reshapes.
struct Plan {
  bool ta = false, tb = false;
  std::int64_t m = 0, n = 0, k = 0;
  Shape out_shape;
  std::int64_t batch = 1;
  Offsets a_off, b_off, c_off;  // element offsets per product; empty when batch is 1
  // The thread's product precision when the forward ran: the backward's products use it too.
  bool bf16 = false;
};

std::string operand_str(const Shape& s, bool transposed) { return shape_str(s) + (transposed ? ".T" : ""); }

Shape batch_of(const Tensor& t) {
  return t.dim() > 2 ? Shape(t.shape().begin(), t.shape().end() - 2) : Shape{};
}

// Per-product element offsets of an operand with `batch` dims broadcast to `out_batch`.
Offsets batch_offsets(const Shape& batch, const Shape& out_batch, std::int64_t matrix) {
  const auto strides = broadcast_strides(batch, out_batch);
  Offsets out(static_cast<std::size_t>(numel(out_batch)));
  Shape index(out_batch.size(), 0);
  std::int64_t offset = 0;
  for (auto& o : out) {
    o = offset * matrix;
    for (std::size_t a = out_batch.size(); a-- > 0;) {  // odometer over the output batch
      offset += strides[a];
      if (++index[a] < out_batch[a]) break;
      offset -= strides[a] * out_batch[a];
      index[a] = 0;
    }
  }
  return out;
}

Plan make_plan(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  detail::check_pair("matmul", a, b);
  for (auto [t, name, flag] : {std::tuple{&a, "a", ta}, std::tuple{&b, "b", tb}}) {
    if (t->dim() == 0)
      throw ShapeError(fmt::format("matmul: argument '{}' has shape () but needs at least one axis", name));
    if (t->dim() == 1 && flag)
      throw ValueError(fmt::format("matmul: transpose_{} needs a matrix, but '{}' has shape {}", name, name,
                                   shape_str(t->shape())));
  }
  Plan p;
  p.ta = ta;
  p.tb = tb;
  p.bf16 = a.dtype() == DType::float32 && product_precision() == ProductPrecision::bfloat16;
  const std::int64_t ar = a.dim() == 1 ? 1 : a.size(-2), ac = a.size(-1);  // stored rows, columns
  const std::int64_t br = b.size(b.dim() == 1 ? -1 : -2), bc = b.dim() == 1 ? 1 : b.size(-1);
  p.m = ta ? ac : ar;
  p.k = ta ? ar : ac;
  p.n = tb ? br : bc;
  const std::int64_t kb = tb ? bc : br;
  if (p.k != kb)
    throw ShapeError(fmt::format("matmul: cannot multiply {} by {}: inner dimensions {} and {} differ",
                                 operand_str(a.shape(), ta), operand_str(b.shape(), tb), p.k, kb));
  const Shape a_batch = batch_of(a), b_batch = batch_of(b);
  Shape out_batch;
  try {
    out_batch = broadcast_shapes(a_batch, b_batch, "matmul");
  } catch (const ShapeError&) {
    throw ShapeError(fmt::format("matmul: batch dimensions of {} and {} do not broadcast: {} vs {}",
                                 shape_str(a.shape()), shape_str(b.shape()), shape_str(a_batch),
                                 shape_str(b_batch)));
  }
  p.out_shape = out_batch;
  if (a.dim() > 1) p.out_shape.push_back(p.m);
  if (b.dim() > 1) p.out_shape.push_back(p.n);
  numel(p.out_shape);  // refuses an output too large to count before the products below are formed
  p.batch = numel(out_batch);
  if (numel(b_batch) == 1 && !ta) {
    // b is one matrix and a's batch is contiguous rows: fold the batch into m for a single GEMM.
    p.m *= p.batch;
    p.batch = 1;
  } else if (p.batch != 1) {
    p.a_off = batch_offsets(a_batch, out_batch, ar * ac);
    p.b_off = batch_offsets(b_batch, out_batch, br * bc);
    p.c_off = batch_offsets(out_batch, out_batch, p.m * p.n);
  }
  return p;
}

const std::int64_t* offsets(const Offsets& o) { return o.empty() ? nullptr : o.data(); }

// One batched GEMM: c_i (beta) += op(x_i) op(y_i), (rows, inner) x (inner, cols), plus a bias row where given
// (one product, and a backend that adds it).
void gemm(const Plan& p, bool tx, bool ty, std::int64_t rows, std::int64_t cols, std::int64_t inner,
          const Tensor& x, const Offsets& x_off, const Tensor& y, const Offsets& y_off, Tensor& c,
          const Offsets& c_off, double beta, const Tensor& bias = Tensor()) {
  GemmArgs g;
  g.dtype = c.dtype();
  g.batch = p.batch;
  g.trans_a = tx;
  g.trans_b = ty;
  g.m = rows;
  g.n = cols;
  g.k = inner;
  g.beta = beta;
  g.a = x.raw_data();
  g.b = y.raw_data();
  g.c = c.raw_data();
  g.a_offsets = offsets(x_off);
  g.b_offsets = offsets(y_off);
  g.c_offsets = offsets(c_off);
  g.bf16_operands = p.bf16;
  if (bias.defined()) g.bias = bias.raw_data();
  c.backend().linalg().gemm(g);
}

// C = op(A) op(B), summed over the batches an operand is broadcast to (repeated offsets into its gradient,
// accumulated one product after another with beta = 1): dA = dC op(B)ᵀ + beta·dA into da, A's shape. beta = 0
// overwrites dA, which need not be zeroed then; only where the products write disjoint blocks of it.
void accumulate_grad_a(const Plan& p, const Tensor& dc, const Tensor& sb, Tensor& da, double beta) {
  if (!p.ta)  // dA += dC op(B)ᵀ
    gemm(p, false, !p.tb, p.m, p.k, p.n, dc, p.c_off, sb, p.b_off, da, p.a_off, beta);
  else  // dAᵀ += dC op(B)ᵀ  =>  dA += op(B) dCᵀ
    gemm(p, p.tb, true, p.k, p.m, p.n, sb, p.b_off, dc, p.c_off, da, p.a_off, beta);
}

// dB = op(A)ᵀ dC + beta·dB into db, B's shape (as accumulate_grad_a).
void accumulate_grad_b(const Plan& p, const Tensor& dc, const Tensor& sa, Tensor& db, double beta) {
  if (!p.tb)  // dB += op(A)ᵀ dC
    gemm(p, !p.ta, false, p.k, p.n, p.m, sa, p.a_off, dc, p.c_off, db, p.b_off, beta);
  else  // dBᵀ += op(A)ᵀ dC  =>  dB += dCᵀ op(A)
    gemm(p, true, p.ta, p.n, p.k, p.m, dc, p.c_off, sa, p.a_off, db, p.b_off, beta);
}

// Input i's gradient buffer for products that write it at `offsets` (empty: one product). A new buffer is
// overwritten (beta 0, no zero fill, no read of it) when every product writes a block of its own; an operand
// broadcast over the batch repeats its offsets, and its products add up into a zeroed buffer (beta 1).
BackwardContext::GradDestination product_destination(BackwardContext& ctx, std::size_t i, const Offsets& offsets) {
  if (std::adjacent_find(offsets.begin(), offsets.end(), std::greater_equal<>()) == offsets.end())
    return ctx.grad_destination(i);  // strictly increasing: disjoint blocks
  return {ctx.grad_buffer(i), 1.0};
}

void matmul_backward(BackwardContext& ctx, const Plan& p, const Tensor& sa, const Tensor& sb) {
  if (ctx.needs_grad(0)) {
    const auto da = product_destination(ctx, 0, p.a_off);
    accumulate_grad_a(p, ctx.grad_output(), sb, da.tensor, da.beta);
  }
  if (ctx.needs_grad(1)) {
    const auto db = product_destination(ctx, 1, p.b_off);
    accumulate_grad_b(p, ctx.grad_output(), sa, db.tensor, db.beta);
  }
}

// Y = X·op(W) (+ b): linear's forward, recording nothing. A backend that adds a bias row in its GEMM gets b there;
// for any other, b is broadcast to every row first and the product added onto it (beta = 1). Either way no
// second pass over Y.
Tensor linear_forward(const Plan& p, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Tensor out = Tensor::empty(p.out_shape, x.dtype(), x.device());
  if (bias.defined() && p.batch == 1 && x.backend().linalg().adds_bias()) {
    gemm(p, p.ta, p.tb, p.m, p.n, p.k, x, p.a_off, weight, p.b_off, out, p.c_off, 0.0, bias);
    return out;
  }
  if (bias.defined())
    x.backend().elementwise().broadcast(x.dtype(), bias.raw_data(), bias.shape(), out.raw_data(), out.shape(), 1.0);
  gemm(p, p.ta, p.tb, p.m, p.n, p.k, x, p.a_off, weight, p.b_off, out, p.c_off, bias.defined() ? 1.0 : 0.0);
  return out;
}

// linear's own checks (x: the input, named `arg`), so that no error of the matmul inside speaks of matmul's a and b.
void check_linear(const char* op, const char* arg, const Tensor& x, const Tensor& weight, const Tensor& bias,
                  bool transpose_weight) {
  detail::check_pair(op, arg, x, "weight", weight);
  if (x.dim() < 1 || weight.dim() != 2)
    throw ShapeError(fmt::format("{}: needs an input with a feature axis and a 2-D weight, got {} {} and weight {}",
                                 op, arg, shape_str(x.shape()), shape_str(weight.shape())));
  const std::int64_t in = weight.size(transpose_weight ? 1 : 0), out = weight.size(transpose_weight ? 0 : 1);
  if (x.size(-1) != in)
    throw ShapeError(fmt::format("{}: {} {} has {} features but weight {} ({}) takes {}", op, arg,
                                 shape_str(x.shape()), x.size(-1), shape_str(weight.shape()),
                                 transpose_weight ? "out, in" : "in, out", in));
  if (!bias.defined()) return;
  detail::check_pair(op, arg, x, "bias", bias);
  if (bias.shape() != Shape{out})
    throw ShapeError(fmt::format("{}: bias must have shape ({},) for {} outputs, got {}", op, out, out,
                                 shape_str(bias.shape())));
}

UnaryOp unary_op_of(LinearInputActivation activation) {
  switch (activation) {
    case LinearInputActivation::relu: return UnaryOp::relu;
    case LinearInputActivation::gelu: return UnaryOp::gelu;
    case LinearInputActivation::gelu_tanh: return UnaryOp::gelu_tanh;
    case LinearInputActivation::tanh: return UnaryOp::tanh;
    case LinearInputActivation::sigmoid: return UnaryOp::sigmoid;
  }
  throw ValueError(fmt::format("activated_linear: unknown activation {}", static_cast<int>(activation)));
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  Plan p = make_plan(a, b, transpose_a, transpose_b);
  Tensor out = Tensor::empty(p.out_shape, a.dtype(), a.device());
  gemm(p, p.ta, p.tb, p.m, p.n, p.k, a, p.a_off, b, p.b_off, out, p.c_off, 0.0);
  if (needs_recording({&a, &b}))
    record("matmul", {&a, &b}, out,
           [p = std::move(p), sa = save_if(b.requires_grad(), a), sb = save_if(a.requires_grad(), b)](
               BackwardContext& ctx) { matmul_backward(ctx, p, sa, sb); });
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, bool transpose_weight) {
  check_linear("linear", "x", x, weight, bias, transpose_weight);
  if (!bias.defined()) return matmul(x, weight, false, transpose_weight);
  Plan p = make_plan(x, weight, false, transpose_weight);
  Tensor out = linear_forward(p, x, weight, bias);
  if (needs_recording({&x, &weight, &bias}))
    record("linear", {&x, &weight, &bias}, out,
           [p = std::move(p), sx = save_if(weight.requires_grad(), x), sw = save_if(x.requires_grad(), weight)](
               BackwardContext& ctx) {
             matmul_backward(ctx, p, sx, sw);
             // Y = X·op(W) + b  =>  db = dY summed over every row
             if (ctx.needs_grad(2)) ctx.accumulate(2, sum_to(ctx.grad_output(), {p.n}));
           });
  return out;
}

Tensor activated_linear(const Tensor& a, LinearInputActivation activation, const Tensor& weight, const Tensor& bias,
                        bool transpose_weight) {
  check_linear("activated_linear", "a", a, weight, bias, transpose_weight);
  detail::check_floating("activated_linear", "a", a);
  const UnaryOp kind = unary_op_of(activation);
  Plan p = make_plan(a, weight, false, transpose_weight);
  // act(a) of the detached a records nothing and lives only until the product has read it.
  Tensor out = linear_forward(p, detail::apply_unary("activated_linear", kind, a.detach()), weight, bias);
  if (needs_recording({&a, &weight, &bias})) {
    record("activated_linear", {&a, &weight, &bias}, out,
           [p = std::move(p), kind, sa = a.detach(), sw = save_if(a.requires_grad(), weight)](BackwardContext& ctx) {
             const Tensor& g = ctx.grad_output();
             // act(a) once more, where the weight's gradient or the activation's backward reads it
             const bool reads_output = ctx.needs_grad(0) && backward_uses_output(kind);
             const Tensor h = ctx.needs_grad(1) || reads_output ? detail::apply_unary("activated_linear", kind, sa)
                                                                : Tensor();
             if (ctx.needs_grad(1)) {
               const auto dw = product_destination(ctx, 1, p.b_off);
               accumulate_grad_b(p, g, h, dw.tensor, dw.beta);
             }
             // Y = act(A)·op(W) + b  =>  db = dY summed over every row
             if (ctx.needs_grad(2)) ctx.accumulate(2, sum_to(g, {p.n}));
             if (ctx.needs_grad(0)) {  // dA = act'(A) ⊙ dY op(W)ᵀ
               Tensor da = Tensor::empty(sa.shape(), sa.dtype(), sa.device());
               accumulate_grad_a(p, g, sw, da, 0.0);  // dY op(W)ᵀ; batch 1: the weight is one matrix
               g.backend().elementwise().unary_backward(kind, sa.dtype(), da.raw_data(),
                                                        (reads_output ? h : sa).raw_data(), da.raw_data(),
                                                        sa.numel(), 0.0);  // in place: ⊙ act'(A)
               ctx.accumulate(0, std::move(da));
             }
           });
  }
  return out;
}

}  // namespace xgrad
