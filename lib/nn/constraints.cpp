#include "xgrad/nn/constraints.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

namespace {

// Keras's backend.epsilon(), added to norms before dividing.
constexpr double kEpsilon = 1e-7;

// Rescales every slice of `w` by scale(norm), where norm is the L2 norm over `axes` (Keras's
// sqrt(sum(square(w), axis, keepdims=True))). Runs on a host copy in double: constraints run once
// per step on parameter-sized data, so clarity beats a kernel here.
template <class Scale>
Tensor rescale_by_norm(const char* who, const Tensor& w, const Axes& axes, Scale&& scale) {
  require_defined(w, who, "w");
  const Shape& shape = w.shape();
  const auto rank = static_cast<std::int64_t>(shape.size());
  const std::vector<std::int64_t> reduced = normalize_axes(axes, rank, who);
  // Each element's slot among the norms: its multi-index with the reduced axes dropped.
  std::vector<std::int64_t> slot_stride(shape.size(), 0);
  std::int64_t slots = 1;
  for (std::int64_t d = rank - 1; d >= 0; --d)
    if (!std::binary_search(reduced.begin(), reduced.end(), d)) {
      slot_stride[static_cast<std::size_t>(d)] = slots;
      slots *= shape[static_cast<std::size_t>(d)];
    }
  std::vector<double> values = w.to_vector();
  std::vector<std::int64_t> slot(values.size(), 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto rest = static_cast<std::int64_t>(i);
    for (std::int64_t d = rank - 1; d >= 0; --d) {
      const auto ud = static_cast<std::size_t>(d);
      slot[i] += (rest % shape[ud]) * slot_stride[ud];
      rest /= shape[ud];
    }
  }
  std::vector<double> norms(static_cast<std::size_t>(slots), 0.0);
  for (std::size_t i = 0; i < values.size(); ++i) norms[static_cast<std::size_t>(slot[i])] += values[i] * values[i];
  for (double& n : norms) n = std::sqrt(n);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] *= scale(norms[static_cast<std::size_t>(slot[i])]);
  return from_vector(values, shape, w.dtype(), w.device());
}

void check_floating(const char* who, const Tensor& w) {
  require_defined(w, who, "w");
  if (!is_floating(w.dtype()))
    throw TypeError(fmt::format("{}: expected a float32 or float64 weight, got {} of shape {}", who,
                                dtype_name(w.dtype()), shape_str(w.shape())));
}

}  // namespace

Constraint::Constraint(const std::string& name) {
  if (name == "max_norm" || name == "MaxNorm") fn_ = MaxNorm();
  else if (name == "non_neg" || name == "NonNeg") fn_ = NonNeg();
  else if (name == "unit_norm" || name == "UnitNorm") fn_ = UnitNorm();
  else if (name == "min_max_norm" || name == "MinMaxNorm") fn_ = MinMaxNorm();
  else
    throw ValueError(fmt::format(
        "Constraint: unknown constraint '{}'; valid names are: max_norm, min_max_norm, non_neg, unit_norm", name));
}

Tensor Constraint::operator()(const Tensor& w) const {
  if (!fn_) throw ValueError("Constraint: called an empty constraint");
  return fn_(w);
}

void Constraint::apply_(const Tensor& param) const {
  require_defined(param, "Constraint::apply_", "param");
  NoGradGuard no_grad;
  Tensor projected = (*this)(param.detach());
  if (!projected.defined() || projected.shape() != param.shape())
    throw ShapeError(fmt::format("Constraint: the constraint returned shape {} for a parameter of shape {}",
                                 projected.defined() ? shape_str(projected.shape()) : "(undefined)",
                                 shape_str(param.shape())));
  if (projected.dtype() != param.dtype()) projected = projected.to(param.dtype());
  if (projected.device() != param.device()) projected = projected.to(param.device());
  param.backend().copy(param.raw_data(), projected.raw_data(),
                       static_cast<std::size_t>(param.numel()) * dtype_size(param.dtype()));
}

MaxNorm::MaxNorm(double max, Axes axes) : max_value(max), axis(std::move(axes)) {
  if (!(max_value >= 0)) throw ValueError(fmt::format("MaxNorm: max_value must be >= 0, got {}", max_value));
}

Tensor MaxNorm::operator()(const Tensor& w) const {
  check_floating("MaxNorm", w);
  return rescale_by_norm("MaxNorm", w, axis,
                         [&](double norm) { return std::clamp(norm, 0.0, max_value) / (kEpsilon + norm); });
}

Tensor NonNeg::operator()(const Tensor& w) const {
  check_floating("NonNeg", w);
  std::vector<double> values = w.to_vector();
  for (double& v : values) v *= v >= 0 ? 1.0 : 0.0;
  return from_vector(values, w.shape(), w.dtype(), w.device());
}

UnitNorm::UnitNorm(Axes axes) : axis(std::move(axes)) {}

Tensor UnitNorm::operator()(const Tensor& w) const {
  check_floating("UnitNorm", w);
  return rescale_by_norm("UnitNorm", w, axis, [](double norm) { return 1.0 / (kEpsilon + norm); });
}

MinMaxNorm::MinMaxNorm(double min, double max, double r, Axes axes)
    : min_value(min), max_value(max), rate(r), axis(std::move(axes)) {
  if (!(min_value >= 0 && min_value <= max_value))
    throw ValueError(fmt::format("MinMaxNorm: need 0 <= min_value <= max_value, got min_value={} max_value={}",
                                 min_value, max_value));
  if (!(rate >= 0 && rate <= 1)) throw ValueError(fmt::format("MinMaxNorm: rate must be in [0, 1], got {}", rate));
}

Tensor MinMaxNorm::operator()(const Tensor& w) const {
  check_floating("MinMaxNorm", w);
  return rescale_by_norm("MinMaxNorm", w, axis, [&](double norm) {
    const double desired = rate * std::clamp(norm, min_value, max_value) + (1 - rate) * norm;
    return desired / (kEpsilon + norm);
  });
}

}  // namespace xgrad::nn
