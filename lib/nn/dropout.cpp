#include "xgrad/nn/dropout.hpp"

#include <fmt/format.h>

#include "xgrad/backend/random.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

Dropout::Dropout(double rate, Shape noise_shape, std::optional<std::uint64_t> seed)
    : Layer("Dropout"), rate_(rate), noise_shape_(std::move(noise_shape)), gen_(seed_or_next(seed)) {
  if (!(rate_ >= 0.0 && rate_ <= 1.0))
    throw ValueError(fmt::format("Dropout: rate must be in [0, 1], got {}", rate_));
  for (std::int64_t extent : noise_shape_)
    if (extent != kFromInput && extent < 1)
      throw ValueError(fmt::format("Dropout: noise_shape {} entries must be positive or -1 (the input's extent)",
                                   shape_str(noise_shape_)));
}

Tensor Dropout::forward(const Tensor& x, bool training) {
  require_defined(x, "Dropout", "x");
  if (!is_floating(x.dtype()))
    throw TypeError(fmt::format("Dropout: input must be float32 or float64, got {} of shape {}",
                                dtype_name(x.dtype()), shape_str(x.shape())));
  Shape mask_shape = noise_shape_.empty() ? x.shape() : noise_shape_;
  if (!noise_shape_.empty()) {
    bool fits = noise_shape_.size() == x.shape().size();
    for (std::size_t i = 0; fits && i < mask_shape.size(); ++i) {
      if (mask_shape[i] == kFromInput) mask_shape[i] = x.shape()[i];
      fits = mask_shape[i] == x.shape()[i] || mask_shape[i] == 1;
    }
    if (!fits)
      throw ShapeError(fmt::format("Dropout: noise_shape {} does not broadcast to input shape {}",
                                   shape_str(noise_shape_), shape_str(x.shape())));
  }
  if (!training || rate_ == 0.0) return x;
  // Keras selects 0 for every dropped element (no 0 * inf = nan), so rate 1 gives exact zeros.
  if (rate_ == 1.0) return masked_fill(x, ones({}, x.dtype(), x.device()), 0.0);
  if (noise_shape_.empty()) return dropout(x, rate_, gen_, true);
  // A shared mask: draw it at the noise shape and let the broadcasting product's backward sum over it.
  Tensor mask = Tensor::empty(mask_shape, x.dtype(), x.device());
  mask.backend().random().dropout_mask(x.dtype(), mask.raw_data(), mask.numel(), rate_,
                                       gen_.reserve(dropout_blocks(mask.numel())));
  return mul(x, mask);
}

std::string Dropout::describe() const { return fmt::format("rate={}", rate_); }

}  // namespace xgrad::nn
