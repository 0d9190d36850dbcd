#pragma once
// SGD, Adam, AdamW and RMSprop with PyTorch's update formulas and defaults. Options are aggregates,
// so call sites read like keyword arguments:
//   optim::AdamW opt(model.named_trainable_parameters(), {.lr = 3e-4, .weight_decay = 0.1});
#include "xgrad/optim/optimizer.hpp"

namespace xgrad::optim {

/// Options of SGD (torch.optim.SGD).
struct SGDOptions {
  double lr = 1e-2;            ///< learning rate (>= 0)
  double momentum = 0.0;       ///< momentum factor (>= 0); 0 keeps no buffer
  double dampening = 0.0;      ///< the new gradient enters the buffer scaled by 1 - dampening
  double weight_decay = 0.0;   ///< L2 penalty added to the gradient (>= 0)
  bool nesterov = false;       ///< Nesterov momentum; needs momentum > 0 and dampening 0
};

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight decay:
/// d = g + wd * p; buf = momentum * buf + (1 - dampening) * d (buf = d on the first step);
/// d = nesterov ? d + momentum * buf : buf; p -= lr * d.
/// State: "momentum_buffer.<name>" when momentum > 0.
class SGD : public Optimizer {
 public:
  /// Validates `options` (ValueError naming the bad field) and allocates the momentum buffers.
  explicit SGD(std::vector<NamedTensor> params, const SGDOptions& options = {});
  /// The options, with lr the current learning rate.
  SGDOptions options() const;

 protected:
  void update(std::size_t i, const Tensor& param, const Tensor& grad, std::int64_t step) override;

 private:
  SGDOptions options_;
  std::size_t momentum_ = no_buffer;
};

/// Options of Adam (torch.optim.Adam).
struct AdamOptions {
  double lr = 1e-3;            ///< learning rate (>= 0)
  double beta1 = 0.9;          ///< decay of the first moment, in [0, 1)
  double beta2 = 0.999;        ///< decay of the second moment, in [0, 1)
  double eps = 1e-8;           ///< added to the denominator (>= 0)
  double weight_decay = 0.0;   ///< L2 penalty added to the gradient (>= 0)
  bool amsgrad = false;        ///< use the running maximum of the second moment
};

/// Options of AdamW (torch.optim.AdamW); as AdamOptions but decay is decoupled and defaults to 1e-2.
struct AdamWOptions {
  double lr = 1e-3;            ///< learning rate (>= 0)
  double beta1 = 0.9;          ///< decay of the first moment, in [0, 1)
  double beta2 = 0.999;        ///< decay of the second moment, in [0, 1)
  double eps = 1e-8;           ///< added to the denominator (>= 0)
  double weight_decay = 1e-2;  ///< decoupled decay: p *= 1 - lr * weight_decay before the Adam step (>= 0)
  bool amsgrad = false;        ///< use the running maximum of the second moment
};

/// Adam (Kingma & Ba) with L2 weight decay added to the gradient:
/// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
/// State: "exp_avg.<name>", "exp_avg_sq.<name>", and "max_exp_avg_sq.<name>" with amsgrad.
class Adam : public Optimizer {
 public:
  /// Validates `options` (ValueError naming the bad field) and allocates the moment buffers.
  explicit Adam(std::vector<NamedTensor> params, const AdamOptions& options = {});
  /// The options, with lr the current learning rate.
  AdamOptions options() const;
  /// True for AdamW (decoupled weight decay).
  bool decoupled() const { return decoupled_; }

 protected:
  /// The shared implementation: `decoupled` selects AdamW's weight decay.
  Adam(std::string name, std::vector<NamedTensor> params, const AdamOptions& options, bool decoupled);
  void update(std::size_t i, const Tensor& param, const Tensor& grad, std::int64_t step) override;

 private:
  AdamOptions options_;
  bool decoupled_ = false;
  std::size_t exp_avg_ = no_buffer, exp_avg_sq_ = no_buffer, max_exp_avg_sq_ = no_buffer;
};

/// AdamW (Loshchilov & Hutter): Adam whose weight decay shrinks the parameter directly,
/// p *= 1 - lr * weight_decay, instead of entering the moments. Same state keys as Adam.
class AdamW : public Adam {
 public:
  /// Validates `options` and allocates the moment buffers.
  explicit AdamW(std::vector<NamedTensor> params, const AdamWOptions& options = {});
};

/// Options of RMSprop (torch.optim.RMSprop).
struct RMSpropOptions {
  double lr = 1e-2;            ///< learning rate (>= 0)
  double alpha = 0.99;         ///< decay of the squared-gradient average (>= 0)
  double eps = 1e-8;           ///< added to the root of the average (>= 0)
  double weight_decay = 0.0;   ///< L2 penalty added to the gradient (>= 0)
  double momentum = 0.0;       ///< momentum factor (>= 0); 0 keeps no buffer
  bool centered = false;       ///< normalise by the variance estimate sq - mean(g)^2
};

/// RMSprop: sq = alpha sq + (1 - alpha) g^2; avg = sqrt(sq [- ga^2 if centered]) + eps;
/// buf = momentum buf + g / avg, p -= lr buf (or p -= lr g / avg without momentum).
/// State: "square_avg.<name>", "momentum_buffer.<name>" (momentum > 0), "grad_avg.<name>" (centered).
class RMSprop : public Optimizer {
 public:
  /// Validates `options` (ValueError naming the bad field) and allocates the buffers.
  explicit RMSprop(std::vector<NamedTensor> params, const RMSpropOptions& options = {});
  /// The options, with lr the current learning rate.
  RMSpropOptions options() const;

 protected:
  void update(std::size_t i, const Tensor& param, const Tensor& grad, std::int64_t step) override;

 private:
  RMSpropOptions options_;
  std::size_t square_avg_ = no_buffer, momentum_ = no_buffer, grad_avg_ = no_buffer;
};

}  // namespace xgrad::optim
