#pragma once
// Strided iteration shared by the CPU elementwise and reduction kernels: several operands are
// walked over one iteration shape, each with its own element strides (0 on broadcast axes).
// Axes of extent 1 are dropped and neighbours that every operand walks contiguously are merged,
// so a bias add becomes 2-D and a same-shape op 1-D; the callback then gets one innermost row at a
// time and writes a plain loop the compiler vectorises.
#include <array>
#include <cstdint>
#include <vector>

#include "xgrad/tensor/shape.hpp"

namespace xgrad::cpu {

/// An iteration shape (at least one axis) and each operand's strides over it, after merging.
template <std::size_t N>
struct StridedLoop {
  Shape shape;                                       ///< merged extents, outermost first
  std::array<std::vector<std::int64_t>, N> strides;  ///< per operand, in elements

  /// Extent of the innermost axis.
  std::int64_t inner() const { return shape.back(); }
  /// Stride of operand k along the innermost axis.
  std::int64_t inner_stride(std::size_t k) const { return strides[k].back(); }
};

/// Drops extent-1 axes of `shape` and merges neighbours that every operand walks contiguously.
template <std::size_t N>
StridedLoop<N> collapse(const Shape& shape, const std::array<std::vector<std::int64_t>, N>& strides) {
  StridedLoop<N> loop;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !loop.shape.empty();
    for (std::size_t k = 0; k < N && merge; ++k) merge = loop.strides[k].back() == strides[k][d] * shape[d];
    if (merge) {
      loop.shape.back() *= shape[d];
      for (std::size_t k = 0; k < N; ++k) loop.strides[k].back() = strides[k][d];
      continue;
    }
    loop.shape.push_back(shape[d]);
    for (std::size_t k = 0; k < N; ++k) loop.strides[k].push_back(strides[k][d]);
  }
  if (loop.shape.empty()) {
    loop.shape.push_back(1);
    for (auto& s : loop.strides) s.push_back(0);
  }
  return loop;
}

/// Calls row(offsets) once per innermost row, offsets being each operand's first element of the row.
/// The loop must have no empty axis.
template <std::size_t N, class Row>
void for_each_row(const StridedLoop<N>& loop, Row&& row) {
  const std::size_t rank = loop.shape.size();
  const std::int64_t rows = numel(loop.shape) / loop.inner();
  std::vector<std::int64_t> index(rank, 0);
  std::array<std::int64_t, N> offset{};
  for (std::int64_t r = 0; r < rows; ++r) {
    row(offset);
    for (std::size_t d = rank - 1; d-- > 0;) {  // odometer over the outer axes
      for (std::size_t k = 0; k < N; ++k) offset[k] += loop.strides[k][d];
      if (++index[d] < loop.shape[d]) break;
      for (std::size_t k = 0; k < N; ++k) offset[k] -= loop.strides[k][d] * loop.shape[d];
      index[d] = 0;
    }
  }
}

}  // namespace xgrad::cpu
