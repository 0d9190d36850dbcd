// The layer docs/tutorial.md builds in "Writing your own Module": a gated residual unit,
// out = x + scale * sigmoid(x·Wg + bg) * tanh(x·W + b), over the last axis of x.
#pragma once
#include <xgrad/xgrad.hpp>

/// A gated residual unit for inputs of `features` channels; the sub-modules do the products.
class GatedResidual : public xgrad::nn::Layer {
 public:
  /// Builds the weights now (the width is known), drawing them from `seed` and `seed + 1`.
  GatedResidual(std::int64_t features, std::uint64_t seed)
      : Layer("GatedResidual"),
        gate_({.units = features, .activation = "sigmoid", .input_dim = features, .seed = seed}),
        candidate_({.units = features, .activation = "tanh", .input_dim = features, .seed = seed + 1}) {
    register_module("gate", gate_);            // parameters "gate.kernel", "gate.bias"
    register_module("candidate", candidate_);  // parameters "candidate.kernel", "candidate.bias"
    scale_ = register_parameter("scale", xgrad::ones({1}));  // a learned scale of the residual branch
  }

  /// x + scale * gate(x) * candidate(x); every op is recorded, so backward() needs nothing more.
  xgrad::Tensor forward(const xgrad::Tensor& x) override { return x + scale_ * gate_(x) * candidate_(x); }

 private:
  xgrad::nn::Dense gate_, candidate_;
  xgrad::Tensor scale_;
};
