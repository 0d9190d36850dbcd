#include "xgrad/nn/dense.hpp"

#include <fmt/format.h>

#include "nn/penalties.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/shape.hpp"

namespace xgrad::nn {

Dense::Dense(DenseOptions options)
    : Layer("Dense", options.dtype), options_(std::move(options)), gen_(seed_or_next(options_.seed)) {
  options_.seed = gen_.initial_seed();
  if (options_.units <= 0)
    throw ValueError(fmt::format("Dense: units must be a positive integer, got {}", options_.units));
  if (options_.input_dim < 0)
    throw ValueError(fmt::format("Dense: input_dim must be positive (or 0 to build on the first call), got {}",
                                 options_.input_dim));
  if (options_.input_dim > 0) build(options_.input_dim);
}

Dense::Dense(std::int64_t units, Activation activation)
    : Dense(DenseOptions{.units = units, .activation = std::move(activation)}) {}

void Dense::build(std::int64_t input_dim) {
  if (built()) {
    if (kernel_.size(0) != input_dim)
      throw ShapeError(fmt::format("Dense: already built for input_dim {} (kernel {}), cannot rebuild for {}",
                                   kernel_.size(0), shape_str(kernel_.shape()), input_dim));
    return;
  }
  if (input_dim <= 0) throw ValueError(fmt::format("Dense: input_dim must be positive, got {}", input_dim));
  kernel_ = register_parameter("kernel", options_.kernel_initializer({input_dim, options_.units}, dtype(), gen_, device()));
  if (options_.use_bias)
    bias_ = register_parameter("bias", options_.bias_initializer({options_.units}, dtype(), gen_, device()));
}

Tensor Dense::forward(const Tensor& x) {
  clear_activity_losses();
  require_defined(x, "Dense", "x");
  if (x.dim() == 0) throw ShapeError("Dense: input must have at least one axis, got shape ()");
  const std::int64_t in = x.size(-1);
  if (built() && in != kernel_.size(0))
    throw ShapeError(fmt::format("Dense: input shape {} has last dimension {}, but the layer was built for "
                                 "input_dim {} (kernel {})",
                                 shape_str(x.shape()), in, kernel_.size(0), shape_str(kernel_.shape())));
  if (x.dtype() != dtype())
    throw TypeError(fmt::format("Dense: input of shape {} has dtype {} but the layer's weights are {}; convert "
                                "the input with .to() or set DenseOptions::dtype",
                                shape_str(x.shape()), dtype_name(x.dtype()), dtype_name(dtype())));
  if (in == 0) throw ShapeError(fmt::format("Dense: input shape {} has an empty last axis", shape_str(x.shape())));
  build(in);
  // One GEMM over every leading position: (..., in) -> (N, in) @ (in, units) -> (..., units).
  Shape out_shape = x.shape();
  out_shape.back() = options_.units;
  Tensor h = linear(x.dim() == 2 ? x : reshape(x, {-1, in}), kernel_, bias_);
  if (x.dim() != 2) h = reshape(h, out_shape);
  h = options_.activation(h);
  if (options_.activity_regularizer) add_activity_loss(detail::activity_penalty(options_.activity_regularizer, h));
  return h;
}

Tensor Dense::own_regularization_loss() const {
  Tensor total;
  detail::add_penalty(total, options_.kernel_regularizer, kernel_);
  detail::add_penalty(total, options_.bias_regularizer, bias_);
  return total;
}

void Dense::apply_own_constraints() {
  if (options_.kernel_constraint && kernel_.defined()) options_.kernel_constraint.apply_(kernel_);
  if (options_.bias_constraint && bias_.defined()) options_.bias_constraint.apply_(bias_);
}

std::string Dense::build_hint() const {
  return fmt::format("its kernel is (input_dim, {}); set DenseOptions::input_dim, call build(input_dim), "
                     "io::load a checkpoint, or run one forward pass",
                     options_.units);
}

void Dense::build_own_from_shapes(const std::function<const Shape*(const std::string&)>& shape_of) {
  if (const Shape* kernel = shape_of("kernel"); kernel && kernel->size() == 2) build(kernel->front());
}

std::string Dense::describe() const {
  return fmt::format("units={}, {}{}", options_.units, options_.activation.name(), built() ? "" : " (unbuilt)");
}

}  // namespace xgrad::nn
