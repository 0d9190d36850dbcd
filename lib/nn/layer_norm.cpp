#include "xgrad/nn/layer_norm.hpp"

#include <fmt/format.h>

#include "nn/penalties.hpp"
#include "xgrad/ops/nn.hpp"

namespace xgrad::nn {

LayerNorm::LayerNorm(LayerNormOptions options)
    : Layer("LayerNorm", options.dtype), options_(std::move(options)), gen_(seed_or_next(options_.seed)) {
  options_.seed = gen_.initial_seed();
  if (!(options_.epsilon >= 0))
    throw ValueError(fmt::format("LayerNorm: epsilon must be >= 0, got {}", options_.epsilon));
  if (options_.input_dim < 0)
    throw ValueError(fmt::format("LayerNorm: input_dim must be positive (or 0 to build on the first call), got {}",
                                 options_.input_dim));
  if (options_.input_dim > 0) build(options_.input_dim);
}

LayerNorm::LayerNorm(double epsilon, bool center, bool scale)
    : LayerNorm(LayerNormOptions{.epsilon = epsilon, .center = center, .scale = scale}) {}

void LayerNorm::build(std::int64_t input_dim) {
  if (built_dim_ > 0) {
    if (built_dim_ != input_dim)
      throw ShapeError(fmt::format("LayerNorm: already built for {} features, cannot rebuild for {}", built_dim_,
                                   input_dim));
    return;
  }
  if (input_dim <= 0) throw ValueError(fmt::format("LayerNorm: input_dim must be positive, got {}", input_dim));
  // Keras creates gamma before beta; the generator order follows it.
  if (options_.scale) gamma_ = register_parameter("gamma", options_.gamma_initializer({input_dim}, dtype(), gen_, device()));
  if (options_.center) beta_ = register_parameter("beta", options_.beta_initializer({input_dim}, dtype(), gen_, device()));
  built_dim_ = input_dim;
}

Tensor LayerNorm::forward(const Tensor& x) {
  require_defined(x, "LayerNorm", "x");
  if (x.dim() == 0) throw ShapeError("LayerNorm: input must have at least one axis, got shape ()");
  const std::int64_t features = x.size(-1);
  if (built_dim_ > 0 && features != built_dim_)
    throw ShapeError(fmt::format("LayerNorm: input shape {} has last dimension {}, but the layer was built for {}",
                                 shape_str(x.shape()), features, built_dim_));
  if (x.dtype() != dtype())
    throw TypeError(fmt::format("LayerNorm: input of shape {} has dtype {} but the layer's weights are {}",
                                shape_str(x.shape()), dtype_name(x.dtype()), dtype_name(dtype())));
  build(features);
  return layer_norm(x, gamma_, beta_, options_.epsilon);
}

Tensor LayerNorm::own_regularization_loss() const {
  Tensor total;
  detail::add_penalty(total, options_.gamma_regularizer, gamma_);
  detail::add_penalty(total, options_.beta_regularizer, beta_);
  return total;
}

void LayerNorm::apply_own_constraints() {
  if (options_.gamma_constraint && gamma_.defined()) options_.gamma_constraint.apply_(gamma_);
  if (options_.beta_constraint && beta_.defined()) options_.beta_constraint.apply_(beta_);
}

std::string LayerNorm::build_hint() const {
  return "gamma and beta are (input_dim,); set LayerNormOptions::input_dim, call build(input_dim), io::load a "
         "checkpoint, or run one forward pass";
}

void LayerNorm::build_own_from_shapes(const std::function<const Shape*(const std::string&)>& shape_of) {
  const Shape* shape = shape_of(options_.scale ? "gamma" : "beta");
  if (shape && shape->size() == 1) build(shape->front());
}

std::string LayerNorm::describe() const {
  return fmt::format("epsilon={}{}", options_.epsilon, built() ? "" : " (unbuilt)");
}

}  // namespace xgrad::nn
