#include "xgrad/nn/activation.hpp"

#include <fmt/format.h>

#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/nn.hpp"

namespace xgrad::nn {

Activation::Activation(const std::string& name) : name_(name) {
  if (name == "linear") return;
  if (name == "relu") fn_ = [](const Tensor& x) { return relu(x); };
  else if (name == "tanh") fn_ = [](const Tensor& x) { return tanh(x); };
  else if (name == "sigmoid") fn_ = [](const Tensor& x) { return sigmoid(x); };
  else if (name == "gelu") fn_ = [](const Tensor& x) { return gelu(x, false); };
  else if (name == "softmax") fn_ = [](const Tensor& x) { return softmax(x, -1); };
  else
    throw ValueError(fmt::format(
        "Activation: unknown activation '{}'; valid names are: linear, relu, tanh, sigmoid, gelu, softmax "
        "(or pass a callable)",
        name));
}

ActivationLayer::ActivationLayer(Activation activation) : Layer("Activation"), activation_(std::move(activation)) {}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate_); }

Tensor Softmax::forward(const Tensor& x) {
  require_defined(x, "Softmax", "x");
  normalize_axis(axis_, x.dim(), "Softmax");  // names the layer in the IndexError
  return softmax(x, axis_);
}

}  // namespace xgrad::nn
