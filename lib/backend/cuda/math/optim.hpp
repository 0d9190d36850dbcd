#pragma once
// Per-element updates of the CUDA optimizer kernels, written once for the device and the host:
// tests/test_cuda_math.cpp runs them on the CPU against the CPU kernels. The constants are computed on the
// host exactly as lib/backend/cpu/optim.cpp computes them, and each update follows its arithmetic (PyTorch's
// single-tensor implementations) operation by operation.
#include <cmath>

#include "xgrad/backend/optim.hpp"
#include "xgrad/tensor/philox.hpp"  // XGRAD_HOST_DEVICE

namespace xgrad::cuda {

/// The per-step constants of one SGD update.
template <class T>
struct SgdConstants {
  T keep, take, wd, mom, neg_lr;  ///< buffer decay, new-gradient share, weight decay, momentum, -lr
  bool decay, momentum, nesterov;  ///< which terms are on
};

/// SGD constants of step `h`. On the first update torch sets buf = d: the coefficients (0, 1) give exactly d.
template <class T>
SgdConstants<T> sgd_constants(const SgdStep& h) {
  return {h.first ? T(0) : static_cast<T>(h.momentum), h.first ? T(1) : static_cast<T>(1.0 - h.dampening),
          static_cast<T>(h.weight_decay), static_cast<T>(h.momentum), static_cast<T>(-h.lr),
          h.weight_decay != 0.0, h.momentum != 0.0, h.nesterov};
}

/// One SGD update of p (and buf when momentum is on) from gradient g.
template <class T>
XGRAD_HOST_DEVICE inline void sgd_update(T& p, T g, T* buf, const SgdConstants<T>& c) {
  T d = g;
  if (c.decay) d = d + c.wd * p;
  if (c.momentum) {
    const T b = *buf * c.keep + d * c.take;
    *buf = b;
    d = c.nesterov ? d + c.mom * b : b;
  }
  p = p + c.neg_lr * d;
}

/// The per-step constants of one Adam/AdamW update.
template <class T>
struct AdamConstants {
  T neg_step, bias2_sqrt, b1, c1, b2, c2, eps, wd, shrink;  ///< -lr/(1-b1^t), sqrt(1-b2^t), betas, 1-betas, ...
  bool l2, decoupled, amsgrad;                               ///< which terms are on
};

/// Adam constants of step `h` (bias corrections in double, as on the CPU).
template <class T>
AdamConstants<T> adam_constants(const AdamStep& h) {
  const double bias1 = 1.0 - std::pow(h.beta1, static_cast<double>(h.step));
  const double bias2 = 1.0 - std::pow(h.beta2, static_cast<double>(h.step));
  return {static_cast<T>(-(h.lr / bias1)), static_cast<T>(std::sqrt(bias2)),
          static_cast<T>(h.beta1), static_cast<T>(1.0 - h.beta1),
          static_cast<T>(h.beta2), static_cast<T>(1.0 - h.beta2),
          static_cast<T>(h.eps), static_cast<T>(h.weight_decay), static_cast<T>(1.0 - h.lr * h.weight_decay),
          h.weight_decay != 0.0 && !h.decoupled, h.weight_decay != 0.0 && h.decoupled, h.amsgrad};
}

/// One Adam/AdamW update: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), v replaced by its running max under amsgrad.
template <class T>
XGRAD_HOST_DEVICE inline void adam_update(T& p, T g, T& m, T& v, T* vmax, const AdamConstants<T>& c) {
  if (c.l2) g = g + c.wd * p;
  if (c.decoupled) p = p * c.shrink;
  const T mi = m * c.b1 + g * c.c1;
  T vi = v * c.b2 + c.c2 * g * g;
  m = mi;
  v = vi;
  if (c.amsgrad) {
    vi = *vmax > vi ? *vmax : vi;
    *vmax = vi;
  }
  const T denom = std::sqrt(vi) / c.bias2_sqrt + c.eps;
  p = p + c.neg_step * (mi / denom);
}

/// The per-step constants of one RMSprop update.
template <class T>
struct RmspropConstants {
  T a, c, eps, wd, mom, neg_lr;      ///< alpha, 1 - alpha, eps, weight decay, momentum, -lr
  bool decay, centered, momentum;    ///< which terms are on
};

/// RMSprop constants of step `h`.
template <class T>
RmspropConstants<T> rmsprop_constants(const RmspropStep& h) {
  return {static_cast<T>(h.alpha), static_cast<T>(1.0 - h.alpha), static_cast<T>(h.eps),
          static_cast<T>(h.weight_decay), static_cast<T>(h.momentum), static_cast<T>(-h.lr),
          h.weight_decay != 0.0, h.centered, h.momentum > 0.0};
}

/// One RMSprop update: sq = a sq + (1 - a) g^2; centered: ga = a ga + (1 - a) g and the root of sq - ga^2;
/// p -= lr g / (root + eps), through the momentum buffer when on.
template <class T>
XGRAD_HOST_DEVICE inline void rmsprop_update(T& p, T g, T& sq, T* ga, T* buf, const RmspropConstants<T>& c) {
  if (c.decay) g = g + c.wd * p;
  const T si = sq * c.a + c.c * g * g;
  sq = si;
  T avg;
  if (c.centered) {
    const T gai = *ga * c.a + g * c.c;
    *ga = gai;
    avg = std::sqrt(si - gai * gai) + c.eps;
  } else {
    avg = std::sqrt(si) + c.eps;
  }
  if (c.momentum) {
    const T b = *buf * c.mom + g / avg;
    *buf = b;
    p = p + c.neg_lr * b;
  } else {
    p = p + c.neg_lr * (g / avg);
  }
}

/// |x|^p as sum_abs_pow adds it, in double: squares and absolute values exactly, else pow.
XGRAD_HOST_DEVICE inline double abs_pow(double x, double p) {
  if (p == 2.0) return x * x;
  if (p == 1.0) return std::fabs(x);
  return std::pow(std::fabs(x), p);
}

/// max of two |x| for max_abs, with NaN sticking: NaN if either is NaN.
XGRAD_HOST_DEVICE inline double max_abs_combine(double a, double b) {
  if (a != a || b != b) return a != a ? a : b;
  return a > b ? a : b;
}

/// x clamped to [low, high] as std::min(std::max(x, low), high) does it (NaN stays NaN).
template <class T>
XGRAD_HOST_DEVICE inline T clamp_value(T x, T low, T high) {
  const T lo = x < low ? low : x;
  return high < lo ? high : lo;
}

}  // namespace xgrad::cuda
