#include "xgrad/optim/finite.hpp"

#include <fmt/format.h>

#include <cmath>

#include "xgrad/backend/optim.hpp"

namespace xgrad::optim {

namespace {

// max |x| over `t`: finite exactly when every element is (NaN sticks, an infinity is the maximum).
double max_abs(const Tensor& t) { return t.backend().optim().max_abs(t.dtype(), t.raw_data(), t.numel()); }

}  // namespace

void finite_loss(const Tensor& loss) {
  require_defined(loss, "finite_loss", "loss");
  if (loss.numel() == 1) {
    const double value = loss.item();
    if (!std::isfinite(value))
      throw ValueError(fmt::format("finite_loss: the loss is {}; the run diverged (lower the learning rate, clip "
                                   "gradients, or check the inputs) and no step was taken with it", value));
    return;
  }
  const double largest = max_abs(loss);
  if (!std::isfinite(largest))
    throw ValueError(fmt::format("finite_loss: the loss of shape {} holds a {} element; the run diverged and no "
                                 "step was taken with it", shape_str(loss.shape()), largest));
}

void check_finite(const std::vector<NamedTensor>& params) {
  for (const auto& [name, p] : params) {
    if (!p.defined()) continue;
    const double value = max_abs(p);
    if (!std::isfinite(value))
      throw ValueError(fmt::format("check_finite: parameter '{}' {} holds a {} value", name,
                                   shape_str(p.shape()), value));
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    const double g = max_abs(grad);
    if (!std::isfinite(g))
      throw ValueError(fmt::format("check_finite: the gradient of parameter '{}' {} holds a {} value", name,
                                   shape_str(p.shape()), g));
  }
}

}  // namespace xgrad::optim
