// The update rules: each validates its options like torch.optim, allocates its buffers once, and
// hands every step to one fused kernel per parameter.
#include "xgrad/optim/optimizers.hpp"

#include <fmt/format.h>

#include "xgrad/backend/optim.hpp"

namespace xgrad::optim {

// ---- SGD ---------------------------------------------------------------------------------------

SGD::SGD(std::vector<NamedTensor> params, const SGDOptions& o)
    : Optimizer("SGD", std::move(params), o.lr), options_(o) {
  require(o.momentum >= 0.0, "momentum", ">= 0", o.momentum);
  require(o.weight_decay >= 0.0, "weight_decay", ">= 0", o.weight_decay);
  require(o.dampening >= 0.0 && o.dampening <= 1.0, "dampening", "in [0, 1]", o.dampening);
  if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
    throw ValueError(fmt::format("SGD: nesterov momentum requires momentum > 0 and dampening 0, got momentum {} "
                                 "and dampening {}", o.momentum, o.dampening));
  if (o.momentum > 0.0) momentum_ = add_buffers("momentum_buffer");
}

SGDOptions SGD::options() const {
  SGDOptions o = options_;
  o.lr = learning_rate();
  return o;
}

void SGD::update(std::size_t i, const Tensor& p, const Tensor& g, std::int64_t step) {
  const SgdStep h{learning_rate(), options_.momentum, options_.dampening, options_.weight_decay,
                  options_.nesterov, step == 1};
  p.backend().optim()
      .sgd(p.dtype(), p.raw_data(), g.raw_data(), buffer_data(momentum_, i),
           p.numel(), h);
}

// ---- Adam / AdamW --------------------------------------------------------------------------------

Adam::Adam(std::vector<NamedTensor> params, const AdamOptions& options)
    : Adam("Adam", std::move(params), options, false) {}

Adam::Adam(std::string name, std::vector<NamedTensor> params, const AdamOptions& o, bool decoupled)
    : Optimizer(std::move(name), std::move(params), o.lr), options_(o), decoupled_(decoupled) {
  require(o.eps >= 0.0, "eps", ">= 0", o.eps);
  require(o.beta1 >= 0.0 && o.beta1 < 1.0, "beta1", "in [0, 1)", o.beta1);
  require(o.beta2 >= 0.0 && o.beta2 < 1.0, "beta2", "in [0, 1)", o.beta2);
  require(o.weight_decay >= 0.0, "weight_decay", ">= 0", o.weight_decay);
  exp_avg_ = add_buffers("exp_avg");
  exp_avg_sq_ = add_buffers("exp_avg_sq");
  if (o.amsgrad) max_exp_avg_sq_ = add_buffers("max_exp_avg_sq");
}

AdamOptions Adam::options() const {
  AdamOptions o = options_;
  o.lr = learning_rate();
  return o;
}

void Adam::update(std::size_t i, const Tensor& p, const Tensor& g, std::int64_t step) {
  const AdamStep h{learning_rate(), options_.beta1,   options_.beta2, options_.eps, options_.weight_decay,
                   decoupled_,      options_.amsgrad, step};
  p.backend().optim()
      .adam(p.dtype(), p.raw_data(), g.raw_data(), buffer_data(exp_avg_, i), buffer_data(exp_avg_sq_, i),
            buffer_data(max_exp_avg_sq_, i), p.numel(), h);
}

AdamW::AdamW(std::vector<NamedTensor> params, const AdamWOptions& o)
    : Adam("AdamW", std::move(params), AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad}, true) {}

// ---- RMSprop -------------------------------------------------------------------------------------

RMSprop::RMSprop(std::vector<NamedTensor> params, const RMSpropOptions& o)
    : Optimizer("RMSprop", std::move(params), o.lr), options_(o) {
  require(o.alpha >= 0.0, "alpha", ">= 0", o.alpha);
  require(o.eps >= 0.0, "eps", ">= 0", o.eps);
  require(o.momentum >= 0.0, "momentum", ">= 0", o.momentum);
  require(o.weight_decay >= 0.0, "weight_decay", ">= 0", o.weight_decay);
  square_avg_ = add_buffers("square_avg");
  if (o.momentum > 0.0) momentum_ = add_buffers("momentum_buffer");
  if (o.centered) grad_avg_ = add_buffers("grad_avg");
}

RMSpropOptions RMSprop::options() const {
  RMSpropOptions o = options_;
  o.lr = learning_rate();
  return o;
}

void RMSprop::update(std::size_t i, const Tensor& p, const Tensor& g, std::int64_t) {
  const RmspropStep h{learning_rate(), options_.alpha, options_.eps, options_.momentum, options_.weight_decay,
                      options_.centered};
  p.backend().optim()
      .rmsprop(p.dtype(), p.raw_data(), g.raw_data(), buffer_data(square_avg_, i),
               buffer_data(grad_avg_, i),
               buffer_data(momentum_, i), p.numel(), h);
}

}  // namespace xgrad::optim
