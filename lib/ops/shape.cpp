// Shape ops: reshape is a view; everything else copies through the backend's strided kernels.
#include "xgrad/ops/shape.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "ops/checks.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/shape.hpp"

namespace xgrad {

namespace {

using Strides = std::vector<std::int64_t>;

// Device pointer `elements` elements past the start of t (pointer arithmetic only, never read here).
void* at_element(const Tensor& t, std::int64_t elements) {
  return static_cast<char*>(t.raw_data()) + elements * static_cast<std::int64_t>(dtype_size(t.dtype()));
}

// The shape `requested` resolves to for `count` elements: one -1 extent is inferred.
Shape resolve_shape(const Shape& from, const Shape& requested) {
  const std::int64_t count = numel(from);
  std::int64_t known = 1;
  std::ptrdiff_t infer = -1;
  for (std::size_t i = 0; i < requested.size(); ++i) {
    if (requested[i] == -1) {
      if (infer >= 0)
        throw ValueError(fmt::format("reshape: only one extent of {} may be -1", shape_str(requested)));
      infer = static_cast<std::ptrdiff_t>(i);
    } else if (requested[i] < 0) {
      throw ValueError(fmt::format("reshape: negative extent {} in {}", requested[i], shape_str(requested)));
    } else {
      known = mul_extents(known, requested[i], requested);
    }
  }
  Shape out = requested;
  if (infer >= 0 && known != 0 && count % known == 0) out[static_cast<std::size_t>(infer)] = count / known;
  if (infer >= 0 ? out[static_cast<std::size_t>(infer)] < 0 : known != count)
    throw ShapeError(fmt::format("reshape: cannot view shape {} ({} elements) as {}", shape_str(from), count,
                                 shape_str(requested)));
  if (known == 0) numel(out);  // a zero extent hides no overflow from the other extents
  return out;
}

// A contiguous copy of the elements of `a` at `offset` read with `strides` over `shape`, given
// `out_shape` (same count, same order; stack drops the unit axis of its pieces this way).
Tensor gather(const Tensor& a, const Shape& shape, std::int64_t offset, const Strides& strides,
              const Shape* out_shape = nullptr) {
  Tensor out = Tensor::empty(out_shape ? *out_shape : shape, a.dtype(), a.device());
  a.backend().shape().strided_copy(a.dtype(), shape, out.raw_data(), contiguous_strides(shape),
                                   at_element(a, offset), strides);
  return out;
}

// Elements start, start + step, ... (count of them) along `axis`, as a new tensor. The backward
// scatters the gradient back into a zero buffer of the input's shape.
Tensor strided_window(const char* op, const Tensor& a, std::int64_t axis, std::int64_t start, std::int64_t count,
                      std::int64_t step) {
  const auto ax = static_cast<std::size_t>(axis);
  Shape shape = a.shape();
  shape[ax] = count;
  Strides strides = contiguous_strides(a.shape());
  const std::int64_t offset = start * strides[ax];
  strides[ax] *= step;
  Tensor out = gather(a, shape, offset, strides);
  if (needs_recording({&a})) {
    record(op, {&a}, out, [shape, offset, strides](BackwardContext& ctx) {
      // out = a[..., start : start + count * step : step, ...]  =>  da[that window] += dout
      Tensor& da = ctx.grad_buffer(0);
      const Tensor& g = ctx.grad_output();
      da.backend().shape().strided_add(da.dtype(), shape, at_element(da, offset), strides, g.raw_data(),
                                       contiguous_strides(shape));
    });
  }
  return out;
}

void check_same_kind(const char* op, const std::vector<Tensor>& ts, std::size_t i) {
  require_defined(ts[i], op, "tensors");
  if (ts[i].dtype() != ts[0].dtype())
    throw TypeError(fmt::format("{}: tensor {} is {} {} but tensor 0 is {} {}", op, i, dtype_name(ts[i].dtype()),
                                shape_str(ts[i].shape()), dtype_name(ts[0].dtype()), shape_str(ts[0].shape())));
  if (ts[i].device() != ts[0].device())
    throw DeviceError(fmt::format("{}: tensor {} lives on {} but tensor 0 on {}", op, i,
                                  device_str(ts[i].device()), device_str(ts[0].device())));
}

// Copies each tensor (viewed with shape pieces[i]) into its block of `out_shape` along `axis`.
// concat and stack differ only in the pieces: stack views each tensor with an extra unit axis.
Tensor join(const char* op, const std::vector<Tensor>& ts, const std::vector<Shape>& pieces, std::int64_t axis,
            const Shape& out_shape) {
  const auto ax = static_cast<std::size_t>(axis);
  const Strides out_strides = contiguous_strides(out_shape);
  std::vector<std::int64_t> offsets(ts.size());  // element offset of each block in out
  for (std::size_t i = 1; i < ts.size(); ++i) offsets[i] = offsets[i - 1] + pieces[i - 1][ax] * out_strides[ax];
  Tensor out = Tensor::empty(out_shape, ts[0].dtype(), ts[0].device());
  const ShapeKernels& kernels = out.backend().shape();
  for (std::size_t i = 0; i < ts.size(); ++i)
    kernels.strided_copy(out.dtype(), pieces[i], at_element(out, offsets[i]), out_strides, ts[i].raw_data(),
                         contiguous_strides(pieces[i]));
  std::vector<const Tensor*> inputs;
  for (const Tensor& t : ts) inputs.push_back(&t);
  if (needs_recording(inputs)) {
    std::vector<Shape> shapes;
    for (const Tensor& t : ts) shapes.push_back(t.shape());
    record(op, inputs, out, [pieces, shapes, offsets, out_strides](BackwardContext& ctx) {
      // out = [t_0 | t_1 | ...] along axis  =>  dt_i = dout[block i]
      const Tensor& g = ctx.grad_output();
      for (std::size_t i = 0; i < pieces.size(); ++i)
        if (ctx.needs_grad(i)) ctx.accumulate(i, gather(g, pieces[i], offsets[i], out_strides, &shapes[i]));
    });
  }
  return out;
}

}  // namespace

Tensor reshape(const Tensor& a, const Shape& shape) {
  require_defined(a, "reshape", "a");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = a.impl().storage;
  impl->offset = a.impl().offset;
  impl->shape = resolve_shape(a.shape(), shape);
  impl->dtype = a.dtype();
  Tensor out(std::move(impl));
  if (needs_recording({&a})) {
    // out = a viewed as another shape  =>  da += dout viewed as a's shape; dout is taken (not copied) and
    // its view handed on alone, so accumulate can move it in
    record("reshape", {&a}, out, [in = a.shape()](BackwardContext& ctx) {
      Tensor da = reshape(ctx.take_grad_output(), in);
      ctx.accumulate(0, std::move(da));
    });
  }
  return out;
}

Tensor permute(const Tensor& a, const std::vector<std::int64_t>& order) {
  require_defined(a, "permute", "a");
  const std::int64_t rank = a.dim();
  if (static_cast<std::int64_t>(order.size()) != rank)
    throw ValueError(fmt::format("permute: order ({}) has {} entries for a tensor of shape {}",
                                 fmt::join(order, ", "), order.size(), shape_str(a.shape())));
  const Strides in_strides = contiguous_strides(a.shape());
  Shape shape(order.size());
  Strides strides(order.size()), inverse(order.size(), -1);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto axis = static_cast<std::size_t>(normalize_axis(order[i], rank, "permute"));
    if (inverse[axis] >= 0)
      throw ValueError(fmt::format("permute: order ({}) repeats axis {} of shape {}", fmt::join(order, ", "),
                                   axis, shape_str(a.shape())));
    inverse[axis] = static_cast<std::int64_t>(i);
    shape[i] = a.shape()[axis];
    strides[i] = in_strides[axis];
  }
  Tensor out = gather(a, shape, 0, strides);
  if (needs_recording({&a})) {
    // out axis i = a axis order[i]  =>  da = dout permuted by the inverse order
    record("permute", {&a}, out,
           [inverse](BackwardContext& ctx) { ctx.accumulate(0, permute(ctx.grad_output(), inverse)); });
  }
  return out;
}

