// Indexing: index_select and gather, each one kernel call forward and one accumulating kernel call
// backward, and randperm. Indices are validated by the kernels, which return the first bad position.
#include "xgrad/ops/indexing.hpp"

#include <fmt/format.h>

#include <utility>
#include <vector>

#include "ops/along_axis.hpp"
#include "ops/checks.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad {

namespace detail {

AxisExtents extents_around(const Shape& shape, std::int64_t axis) {
  AxisExtents e;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    const auto ax = static_cast<std::size_t>(axis);
    if (d < ax) e.outer *= shape[d];
    if (d == ax) e.extent = shape[d];
    if (d > ax) e.inner *= shape[d];
  }
  return e;
}

void record_gather(const char* op, const Tensor& a, Tensor& out, const Tensor& index, const Shape& index_shape,
                   std::int64_t axis) {
  if (!needs_recording({&a})) return;
  record(op, {&a}, out, [index = index.detach(), index_shape, axis](BackwardContext& ctx) {
    // out[p] = a[p with coordinate `axis` = index[p]]  =>  da[that element] += dout[p]
    Tensor& da = ctx.grad_buffer(0);
    const Tensor& g = ctx.grad_output();
    g.backend().shape().gather_add(g.dtype(), g.raw_data(), index.data<std::int64_t>(), index_shape, axis,
                                   da.raw_data(), da.shape());
  });
}

}  // namespace detail

namespace {

// Throws IndexError for the out-of-range entry at flat position `bad` of `index` (a kernel's answer).
[[noreturn]] void throw_bad_index(const char* op, const Tensor& index, std::int64_t bad, const Tensor& a,
                                  std::int64_t axis) {
  throw IndexError(fmt::format("{}: index {} at position ({}) of index {} is out of range for axis {} of extent {} "
                               "in a {}",
                               op, detail::index_at(index, bad), fmt::join(unravel_index(bad, index.shape()), ", "),
                               shape_str(index.shape()), axis, a.shape()[static_cast<std::size_t>(axis)],
                               shape_str(a.shape())));
}

}  // namespace

Tensor index_select(const Tensor& a, std::int64_t axis, const Tensor& index) {
  require_defined(a, "index_select", "a");
  detail::check_index_tensor("index_select", "index", index);
  detail::check_same_device("index_select", "index", index, a);
  if (index.dim() > 1)
    throw ShapeError(fmt::format("index_select: index must be 1-D (or 0-d), got shape {} for a {}",
                                 shape_str(index.shape()), shape_str(a.shape())));
  const std::int64_t ax = normalize_axis(axis, a.dim(), "index_select");
  const detail::AxisExtents e = detail::extents_around(a.shape(), ax);
  const std::int64_t m = index.numel();
  Shape shape = a.shape();
  shape[static_cast<std::size_t>(ax)] = m;
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  const std::int64_t bad = a.backend().shape().index_select(a.dtype(), a.raw_data(), e.outer, e.extent, e.inner,
                                                            index.data<std::int64_t>(), m, out.raw_data());
  if (bad >= 0) throw_bad_index("index_select", index, bad, a, ax);
  if (needs_recording({&a}))
    record("index_select", {&a}, out, [index = index.detach(), e, m](BackwardContext& ctx) {
      // out[o, j, i] = a[o, index[j], i]  =>  da[o, index[j], i] += dout[o, j, i]
      Tensor& da = ctx.grad_buffer(0);
      const Tensor& g = ctx.grad_output();
      g.backend().shape().index_select_add(g.dtype(), g.raw_data(), e.outer, m, e.inner, index.data<std::int64_t>(),
                                           e.extent, da.raw_data());
    });
  return out;
}

Tensor gather(const Tensor& a, std::int64_t axis, const Tensor& index) {
  require_defined(a, "gather", "a");
  detail::check_index_tensor("gather", "index", index);
  detail::check_same_device("gather", "index", index, a);
  const std::int64_t ax = normalize_axis(axis, a.dim(), "gather");
  bool fits = index.dim() == a.dim();
  for (std::int64_t d = 0; fits && d < a.dim(); ++d) fits = d == ax || index.size(d) <= a.size(d);
  if (!fits)
    throw ShapeError(fmt::format("gather: index {} must have the rank of a {} and no larger extent off axis {}",
                                 shape_str(index.shape()), shape_str(a.shape()), ax));
  Tensor out = Tensor::empty(index.shape(), a.dtype(), a.device());
  const std::int64_t bad = a.backend().shape().gather(a.dtype(), a.raw_data(), a.shape(), ax,
                                                      index.data<std::int64_t>(), index.shape(), out.raw_data());
  if (bad >= 0) throw_bad_index("gather", index, bad, a, ax);
  detail::record_gather("gather", a, out, index, index.shape(), ax);
  return out;
}

Tensor randperm(std::int64_t n, Generator& gen, Device device) {
  if (n < 0) throw ValueError(fmt::format("randperm: n must be >= 0, got {}", n));
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) perm[i] = i;
  // Fisher-Yates: position i swaps with a uniform j in [0, i]. j comes from 64 random bits by rejection, so
  // every j is exactly equally likely (a plain modulo would favour the small ones).
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto range = static_cast<std::uint64_t>(i) + 1;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % range;  // a multiple of range draws below it
    std::uint64_t bits = gen.next();
    while (bits >= limit) bits = gen.next();
    std::swap(perm[i], perm[bits % range]);
  }
  Tensor out = index_tensor(perm, {n});
  return device.type == DeviceType::cpu ? out : out.to(device);
}

}  // namespace xgrad
