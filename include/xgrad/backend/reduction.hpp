#pragma once
// Kernel table of the reduction op family (see backend.hpp). Inputs are contiguous row-major;
// `axes` are sorted, distinct and non-negative; outputs hold the kept axes in order.
#include <cstdint>
#include <vector>

#include "xgrad/backend/backend.hpp"
#include "xgrad/tensor/shape.hpp"

namespace xgrad {

/// Device kernels behind the reduction ops.
class ReductionKernels {
 public:
  virtual ~ReductionKernels() = default;

  /// out = scale * sum of `in` (of `shape`) over `axes`.
  virtual void sum(DType dtype, const void* in, const Shape& shape, const std::vector<std::int64_t>& axes,
                   void* out, double scale) const = 0;
  /// out = maximum of `in` over `axes`; argmax gets the flat input index of each block's first
  /// maximum (NaN counts as the maximum). Every reduced axis must be non-empty.
  virtual void max(DType dtype, const void* in, const Shape& shape, const std::vector<std::int64_t>& axes,
                   void* out, std::int64_t* argmax) const = 0;
  /// grad_in[index[i]] += grad[i] for i < n (the backward of max).
  virtual void scatter_add(DType dtype, const void* grad, const std::int64_t* index, std::int64_t n,
                           void* grad_in) const = 0;

  /// For each fiber of `in` seen as (outer, extent, inner) along its middle axis (extent >= 1): the position
  /// along the axis of the first maximum (`largest`) or minimum, into `indices` (outer, inner), and its value
  /// into `values` (outer, inner) unless null. NaN counts as the extreme either way, like torch. Any dtype.
  virtual void extreme_along_axis(DType dtype, const void* in, std::int64_t outer, std::int64_t extent,
                                  std::int64_t inner, bool largest, void* values, std::int64_t* indices) const = 0;
  /// For each fiber of `in` seen as (outer, extent, inner): its k largest (or smallest) elements and their
  /// positions along the axis, into `values` and `indices` (outer, k, inner), 0 <= k <= extent. NaN ranks
  /// above every number (torch). When `sorted` they come largest first (smallest first unless `largest`), ties
  /// in position order; otherwise in position order. Any dtype.
  virtual void topk(DType dtype, const void* in, std::int64_t outer, std::int64_t extent, std::int64_t inner,
                    std::int64_t k, bool largest, bool sorted, void* values, std::int64_t* indices) const = 0;
};

}  // namespace xgrad
