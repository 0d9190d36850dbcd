#pragma once
// Shapes, row-major strides and NumPy broadcasting rules.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xgrad {

/// Extent of each axis, outermost first. A scalar has the empty shape.
using Shape = std::vector<std::int64_t>;

/// `a * b` for two non-negative extents or extent products of `shape`; throws ValueError showing `shape`
/// when the product does not fit in int64. Every shape product in xgrad goes through it.
std::int64_t mul_extents(std::int64_t a, std::int64_t b, const Shape& shape);

/// Number of elements of a tensor of shape `shape` (1 for a scalar). Throws ShapeError on a negative
/// extent and ValueError when the product of the non-zero extents overflows int64, so that every partial
/// product a kernel forms from a valid shape fits.
std::int64_t numel(const Shape& shape);

/// Row-major (C-order) strides of `shape`, in elements.
std::vector<std::int64_t> contiguous_strides(const Shape& shape);

/// The multi-index of row-major flat position `flat` in `shape`, e.g. 5 in (2, 3) is (1, 2).
std::vector<std::int64_t> unravel_index(std::int64_t flat, const Shape& shape);

/// Python-tuple spelling of a shape: "(2, 3)", "(4,)", "()".
std::string shape_str(const Shape& shape);

/// Resolves a possibly negative `axis` against `rank`; throws IndexError naming `op` when out of range.
std::int64_t normalize_axis(std::int64_t axis, std::int64_t rank, std::string_view op);

/// Resolves and sorts `axes` (an empty list means every axis); throws IndexError on range or repeats.
std::vector<std::int64_t> normalize_axes(const std::vector<std::int64_t>& axes, std::int64_t rank,
                                         std::string_view op);

/// The NumPy broadcast of `a` and `b`; throws ShapeError naming `op` and both shapes when they clash.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

/// Strides for reading a tensor of `shape` as if it had `target` shape (0 on broadcast axes).
/// `shape` must broadcast to `target`.
std::vector<std::int64_t> broadcast_strides(const Shape& shape, const Shape& target);

}  // namespace xgrad