Tensor transpose(const Tensor& a, std::int64_t axis0, std::int64_t axis1) {
  require_defined(a, "transpose", "a");
  std::vector<std::int64_t> order(static_cast<std::size_t>(a.dim()));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  std::swap(order[static_cast<std::size_t>(normalize_axis(axis0, a.dim(), "transpose"))],
            order[static_cast<std::size_t>(normalize_axis(axis1, a.dim(), "transpose"))]);
  return permute(a, order);
}

Tensor slice(const Tensor& a, std::int64_t axis, std::int64_t start, std::int64_t stop, std::int64_t step) {
  require_defined(a, "slice", "a");
  axis = normalize_axis(axis, a.dim(), "slice");
  if (step <= 0)
    throw ValueError(fmt::format("slice: step must be at least 1, got {} (slicing axis {} of shape {})", step,
                                 axis, shape_str(a.shape())));
  const std::int64_t n = a.shape()[static_cast<std::size_t>(axis)];
  // Python's rule: a negative bound counts from the end, then both clamp to [0, n].
  auto clamp = [n](std::int64_t i) { return std::clamp(i < 0 ? i + n : i, std::int64_t{0}, n); };
  start = clamp(start);
  stop = clamp(stop);
  const std::int64_t count = stop > start ? (stop - start + step - 1) / step : 0;
  return strided_window("slice", a, axis, start, count, step);
}

