// Reductions: sum, mean, max, min over axes, sum_to (the adjoint of broadcasting), and the reductions
// that return positions (argmax, max/min with indices, topk). The backward of a sum spreads the output
// gradient back over the reduced axes (a broadcast kernel with a scale, so mean costs no extra pass);
// max routes it to the first maximal element of each reduced block; the position-returning ones add it
// at the positions they return, as a gather would.
#include "xgrad/ops/reduction.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "ops/along_axis.hpp"
#include "ops/checks.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/backend/reduction.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad {

namespace {

// Shape of a reduction's result with reduced axes kept as 1 (its data layout either way).
Shape keepdims_shape(const Shape& shape, const std::vector<std::int64_t>& axes) {
  Shape out = shape;
  for (auto ax : axes) out[static_cast<std::size_t>(ax)] = 1;
  return out;
}

Shape result_shape(const Shape& shape, const std::vector<std::int64_t>& axes, bool keepdims) {
  if (keepdims) return keepdims_shape(shape, axes);
  Shape out;
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(d)) == axes.end()) out.push_back(shape[d]);
  return out;
}

// scale * g (laid out as `from`) broadcast to `to`: the gradient of a sum.
Tensor spread(const Tensor& g, const Shape& from, const Shape& to, double scale) {
  Tensor out = Tensor::empty(to, g.dtype(), g.device());
  g.backend().elementwise().broadcast(g.dtype(), g.raw_data(), from, out.raw_data(), to, scale);
  return out;
}

// Sum (times scale) over `axes` of a, recording the backward; shared by sum and mean.
Tensor scaled_sum(const char* op, const Tensor& a, const std::vector<std::int64_t>& axes, bool keepdims,
                  bool average) {
  detail::check_floating(op, "a", a);
  const auto ax = normalize_axes(axes, a.dim(), op);
  std::int64_t count = 1;
  for (auto d : ax) count *= a.shape()[static_cast<std::size_t>(d)];
  // An empty mean is 0/0 = NaN, as in NumPy and torch.
  const double scale = !average ? 1.0 : count == 0 ? std::numeric_limits<double>::quiet_NaN() : 1.0 / count;
  Tensor out = Tensor::empty(result_shape(a.shape(), ax, keepdims), a.dtype(), a.device());
  a.backend().reduction().sum(a.dtype(), a.raw_data(), a.shape(), ax, out.raw_data(), scale);
  if (needs_recording({&a}))
    record(op, {&a}, out, [from = keepdims_shape(a.shape(), ax), to = a.shape(), scale](BackwardContext& ctx) {
      // out = scale * sum_{reduced} a  =>  da += scale * dout, repeated over the reduced axes
      ctx.accumulate(0, spread(ctx.grad_output(), from, to, scale));
    });
  return out;
}

// The normalised `axes` of a max or min over them; throws unless `a` is floating and every such axis non-empty.
std::vector<std::int64_t> extreme_axes(const char* op, const Tensor& a, const std::vector<std::int64_t>& axes) {
  detail::check_floating(op, "a", a);
  const auto ax = normalize_axes(axes, a.dim(), op);
  for (auto d : ax)
    if (a.shape()[static_cast<std::size_t>(d)] == 0)
      throw ValueError(fmt::format("{}: cannot reduce over axis {} of extent 0 in shape {}", op, d,
                                   shape_str(a.shape())));
  return ax;
}

// The first maximum (or minimum) along `axis` and its position, in the layout of keepdims; the values are
// recorded as a gather of a at the positions. Values are skipped (undefined) unless `values`.
ValuesIndices extreme_along(const char* op, const Tensor& a, std::int64_t axis, bool keepdims, bool largest,
                            bool values = true) {
  require_defined(a, op, "a");
  const std::int64_t ax = normalize_axis(axis, a.dim(), op);
  if (a.size(ax) == 0)
    throw ValueError(fmt::format("{}: cannot reduce over axis {} of extent 0 in shape {}", op, ax,
                                 shape_str(a.shape())));
  const detail::AxisExtents e = detail::extents_around(a.shape(), ax);
  const Shape shape = result_shape(a.shape(), {ax}, keepdims);
  ValuesIndices r{values ? Tensor::empty(shape, a.dtype(), a.device()) : Tensor(),
                  Tensor::empty(shape, DType::int64, a.device())};
  a.backend().reduction().extreme_along_axis(a.dtype(), a.raw_data(), e.outer, e.extent, e.inner, largest,
                                             values ? r.values.raw_data() : nullptr, r.indices.data<std::int64_t>());
  if (values) detail::record_gather(op, a, r.values, r.indices, keepdims_shape(a.shape(), {ax}), ax);
  return r;
}

// argmax/argmin: along `axis`, or over the flattened tensor without one.
Tensor arg_extreme(const char* op, const Tensor& a, std::optional<std::int64_t> axis, bool keepdims, bool largest) {
  if (axis) return extreme_along(op, a, *axis, keepdims, largest, false).indices;
  require_defined(a, op, "a");
  const Tensor flat = reshape(a.detach(), {a.numel()});
  const Tensor index = extreme_along(op, flat, 0, false, largest, false).indices;
  return keepdims ? reshape(index, Shape(a.shape().size(), 1)) : index;
}

}  // namespace

