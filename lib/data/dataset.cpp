#include "xgrad/data/dataset.hpp"

#include <fmt/format.h>

#include "xgrad/ops/indexing.hpp"

namespace xgrad::data {

TensorDataset::TensorDataset(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {
  if (tensors_.empty()) throw ValueError("TensorDataset: needs at least one tensor");
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    if (!t.defined()) throw ValueError(fmt::format("TensorDataset: tensor {} is undefined", i));
    if (t.dim() == 0)
      throw ShapeError(fmt::format("TensorDataset: tensor {} is 0-d; every tensor needs a first (example) axis", i));
    const Tensor& first = tensors_[0];
    if (t.size(0) != first.size(0))
      throw ShapeError(fmt::format("TensorDataset: tensor {} has shape {} but tensor 0 has shape {}; the first "
                                   "extents (the number of examples) must be equal",
                                   i, shape_str(t.shape()), shape_str(first.shape())));
    if (t.device() != first.device())
      throw DeviceError(fmt::format("TensorDataset: tensor {} lives on {} but tensor 0 on {}", i,
                                    device_str(t.device()), device_str(first.device())));
  }
  size_ = tensors_[0].size(0);
}

std::vector<Tensor> TensorDataset::get(const Tensor& indices) const {
  std::vector<Tensor> batch;
  batch.reserve(tensors_.size());
  for (const Tensor& t : tensors_) batch.push_back(index_select(t, 0, indices));
  return batch;
}

}  // namespace xgrad::data
