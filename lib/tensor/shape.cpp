#include "xgrad/tensor/shape.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "xgrad/errors.hpp"

namespace xgrad {

std::int64_t mul_extents(std::int64_t a, std::int64_t b, const Shape& shape) {
  std::int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product))
    throw ValueError(fmt::format("shape {} is too large: its element or byte count overflows int64", shape_str(shape)));
  return product;
}

std::int64_t numel(const Shape& shape) {
  std::int64_t nonzero = 1;
  bool empty = false;
  for (auto d : shape) {
    if (d < 0) throw ShapeError(fmt::format("negative extent {} in shape {}", d, shape_str(shape)));
    if (d == 0)
      empty = true;
    else
      nonzero = mul_extents(nonzero, d, shape);
  }
  return empty ? 0 : nonzero;
}

std::vector<std::int64_t> contiguous_strides(const Shape& shape) {
  std::vector<std::int64_t> strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    // The last product is never used as a stride, but a shape whose total overflows is refused anyway.
    if (shape[i] != 0) stride = mul_extents(stride, shape[i], shape);
  }
  return strides;
}

std::vector<std::int64_t> unravel_index(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t a = shape.size(); a-- > 0;) {
    index[a] = flat % shape[a];
    flat /= shape[a];
  }
  return index;
}

std::string shape_str(const Shape& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

std::int64_t normalize_axis(std::int64_t axis, std::int64_t rank, std::string_view op) {
  std::int64_t resolved = axis < 0 ? axis + rank : axis;
  if (resolved < 0 || resolved >= rank)
    throw IndexError(fmt::format("{}: axis {} is out of range for a tensor of rank {}", op, axis, rank));
  return resolved;
}

std::vector<std::int64_t> normalize_axes(const std::vector<std::int64_t>& axes, std::int64_t rank,
                                         std::string_view op) {
  std::vector<std::int64_t> out;
  if (axes.empty()) {
    for (std::int64_t i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (auto a : axes) out.push_back(normalize_axis(a, rank, op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    throw IndexError(fmt::format("{}: axes ({}) repeat an axis", op, fmt::join(axes, ", ")));
  return out;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw ShapeError(fmt::format("{}: shapes {} and {} do not broadcast (axis {}: {} vs {})", op,
                                   shape_str(a), shape_str(b), i, da, db));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<std::int64_t> broadcast_strides(const Shape& shape, const Shape& target) {
  std::vector<std::int64_t> strides(target.size(), 0);
  const auto own = contiguous_strides(shape);
  const std::size_t lead = target.size() - shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i)
    strides[lead + i] = shape[i] == 1 ? 0 : own[i];
  return strides;
}

}  // namespace xgrad
