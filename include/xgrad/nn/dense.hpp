#pragma once
// Dense: Keras's densely connected layer, out = activation(x @ kernel + bias) on the last axis.
#include <cstdint>
#include <optional>

#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/regularizers.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::nn {

/// Dense's arguments, named as in Keras, for designated initializers:
/// `Dense({.units = 64, .activation = "relu", .kernel_regularizer = L2(1e-4)})`.
struct DenseOptions {
  std::int64_t units = 0;                           ///< output features (> 0)
  Activation activation = {};                       ///< applied after the bias; linear by default
  bool use_bias = true;                             ///< whether to add a `bias` vector
  Initializer kernel_initializer = "glorot_uniform";  ///< draws `kernel` (in, units)
  Initializer bias_initializer = "zeros";           ///< draws `bias` (units,)
  Regularizer kernel_regularizer = {};              ///< penalty on `kernel`, in regularization_loss()
  Regularizer bias_regularizer = {};                ///< penalty on `bias`
  Regularizer activity_regularizer = {};            ///< penalty on the output, divided by the batch size
  Constraint kernel_constraint = {};                ///< projection of `kernel` in apply_constraints()
  Constraint bias_constraint = {};                  ///< projection of `bias`
  std::int64_t input_dim = 0;                       ///< build the weights now for this input size (0: on first call)
  DType dtype = DType::float32;                     ///< dtype of the weights (and of accepted inputs)
  std::optional<std::uint64_t> seed = {};           ///< seed of the initializers (default: next_seed())
};

/// Keras Dense (torch.nn.Linear): out = activation(x @ kernel + bias) over the last axis of an input
/// of any rank >= 1. The weights are built from the input's last extent on the first call, or up
/// front when `input_dim` is given, by build(), or by io::load; until then the layer is unbuilt and
/// named_trainable_parameters() refuses it (docs/layers.md, "Weights built from the input").
class Dense : public Layer {
 public:
  /// A layer with `options`; throws ValueError when units <= 0 or input_dim < 0.
  explicit Dense(DenseOptions options);
  /// Dense({.units = units, .activation = activation}).
  explicit Dense(std::int64_t units, Activation activation = {});

  /// activation(x @ kernel + bias); throws ShapeError when x's last extent differs from the built one,
  /// TypeError when x's dtype differs from the layer's.
  Tensor forward(const Tensor& x) override;
  /// Creates `kernel` (input_dim, units) and `bias` (units,); throws ShapeError if already built
  /// for another input_dim.
  void build(std::int64_t input_dim);
  /// Whether the weights exist.
  bool built() const override { return kernel_.defined(); }
  /// The (input_dim, units) kernel; undefined before build.
  const Tensor& kernel() const { return kernel_; }
  /// The (units,) bias; undefined before build or without use_bias.
  const Tensor& bias() const { return bias_; }
  /// The options the layer was made with.
  const DenseOptions& options() const { return options_; }

 protected:
  /// kernel_regularizer(kernel) + bias_regularizer(bias).
  Tensor own_regularization_loss() const override;
  /// Projects kernel and bias onto their constraints.
  void apply_own_constraints() override;
  /// Units and activation (and "unbuilt" before the first call), for summary().
  std::string describe() const override;
  /// The ways to build the weights before a call, for the error of an unbuilt model.
  std::string build_hint() const override;
  /// build(in) from a `kernel` shape (in, units).
  void build_own_from_shapes(const std::function<const Shape*(const std::string&)>& shape_of) override;

 private:
  DenseOptions options_;
  Generator gen_;
  Tensor kernel_;
  Tensor bias_;
};

}  // namespace xgrad::nn
