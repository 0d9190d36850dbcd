#pragma once
// Stops a training run at the first NaN or infinite loss, before it reaches the weights or a checkpoint.
#include <vector>

#include "xgrad/optim/optimizer.hpp"

namespace xgrad::optim {

/// Throws ValueError naming the value when `loss` holds a NaN or infinite element; call it between the
/// forward pass and backward(). A one-element loss is read with item(); a larger one is checked with a
/// reduction on its own device.
void finite_loss(const Tensor& loss);

/// Throws ValueError naming the first parameter whose values or gradient hold a NaN or infinity (each
/// checked with a reduction on its device); parameters without a gradient are checked for values only.
void check_finite(const std::vector<NamedTensor>& params);

}  // namespace xgrad::optim
