#pragma once
// Kernel table of the shape op family (see backend.hpp).
#include <cstdint>
#include <vector>

#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// Device kernels behind the shape ops. Every kernel walks one index space `shape` and reads/writes
/// through per-axis element strides from already offset device pointers, so one pair of kernels
/// serves transpose, permute, slice, narrow, concat and stack and their backwards.
class ShapeKernels {
 public:
  virtual ~ShapeKernels() = default;
  /// dst[i * dst_strides] = src[i * src_strides] for every multi-index i of `shape`; any dtype.
  virtual void strided_copy(DType dtype, const std::vector<std::int64_t>& shape, void* dst,
                            const std::vector<std::int64_t>& dst_strides, const void* src,
                            const std::vector<std::int64_t>& src_strides) const = 0;
  /// dst[i * dst_strides] += src[i * src_strides] for every multi-index i of `shape`; floating dtypes.
  /// Destinations must not overlap (no two indices write one element).
  virtual void strided_add(DType dtype, const std::vector<std::int64_t>& shape, void* dst,
                           const std::vector<std::int64_t>& dst_strides, const void* src,
                           const std::vector<std::int64_t>& src_strides) const = 0;
};

}  // namespace xgrad
