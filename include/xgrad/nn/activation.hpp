#pragma once
// Activations by Keras name or as any callable, and the activation layers.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "xgrad/nn/module.hpp"

namespace xgrad::nn {

/// The function an Activation wraps.
using ActivationFn = std::function<Tensor(const Tensor&)>;

/// An elementwise (or softmax) activation: a Keras name, any callable, or linear (the default, Keras's None).
class Activation {
 public:
  /// The identity ("linear").
  Activation() = default;
  /// The identity, as Keras's `activation=None`.
  Activation(std::nullptr_t) {}  // NOLINT: implicit, so `.activation = nullptr` reads like Keras
  /// The Keras activation `name`: "linear", "relu", "tanh", "sigmoid", "gelu" (exact erf form, Keras's
  /// default approximate=False) or "softmax" (last axis); throws ValueError listing them otherwise.
  Activation(const std::string& name);  // NOLINT: implicit, so options accept "relu"
  /// Same as Activation(std::string(name)).
  Activation(const char* name) : Activation(std::string(name)) {}  // NOLINT
  /// Any callable `Tensor(const Tensor&)`, shown as `name`.
  template <class F>
    requires std::is_invocable_r_v<Tensor, F, const Tensor&> && (!std::is_convertible_v<F, std::string>) &&
             (!std::is_same_v<std::decay_t<F>, std::nullptr_t>)
  Activation(F fn, std::string name = "custom") : fn_(std::move(fn)), name_(std::move(name)) {}  // NOLINT

  /// Applies the activation (returns `x` itself when linear).
  Tensor operator()(const Tensor& x) const { return fn_ ? fn_(x) : x; }
  /// Whether this is the identity.
  bool is_linear() const { return !fn_; }
  /// The Keras name, or "custom".
  const std::string& name() const { return name_; }

 private:
  ActivationFn fn_;
  std::string name_ = "linear";
};

/// Keras `Activation` layer: applies any Activation.
class ActivationLayer : public Layer {
 public:
  /// A layer applying `activation`.
  explicit ActivationLayer(Activation activation);
  /// activation(x).
  Tensor forward(const Tensor& x) override { return activation_(x); }

 protected:
  /// The activation's name, for summary().
  std::string describe() const override { return activation_.name(); }

 private:
  Activation activation_;
};

/// max(x, 0) (Keras ReLU with its defaults).
class ReLU : public Layer {
 public:
  /// A ReLU layer.
  ReLU() : Layer("ReLU") {}
  /// max(x, 0).
  Tensor forward(const Tensor& x) override;
};

/// Hyperbolic tangent.
class Tanh : public Layer {
 public:
  /// A tanh layer.
  Tanh() : Layer("Tanh") {}
  /// tanh(x).
  Tensor forward(const Tensor& x) override;
};

/// Logistic sigmoid.
class Sigmoid : public Layer {
 public:
  /// A sigmoid layer.
  Sigmoid() : Layer("Sigmoid") {}
  /// 1 / (1 + exp(-x)).
  Tensor forward(const Tensor& x) override;
};

/// Gaussian error linear unit.
class GELU : public Layer {
 public:
  /// The exact (erf) form, or the tanh approximation with `approximate`.
  explicit GELU(bool approximate = false) : Layer("GELU"), approximate_(approximate) {}
  /// gelu(x).
  Tensor forward(const Tensor& x) override;

 private:
  bool approximate_;
};

/// Softmax along one axis (Keras Softmax(axis=-1)).
class Softmax : public Layer {
 public:
  /// Softmax over `axis` (negative counts from the end); checked against the input's rank when called.
  explicit Softmax(std::int64_t axis = -1) : Layer("Softmax"), axis_(axis) {}
  /// softmax(x, axis).
  Tensor forward(const Tensor& x) override;

 private:
  std::int64_t axis_;
};

}  // namespace xgrad::nn
