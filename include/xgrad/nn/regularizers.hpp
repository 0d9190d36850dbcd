#pragma once
// Weight and activity penalties with Keras 3's names and defaults. A Regularizer maps a tensor to a
// scalar loss tensor recorded on the tape, so the penalty's gradient reaches the weights.
#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

/// The function a Regularizer wraps.
using RegularizerFn = std::function<Tensor(const Tensor&)>;

/// A penalty `x -> scalar loss`; default-constructed it is empty (no penalty), as Keras's None.
class Regularizer {
 public:
  /// No penalty.
  Regularizer() = default;
  /// No penalty, as Keras's None.
  Regularizer(std::nullptr_t) {}  // NOLINT: implicit, so options accept nullptr
  /// The Keras regularizer `name` with its defaults ("l1", "l2", "l1_l2"); throws ValueError otherwise.
  Regularizer(const std::string& name);  // NOLINT: implicit, so options accept "l2"
  /// Same as Regularizer(std::string(name)).
  Regularizer(const char* name) : Regularizer(std::string(name)) {}  // NOLINT
  /// Any callable `Tensor(const Tensor&)` returning a scalar.
  template <class F>
    requires std::is_invocable_r_v<Tensor, F, const Tensor&> && (!std::is_convertible_v<F, std::string>) &&
             (!std::is_same_v<std::decay_t<F>, std::nullptr_t>)
  Regularizer(F fn) : fn_(std::move(fn)) {}  // NOLINT

  /// Whether a penalty is set.
  explicit operator bool() const { return static_cast<bool>(fn_); }
  /// The penalty of `x` (a scalar tensor); throws ValueError when empty.
  Tensor operator()(const Tensor& x) const;

 private:
  RegularizerFn fn_;
};

/// Keras L1: l1 * sum(|x|). Throws ValueError for a negative or non-finite factor.
struct L1 {
  double l1 = 0.01;  ///< penalty factor
  /// A penalty of factor `l1`.
  explicit L1(double l1 = 0.01);
  /// l1 * sum(|x|).
  Tensor operator()(const Tensor& x) const;
};

/// Keras L2: l2 * sum(x^2) (no 1/2). Throws ValueError for a negative or non-finite factor.
struct L2 {
  double l2 = 0.01;  ///< penalty factor
  /// A penalty of factor `l2`.
  explicit L2(double l2 = 0.01);
  /// l2 * sum(x^2).
  Tensor operator()(const Tensor& x) const;
};

/// Keras L1L2: l1 * sum(|x|) + l2 * sum(x^2); both factors default to 0 as in Keras 3's class.
struct L1L2 {
  double l1 = 0.0;  ///< L1 factor
  double l2 = 0.0;  ///< L2 factor
  /// A penalty with factors `l1` and `l2`.
  explicit L1L2(double l1 = 0.0, double l2 = 0.0);
  /// l1 * sum(|x|) + l2 * sum(x^2), skipping a zero term.
  Tensor operator()(const Tensor& x) const;
};

}  // namespace xgrad::nn
