#pragma once
// TensorDataset: examples stored as rows of tensors that share their first axis, like
// torch.utils.data.TensorDataset (features and labels side by side).
#include <cstdint>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::data {

/// A dataset whose example i is row i of each of its tensors: `TensorDataset({points, labels})`.
/// The tensors stay where they are (any device, any dtype); nothing is copied until a batch is taken.
class TensorDataset {
 public:
  /// Takes the tensors (handles, no copy). Throws ValueError for an empty list or an undefined tensor,
  /// ShapeError naming both shapes when a first extent differs from tensor 0's (or a tensor is 0-d),
  /// DeviceError when the tensors live on different devices.
  explicit TensorDataset(std::vector<Tensor> tensors);

  /// Number of examples: the common first extent.
  std::int64_t size() const { return size_; }
  /// The tensors, in the order given.
  const std::vector<Tensor>& tensors() const { return tensors_; }
  /// The examples at int64 `indices` (1-D, on the tensors' device): one tensor per dataset tensor, its
  /// first extent indices.numel(), gathered with index_select. Throws IndexError for an index outside
  /// [0, size()).
  std::vector<Tensor> get(const Tensor& indices) const;

 private:
  std::vector<Tensor> tensors_;
  std::int64_t size_ = 0;
};

}  // namespace xgrad::data
