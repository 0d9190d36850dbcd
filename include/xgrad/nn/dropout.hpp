#pragma once
// Dropout: Keras's inverted dropout layer, with noise_shape to share one mask across axes.
#include <cstdint>
#include <optional>

#include "xgrad/nn/module.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::nn {

/// Keras Dropout (torch.nn.Dropout): in training, zeroes each element with probability `rate` and
/// scales the kept ones by 1 / (1 - rate); the identity in eval mode or when called with training=false.
class Dropout : public Layer {
 public:
  /// A noise_shape entry that takes the input's extent on that axis (Keras's None).
  static constexpr std::int64_t kFromInput = -1;

  /// Dropout of probability `rate` in [0, 1] (1 drops everything). `noise_shape`, when given, is the
  /// shape of the mask broadcast over the input (same rank; entries 1, the input's extent, or
  /// kFromInput), e.g. {kFromInput, 1, kFromInput} drops whole features across time steps. The mask
  /// is drawn from a generator seeded with `seed` (default: next_seed(), so two Dropout layers draw
  /// different masks). Throws ValueError for a bad rate or entry.
  explicit Dropout(double rate, Shape noise_shape = {}, std::optional<std::uint64_t> seed = {});

  /// forward(x, is_training()).
  Tensor forward(const Tensor& x) override { return forward(x, is_training()); }
  /// Drops when `training`, else returns x unchanged (Keras's `training` call argument).
  Tensor forward(const Tensor& x, bool training);
  using Layer::operator();
  /// Same as forward(x, training).
  Tensor operator()(const Tensor& x, bool training) { return forward(x, training); }

  /// Restarts the mask generator from `seed` (gives the same masks again).
  void reseed(std::uint64_t seed) { gen_.seed(seed); }
  /// The generator the masks are drawn from (for gradient_checkpoint's replay).
  Generator& generator() { return gen_; }
  /// The drop probability.
  double rate() const { return rate_; }
  /// The noise shape (empty: the input's shape).
  const Shape& noise_shape() const { return noise_shape_; }

 protected:
  /// The rate, for summary().
  std::string describe() const override;

 private:
  double rate_;
  Shape noise_shape_;
  Generator gen_;
};

}  // namespace xgrad::nn
