#pragma once
// Kernel table of the shape op family (see backend.hpp).
#include <cstdint>
#include <vector>

#include "xgrad/backend/backend.hpp"
#include "xgrad/tensor/shape.hpp"

namespace xgrad {

/// Device kernels behind the shape ops. The strided pair walks one index space `shape` and reads/writes
/// through per-axis element strides from already offset device pointers, so it serves transpose,
/// permute, slice, narrow, concat and stack and their backwards; the indexed kernels serve
/// index_select and gather (and topk's and max's backwards) with int64 device indices.
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

  /// torch.index_select: out[o, j, i] = in[o, index[j], i] with `in` seen as (outer, in_extent, inner) and `out`
  /// as (outer, m, inner); any dtype. Returns -1, or the position in `index` of the first entry outside
  /// [0, in_extent), and then writes nothing. The value goes back to the host, so the call synchronizes.
  virtual std::int64_t index_select(DType dtype, const void* in, std::int64_t outer, std::int64_t in_extent,
                                    std::int64_t inner, const std::int64_t* index, std::int64_t m,
                                    void* out) const = 0;
  /// The backward of index_select: grad_in[o, index[j], i] += grad[o, j, i] for in-range indices; floating
  /// dtypes. A repeated index adds its gradients in the order of j, whatever the thread count.
  virtual void index_select_add(DType dtype, const void* grad, std::int64_t outer, std::int64_t m,
                                std::int64_t inner, const std::int64_t* index, std::int64_t in_extent,
                                void* grad_in) const = 0;
  /// torch.gather along `axis`: for every multi-index p of `index_shape`, out[p] = in[p with its `axis`
  /// coordinate replaced by index[p]]. `index_shape` has the rank of `in_shape` and no larger extent off
  /// `axis`; any dtype. Returns -1, or the flat position in `index` of the first entry outside
  /// [0, in_shape[axis]), and then writes nothing. The value goes back to the host, so the call synchronizes.
  virtual std::int64_t gather(DType dtype, const void* in, const Shape& in_shape, std::int64_t axis,
                              const std::int64_t* index, const Shape& index_shape, void* out) const = 0;
  /// The backward of gather (torch.scatter_add_): grad_in[p with its `axis` coordinate replaced by index[p]]
  /// += grad[p] for in-range indices; floating dtypes. Repeated targets add in row-major order of p, whatever
  /// the thread count.
  virtual void gather_add(DType dtype, const void* grad, const std::int64_t* index, const Shape& index_shape,
                          std::int64_t axis, void* grad_in, const Shape& in_shape) const = 0;
};

}  // namespace xgrad
