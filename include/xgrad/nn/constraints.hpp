#pragma once
// Weight constraints with Keras 3's names, arguments and formulas. A constraint maps a weight to its
// projection; Module::apply_constraints() writes that projection back into the parameter's data in
// place, without recording on the tape (call it after an optimizer step, as Keras does).
#include <cstdint>
#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

/// Axes a norm is taken over (Keras's `axis`, an int or a list): `{0}`, `{0, 1}`; `{}` means every axis.
using Axes = std::vector<std::int64_t>;

/// The function a Constraint wraps: returns the projected weight, shaped like its input.
using ConstraintFn = std::function<Tensor(const Tensor&)>;

/// A projection of a weight; default-constructed it is empty (no constraint), as Keras's None.
class Constraint {
 public:
  /// No constraint.
  Constraint() = default;
  /// No constraint, as Keras's None.
  Constraint(std::nullptr_t) {}  // NOLINT: implicit, so options accept nullptr
  /// The Keras constraint `name` with its defaults ("max_norm", "non_neg", "unit_norm",
  /// "min_max_norm"); throws ValueError listing the valid names otherwise.
  Constraint(const std::string& name);  // NOLINT: implicit, so options accept "non_neg"
  /// Same as Constraint(std::string(name)).
  Constraint(const char* name) : Constraint(std::string(name)) {}  // NOLINT
  /// Any callable `Tensor(const Tensor&)` returning a tensor of its argument's shape.
  template <class F>
    requires std::is_invocable_r_v<Tensor, F, const Tensor&> && (!std::is_convertible_v<F, std::string>) &&
             (!std::is_same_v<std::decay_t<F>, std::nullptr_t>)
  Constraint(F fn) : fn_(std::move(fn)) {}  // NOLINT

  /// Whether a constraint is set.
  explicit operator bool() const { return static_cast<bool>(fn_); }
  /// The projection of `w` (a new tensor); throws ValueError when empty.
  Tensor operator()(const Tensor& w) const;
  /// Overwrites `param`'s data with its projection, without recording; throws ShapeError when the
  /// function returns another shape.
  void apply_(const Tensor& param) const;

 private:
  ConstraintFn fn_;
};

/// Keras MaxNorm: rescales each slice (norm over `axis`) whose L2 norm exceeds `max_value`:
/// w * clip(norm, 0, max_value) / (1e-7 + norm).
struct MaxNorm {
  double max_value = 2.0;  ///< largest allowed norm
  Axes axis = {0};         ///< axes the norm is taken over ({0}: each column of a Dense kernel)
  /// Throws ValueError for a negative max_value.
  explicit MaxNorm(double max_value = 2.0, Axes axis = {0});
  /// The projected weight.
  Tensor operator()(const Tensor& w) const;
};

/// Keras NonNeg: w * (w >= 0).
struct NonNeg {
  /// The projected weight.
  Tensor operator()(const Tensor& w) const;
};

/// Keras UnitNorm: w / (1e-7 + norm over `axis`).
struct UnitNorm {
  Axes axis = {0};  ///< axes the norm is taken over
  /// A unit-norm constraint over `axis`.
  explicit UnitNorm(Axes axis = {0});
  /// The projected weight.
  Tensor operator()(const Tensor& w) const;
};

/// Keras MinMaxNorm: w * (rate * clip(norm, min_value, max_value) + (1 - rate) * norm) / (1e-7 + norm).
struct MinMaxNorm {
  double min_value = 0.0;  ///< smallest allowed norm
  double max_value = 1.0;  ///< largest allowed norm
  double rate = 1.0;       ///< 1: enforce strictly; < 1: move part of the way each call
  Axes axis = {0};         ///< axes the norm is taken over
  /// Throws ValueError unless 0 <= min_value <= max_value and 0 <= rate <= 1.
  explicit MinMaxNorm(double min_value = 0.0, double max_value = 1.0, double rate = 1.0, Axes axis = {0});
  /// The projected weight.
  Tensor operator()(const Tensor& w) const;
};

}  // namespace xgrad::nn
