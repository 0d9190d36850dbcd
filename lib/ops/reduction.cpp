// Reductions: sum, mean, max over axes, and sum_to (the adjoint of broadcasting). The backward of a
// sum spreads the output gradient back over the reduced axes (a broadcast kernel with a scale, so
// mean costs no extra pass); max routes it to the first maximal element of each reduced block.
#include "xgrad/ops/reduction.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "ops/checks.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/backend/reduction.hpp"
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

}  // namespace

Tensor sum(const Tensor& a, const std::vector<std::int64_t>& axes, bool keepdims) {
  return scaled_sum("sum", a, axes, keepdims, false);
}

Tensor mean(const Tensor& a, const std::vector<std::int64_t>& axes, bool keepdims) {
  return scaled_sum("mean", a, axes, keepdims, true);
}

Tensor max(const Tensor& a, const std::vector<std::int64_t>& axes, bool keepdims) {
  detail::check_floating("max", "a", a);
  const auto ax = normalize_axes(axes, a.dim(), "max");
  for (auto d : ax)
    if (a.shape()[static_cast<std::size_t>(d)] == 0)
      throw ValueError(fmt::format("max: cannot reduce over axis {} of extent 0 in shape {}", d,
                                   shape_str(a.shape())));
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
