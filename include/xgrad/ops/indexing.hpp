#pragma once
// Indexing with int64 index tensors, as in torch: index_select picks whole slices along an axis,
// gather picks one element per index position. Indices must lie in [0, extent) of the indexed
// axis (no negative indices, like torch); the first one that does not is an IndexError naming its
// position and value. Both backwards add the output gradient into the picked elements, a repeated
// index summing its gradients in a fixed order (the same result on any thread count).
#include <cstdint>

#include "xgrad/tensor/generator.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// The slices of `a` at positions `index` (int64, 1-D or 0-d) along `axis`: a's shape with that axis's extent
/// replaced by index.numel(); out[..., j, ...] = a[..., index[j], ...] (torch.index_select). Any dtype of `a`;
/// differentiable in `a`. Throws TypeError for a non-int64 index, ShapeError for an index of rank > 1,
/// IndexError for a bad axis or an index outside [0, a.size(axis)).
Tensor index_select(const Tensor& a, std::int64_t axis, const Tensor& index);

/// torch.gather: out has index's shape and out[p] = a[p with its `axis` coordinate replaced by index[p]], e.g.
/// out[i][j] = a[i][index[i][j]] for axis 1. `index` (int64) has a's rank and, off `axis`, extents no larger than
/// a's. Any dtype of `a`; differentiable in `a`. Throws TypeError, ShapeError naming both shapes, or IndexError
/// naming the index's position and value.
Tensor gather(const Tensor& a, std::int64_t axis, const Tensor& index);

/// A random permutation of 0, 1, ..., n-1 (int64, shape (n,)) drawn from `gen` by a Fisher-Yates shuffle: the
/// same seed gives the same permutation. Throws ValueError when n < 0.
Tensor randperm(std::int64_t n, Generator& gen, Device device = {});

}  // namespace xgrad