Tensor narrow(const Tensor& a, std::int64_t axis, std::int64_t start, std::int64_t length) {
  require_defined(a, "narrow", "a");
  axis = normalize_axis(axis, a.dim(), "narrow");
  const std::int64_t n = a.shape()[static_cast<std::size_t>(axis)];
  const std::int64_t first = start < 0 ? start + n : start;
  if (first < 0 || first > n || length < 0 || first + length > n)
    throw IndexError(fmt::format("narrow: start {} and length {} do not fit axis {} of shape {} (extent {})",
                                 start, length, axis, shape_str(a.shape()), n));
  return strided_window("narrow", a, axis, first, length, 1);
}

Tensor concat(const std::vector<Tensor>& tensors, std::int64_t axis) {
  if (tensors.empty()) throw ValueError("concat: needs at least one tensor, got an empty list");
  require_defined(tensors[0], "concat", "tensors");
  const Shape& first = tensors[0].shape();
  axis = normalize_axis(axis, static_cast<std::int64_t>(first.size()), "concat");
  const auto ax = static_cast<std::size_t>(axis);
  Shape out_shape = first;
  out_shape[ax] = 0;
  std::vector<Shape> pieces;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    check_same_kind("concat", tensors, i);
    Shape s = tensors[i].shape();
    const bool fits = s.size() == first.size() && [&] {
      for (std::size_t d = 0; d < s.size(); ++d)
        if (d != ax && s[d] != first[d]) return false;
      return true;
    }();
    if (!fits)
      throw ShapeError(fmt::format("concat: tensor {} has shape {} but tensor 0 has shape {}; all extents "
                                   "except axis {} must match",
                                   i, shape_str(s), shape_str(first), axis));
    if (__builtin_add_overflow(out_shape[ax], s[ax], &out_shape[ax]))
      throw ValueError(fmt::format("concat: the extents along axis {} add up to more than an int64 holds", axis));
    pieces.push_back(std::move(s));
  }
  return join("concat", tensors, pieces, axis, out_shape);
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis) {
  if (tensors.empty()) throw ValueError("stack: needs at least one tensor, got an empty list");
  require_defined(tensors[0], "stack", "tensors");
  const Shape& first = tensors[0].shape();
  axis = normalize_axis(axis, static_cast<std::int64_t>(first.size()) + 1, "stack");
  Shape piece = first;
  piece.insert(piece.begin() + axis, 1);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    check_same_kind("stack", tensors, i);
    if (tensors[i].shape() != first)
      throw ShapeError(fmt::format("stack: tensor {} has shape {} but tensor 0 has shape {}; stacked tensors "
                                   "must have equal shapes",
                                   i, shape_str(tensors[i].shape()), shape_str(first)));
  }
  Shape out_shape = piece;
  out_shape[static_cast<std::size_t>(axis)] = static_cast<std::int64_t>(tensors.size());
  return join("stack", tensors, std::vector<Shape>(tensors.size(), piece), axis, out_shape);
}

Tensor unsqueeze(const Tensor& a, std::int64_t axis) {
  require_defined(a, "unsqueeze", "a");
  Shape shape = a.shape();
  shape.insert(shape.begin() + normalize_axis(axis, a.dim() + 1, "unsqueeze"), 1);
  return reshape(a, shape);
}

Tensor squeeze(const Tensor& a, std::int64_t axis) {
  require_defined(a, "squeeze", "a");
  const std::int64_t ax = normalize_axis(axis, a.dim(), "squeeze");
  Shape shape = a.shape();
  if (shape[static_cast<std::size_t>(ax)] != 1)
    throw ShapeError(fmt::format("squeeze: axis {} of shape {} has extent {}, not 1", axis, shape_str(shape),
                                 shape[static_cast<std::size_t>(ax)]));
  shape.erase(shape.begin() + ax);
  return reshape(a, shape);
}

}  // namespace xgrad
