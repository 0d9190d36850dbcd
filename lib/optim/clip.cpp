#include "xgrad/optim/clip.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "xgrad/backend/optim.hpp"

namespace xgrad::optim {

namespace {

const Tensor& tensor_of(const Tensor& t) { return t; }
const Tensor& tensor_of(const NamedTensor& named) { return named.second; }

/// Calls fn(gradient) for every parameter in `params` that has one (no copies, no allocation).
template <class Params, class Fn>
void for_each_grad(const Params& params, Fn&& fn) {
  for (const auto& entry : params) {
    const Tensor& p = tensor_of(entry);
    if (p.defined() && p.impl().grad.defined()) fn(p.impl().grad, p.impl().grad.backend().optim());
  }
}

template <class Params>
double clip_norm(const Params& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  if (!(norm_type > 0.0))
    throw ValueError(fmt::format("clip_grad_norm: norm_type must be > 0 (or infinity), got {}", norm_type));
  if (!(max_norm >= 0.0)) throw ValueError(fmt::format("clip_grad_norm: max_norm must be >= 0, got {}", max_norm));
  const bool inf = std::isinf(norm_type);
  double acc = 0.0;  // sum of |g|^p, or the running max for the infinity norm
  for_each_grad(params, [&](const Tensor& g, const OptimKernels& k) {
    if (inf) {
      const double m = k.max_abs(g.dtype(), g.raw_data(), g.numel());
      acc = std::isnan(m) ? m : std::max(acc, m);
    } else {
      acc += k.sum_abs_pow(g.dtype(), g.raw_data(), g.numel(), norm_type);
    }
  });
  const double total = inf ? acc : norm_type == 2.0 ? std::sqrt(acc) : std::pow(acc, 1.0 / norm_type);
  if (error_if_nonfinite && !std::isfinite(total))
    throw ValueError(fmt::format("clip_grad_norm: the total norm of order {} of the gradients is {}; "
                                 "pass error_if_nonfinite=false to scale anyway", norm_type, total));
  // Like torch: the 1e-6 keeps the factor finite for zero gradients; NaN totals turn the gradients NaN.
  const double factor = std::min(max_norm / (total + 1e-6), 1.0);
  if (!(factor >= 1.0))
    for_each_grad(params, [&](const Tensor& g, const OptimKernels& k) {
      k.scale(g.dtype(), g.raw_data(), g.numel(), factor);
    });
  return total;
}

template <class Params>
void clamp_grads(const Params& params, double clip_value) {
  if (!(clip_value >= 0.0))
    throw ValueError(fmt::format("clip_grad_value: clip_value must be >= 0, got {}", clip_value));
  for_each_grad(params, [&](const Tensor& g, const OptimKernels& k) {
    k.clamp(g.dtype(), g.raw_data(), g.numel(), -clip_value, clip_value);
  });
}

}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  return clip_norm(params, max_norm, norm_type, error_if_nonfinite);
}

double clip_grad_norm(const std::vector<NamedTensor>& params, double max_norm, double norm_type,
                      bool error_if_nonfinite) {
  return clip_norm(params, max_norm, norm_type, error_if_nonfinite);
}

void clip_grad_value(const std::vector<Tensor>& params, double clip_value) { clamp_grads(params, clip_value); }

void clip_grad_value(const std::vector<NamedTensor>& params, double clip_value) { clamp_grads(params, clip_value); }

}  // namespace xgrad::optim
