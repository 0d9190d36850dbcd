#pragma once
// LayerNorm: Keras's LayerNormalization over the last axis.
#include <cstdint>
#include <optional>

#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/regularizers.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::nn {

/// LayerNorm's arguments, named as in Keras's LayerNormalization (axis is always -1).
struct LayerNormOptions {
  double epsilon = 1e-3;                    ///< added to the variance: Keras's 1e-3 (torch, TransformerBlock: 1e-5)
  bool center = true;                       ///< add the learned offset `beta`
  bool scale = true;                        ///< multiply by the learned `gamma`
  Initializer beta_initializer = "zeros";   ///< draws `beta`
  Initializer gamma_initializer = "ones";   ///< draws `gamma`
  Regularizer beta_regularizer = {};        ///< penalty on `beta`
  Regularizer gamma_regularizer = {};       ///< penalty on `gamma`
  Constraint beta_constraint = {};          ///< projection of `beta`
  Constraint gamma_constraint = {};         ///< projection of `gamma`
  std::int64_t input_dim = 0;               ///< build the weights now for this feature size (0: on first call)
  DType dtype = DType::float32;             ///< dtype of the weights (and of accepted inputs)
  std::optional<std::uint64_t> seed = {};   ///< seed of the initializers (default: next_seed())
};

/// Keras LayerNormalization (torch.nn.LayerNorm over the last axis):
/// gamma * (x - mean) / sqrt(var + epsilon) + beta, statistics over the last axis, biased variance.
class LayerNorm : public Layer {
 public:
  /// A layer with `options`; throws ValueError for a negative epsilon or input_dim.
  explicit LayerNorm(LayerNormOptions options = {});
  /// LayerNorm({.epsilon = epsilon, .center = center, .scale = scale}).
  explicit LayerNorm(double epsilon, bool center = true, bool scale = true);

  /// Normalises x's last axis; throws ShapeError when it differs from the built size.
  Tensor forward(const Tensor& x) override;
  /// Creates `gamma` and `beta` of shape (input_dim,); throws ShapeError if built for another size.
  void build(std::int64_t input_dim);
  /// Whether gamma and beta exist (always true when neither `center` nor `scale` asks for them).
  bool built() const override { return built_dim_ > 0 || (!options_.center && !options_.scale); }
  /// The scale (undefined before build or without scale).
  const Tensor& gamma() const { return gamma_; }
  /// The offset (undefined before build or without center).
  const Tensor& beta() const { return beta_; }

 protected:
  /// gamma_regularizer(gamma) + beta_regularizer(beta).
  Tensor own_regularization_loss() const override;
  /// Projects gamma and beta onto their constraints.
  void apply_own_constraints() override;
  /// Epsilon (and "unbuilt"), for summary().
  std::string describe() const override;
  /// The ways to build gamma and beta before a call, for the error of an unbuilt model.
  std::string build_hint() const override;
  /// build(n) from a `gamma` or `beta` shape (n,).
  void build_own_from_shapes(const std::function<const Shape*(const std::string&)>& shape_of) override;

 private:
  LayerNormOptions options_;
  Generator gen_;
  std::int64_t built_dim_ = 0;
  Tensor gamma_;
  Tensor beta_;
};

}  // namespace xgrad::nn