Tensor sum(const Tensor& a, const std::vector<std::int64_t>& axes, bool keepdims) {
  return scaled_sum("sum", a, axes, keepdims, false);
}

Tensor mean(const Tensor& a, const std::vector<std::int64_t>& axes, bool keepdims) {
  return scaled_sum("mean", a, axes, keepdims, true);
}

Tensor max(const Tensor& a, const std::vector<std::int64_t>& axes, bool keepdims) {
  const auto ax = extreme_axes("max", a, axes);
  const Shape shape = result_shape(a.shape(), ax, keepdims);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  Tensor argmax = Tensor::empty(shape, DType::int64, a.device());
  a.backend().reduction().max(a.dtype(), a.raw_data(), a.shape(), ax, out.raw_data(),
                              argmax.data<std::int64_t>());
  if (needs_recording({&a}))
    record("max", {&a}, out, [argmax, to = a.shape()](BackwardContext& ctx) {
      // out = a[argmax] per block  =>  da[argmax] += dout (first maximum only, so ties get one share)
      Tensor& grad_in = ctx.grad_buffer(0);
      const Tensor& g = ctx.grad_output();
      g.backend().reduction().scatter_add(g.dtype(), g.raw_data(), argmax.data<std::int64_t>(), g.numel(),
                                          grad_in.raw_data());
    });
  return out;
}

Tensor min(const Tensor& a, const std::vector<std::int64_t>& axes, bool keepdims) {
  extreme_axes("min", a, axes);
  // min(a) = -max(-a): the same first-element rule and NaN propagation, and the tape differentiates it.
  return neg(max(neg(a), axes, keepdims));
}

ValuesIndices max_with_indices(const Tensor& a, std::int64_t axis, bool keepdims) {
  return extreme_along("max_with_indices", a, axis, keepdims, true);
}

ValuesIndices min_with_indices(const Tensor& a, std::int64_t axis, bool keepdims) {
  return extreme_along("min_with_indices", a, axis, keepdims, false);
}

Tensor argmax(const Tensor& a, std::optional<std::int64_t> axis, bool keepdims) {
  return arg_extreme("argmax", a, axis, keepdims, true);
}

Tensor argmin(const Tensor& a, std::optional<std::int64_t> axis, bool keepdims) {
  return arg_extreme("argmin", a, axis, keepdims, false);
}

ValuesIndices topk(const Tensor& a, std::int64_t k, std::int64_t axis, bool largest, bool sorted) {
  require_defined(a, "topk", "a");
  const std::int64_t ax = normalize_axis(axis, a.dim(), "topk");
  if (k < 0 || k > a.size(ax))
    throw ValueError(fmt::format("topk: k = {} is outside [0, {}], the extent of axis {} of a {}", k, a.size(ax),
                                 ax, shape_str(a.shape())));
  const detail::AxisExtents e = detail::extents_around(a.shape(), ax);
  Shape shape = a.shape();
  shape[static_cast<std::size_t>(ax)] = k;
  ValuesIndices r{Tensor::empty(shape, a.dtype(), a.device()), Tensor::empty(shape, DType::int64, a.device())};
  a.backend().reduction().topk(a.dtype(), a.raw_data(), e.outer, e.extent, e.inner, k, largest, sorted,
                               r.values.raw_data(), r.indices.data<std::int64_t>());
  detail::record_gather("topk", a, r.values, r.indices, shape, ax);
  return r;
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
  detail::check_floating("sum_to", "a", a);
  const Shape& from = a.shape();
  const std::size_t lead = from.size() - std::min(from.size(), shape.size());
  bool fits = shape.size() <= from.size();
  for (std::size_t i = 0; fits && i < shape.size(); ++i) fits = shape[i] == from[lead + i] || shape[i] == 1;
  if (!fits)
    throw ShapeError(fmt::format("sum_to: shape {} does not broadcast to the shape {} of argument 'a'",
                                 shape_str(shape), shape_str(from)));
  if (shape == from) return a;
  std::vector<std::int64_t> axes;
  for (std::size_t d = 0; d < from.size(); ++d)
    if (d < lead || (shape[d - lead] == 1 && from[d] != 1)) axes.push_back(static_cast<std::int64_t>(d));
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  // The kept axes, in order, are exactly `shape` with its 1s: the kernel's output layout is shape's.
  a.backend().reduction().sum(a.dtype(), a.raw_data(), from, axes, out.raw_data(), 1.0);
  if (needs_recording({&a}))
    record("sum_to", {&a}, out, [shape, from](BackwardContext& ctx) {
      // out = sum over broadcast axes of a  =>  da += dout broadcast back to a's shape
      ctx.accumulate(0, spread(ctx.grad_output(), shape, from, 1.0));
    });
  return out;
}

}  // namespace xgrad
