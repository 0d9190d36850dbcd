#pragma once
// Weight initializers with Keras 3's names, arguments and defaults. An Initializer is a callable
// (shape, dtype, generator) -> tensor, built from a factory below or from its Keras name string, so
// layer options read like Keras: `.kernel_initializer = "he_normal"`.
#include <cstdint>
#include <functional>
#include <string>

#include "xgrad/tensor/generator.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

/// Fan-in and fan-out of a weight of `shape`, as Keras computes them: a scalar has 1 and 1, a vector
/// its length twice, a matrix (in, out), and a kernel of rank > 2 (..., in, out) multiplies both by
/// the receptive field (the product of the leading extents).
struct Fans {
  double fan_in = 1.0;   ///< inputs feeding one output unit
  double fan_out = 1.0;  ///< outputs fed by one input unit
};
/// The fans of `shape` (Keras `compute_fans`).
Fans compute_fans(const Shape& shape);

/// The function an Initializer wraps.
using InitFn = std::function<Tensor(const Shape&, DType, Generator&)>;

/// A weight initializer: a named callable producing a fresh tensor of the requested shape and dtype. The
/// values are computed on the host, then copied to the requested device, so a model gets the same initial
/// weights on every device.
class Initializer {
 public:
  /// Keras's default kernel initializer, glorot_uniform.
  Initializer();
  /// The initializer Keras calls `name` ("glorot_uniform", "he_normal", "zeros", "uniform", ...);
  /// throws ValueError listing the valid names for an unknown one.
  Initializer(const std::string& name);  // NOLINT: implicit, so options accept "he_normal"
  /// Same as Initializer(std::string(name)).
  Initializer(const char* name) : Initializer(std::string(name)) {}  // NOLINT
  /// A custom initializer `fn`, shown as `name` in messages.
  Initializer(InitFn fn, std::string name = "custom");

  /// Draws a tensor of `shape` and `dtype` (float32 or float64) from `gen`, placed on `device`.
  Tensor operator()(const Shape& shape, DType dtype, Generator& gen, Device device = {}) const;
  /// The Keras name (or "custom").
  const std::string& name() const { return name_; }

 private:
  InitFn fn_;
  std::string name_;
};

/// Factories with Keras's arguments and defaults (keras.initializers.*).
namespace initializers {

/// All zeros.
Initializer zeros();
/// All ones.
Initializer ones();
/// Every element equal to `value`.
Initializer constant(double value = 0.0);
/// Normal(mean, stddev) samples.
Initializer random_normal(double mean = 0.0, double stddev = 0.05);
/// Uniform samples in [minval, maxval).
Initializer random_uniform(double minval = -0.05, double maxval = 0.05);
/// Normal(mean, stddev) samples, redrawing any beyond two standard deviations from the mean.
Initializer truncated_normal(double mean = 0.0, double stddev = 0.05);
/// Keras VarianceScaling: scale / fan (mode "fan_in", "fan_out" or "fan_avg") sets the variance of a
/// "truncated_normal" (stddev corrected by 0.8796...; "normal" is read as this, as Keras does),
/// "untruncated_normal" or "uniform" distribution.
Initializer variance_scaling(double scale = 1.0, const std::string& mode = "fan_in",
                             const std::string& distribution = "truncated_normal");
/// Uniform in +-sqrt(6 / (fan_in + fan_out)).
Initializer glorot_uniform();
/// Truncated normal with stddev sqrt(2 / (fan_in + fan_out)) / 0.8796...
Initializer glorot_normal();
/// Uniform in +-sqrt(6 / fan_in).
Initializer he_uniform();
/// Truncated normal with stddev sqrt(2 / fan_in) / 0.8796...
Initializer he_normal();
/// Uniform in +-sqrt(3 / fan_in).
Initializer lecun_uniform();
/// Truncated normal with stddev sqrt(1 / fan_in) / 0.8796...
Initializer lecun_normal();
/// A (semi-)orthogonal matrix times `gain`, from the QR decomposition of a normal matrix; a kernel of
/// rank > 2 is flattened to (prod(shape[:-1]), shape[-1]). Throws ValueError below rank 2.
Initializer orthogonal(double gain = 1.0);
/// `gain` times the identity; 2-D shapes only (rectangular ones get ones on the main diagonal).
Initializer identity(double gain = 1.0);

}  // namespace initializers

}  // namespace xgrad::nn
