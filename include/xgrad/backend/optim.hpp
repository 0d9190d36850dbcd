#pragma once
// Kernel table of the optimizers: one fused in-place loop per update rule, plus the reductions and
// scalings that gradient clipping needs. Each update reads and writes every state buffer once, so a
// step costs one pass over the parameters and allocates nothing.
#include <cstdint>

#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// Hyperparameters of one SGD update (PyTorch semantics).
struct SgdStep {
  double lr = 0.0;            ///< learning rate
  double momentum = 0.0;      ///< momentum factor; 0 disables the buffer
  double dampening = 0.0;     ///< scales the new gradient's share of the buffer by (1 - dampening)
  double weight_decay = 0.0;  ///< L2 penalty added to the gradient
  bool nesterov = false;      ///< look-ahead: step along grad + momentum * buffer
  bool first = false;         ///< first update of this parameter: the buffer is set to the gradient
};

/// Hyperparameters of one Adam/AdamW update (PyTorch semantics).
struct AdamStep {
  double lr = 0.0;               ///< learning rate
  double beta1 = 0.9;            ///< decay of the first moment
  double beta2 = 0.999;          ///< decay of the second moment
  double eps = 1e-8;             ///< added to the bias-corrected root of the second moment
  double weight_decay = 0.0;     ///< L2 on the gradient (Adam) or decoupled shrinkage (AdamW)
  bool decoupled = false;        ///< AdamW: param *= 1 - lr * weight_decay instead of L2
  bool amsgrad = false;          ///< normalise by the running maximum of the second moment
  std::int64_t step = 1;         ///< this parameter's update count, including this update (>= 1)
};

/// Hyperparameters of one RMSprop update (PyTorch semantics).
struct RmspropStep {
  double lr = 0.0;            ///< learning rate
  double alpha = 0.99;        ///< decay of the squared-gradient average
  double eps = 1e-8;          ///< added to the root of the average
  double momentum = 0.0;      ///< momentum factor; 0 disables the buffer
  double weight_decay = 0.0;  ///< L2 penalty added to the gradient
  bool centered = false;      ///< subtract the squared mean gradient (variance instead of second moment)
};

/// Device kernels behind the optimizers and gradient clipping. All pointers address `n` contiguous
/// elements of the floating `dtype`; updates are in place.
class OptimKernels {
 public:
  virtual ~OptimKernels() = default;

  /// SGD: param -= lr * d, d from grad, weight decay and the momentum buffer (may be null when momentum is 0).
  virtual void sgd(DType dtype, void* param, const void* grad, void* momentum_buffer, std::int64_t n,
                   const SgdStep& h) const = 0;
  /// Adam/AdamW; `max_exp_avg_sq` may be null unless h.amsgrad.
  virtual void adam(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq,
                    void* max_exp_avg_sq, std::int64_t n, const AdamStep& h) const = 0;
  /// RMSprop; `grad_avg` may be null unless h.centered, `momentum_buffer` null unless h.momentum > 0.
  virtual void rmsprop(DType dtype, void* param, const void* grad, void* square_avg, void* grad_avg,
                       void* momentum_buffer, std::int64_t n, const RmspropStep& h) const = 0;

  /// sum(|x|^p) accumulated in double (p > 0, finite). Returns a value to the host (waits for queued work).
  virtual double sum_abs_pow(DType dtype, const void* x, std::int64_t n, double p) const = 0;
  /// max(|x|), 0 for n == 0; NaN if any element is NaN. Returns a value to the host (waits for queued work).
  virtual double max_abs(DType dtype, const void* x, std::int64_t n) const = 0;
  /// x *= factor.
  virtual void scale(DType dtype, void* x, std::int64_t n, double factor) const = 0;
  /// x = min(max(x, low), high).
  virtual void clamp(DType dtype, void* x, std::int64_t n, double low, double high) const = 0;
};

}  // namespace xgrad
