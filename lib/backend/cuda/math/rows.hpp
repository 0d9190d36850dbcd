#pragma once
// Per-row formulas of the CUDA nn and attention kernels, written once for the device and the host:
// tests/test_cuda_math.cpp runs them on the CPU against the CPU kernels (lib/backend/cpu/nn.cpp,
// attention.cpp). A kernel reduces a row (max, sums) across the threads of a warp; what it does with
// the reduced values is here.
#include <cmath>
#include <cstdint>
#include <limits>

#include "xgrad/tensor/philox.hpp"  // XGRAD_HOST_DEVICE

namespace xgrad::cuda {

/// -inf of T.
template <class T>
XGRAD_HOST_DEVICE constexpr T neg_inf() {
  return -std::numeric_limits<T>::infinity();
}

/// The running normaliser of a softmax over a row seen in pieces (Milakov & Gimelshein's online softmax,
/// the heart of FlashAttention): the maximum m of the logits so far and s = Σ exp(x - m). Blocked logits
/// are -inf and contribute nothing; a state that saw only blocked logits has m = -inf and s = 0.
template <class T>
struct OnlineSoftmax {
  T max = neg_inf<T>();  ///< largest logit so far (-inf: none)
  T sum = T(0);          ///< Σ exp(x - max) over the logits so far

  /// The factor that rescales terms taken against the old maximum when the maximum becomes `new_max`.
  XGRAD_HOST_DEVICE static T rescale(T old_max, T new_max) {
    return old_max == neg_inf<T>() ? T(0) : std::exp(old_max - new_max);
  }

  /// Merges another piece's state: m = max(m1, m2), s = s1 exp(m1 - m) + s2 exp(m2 - m).
  XGRAD_HOST_DEVICE void merge(const OnlineSoftmax& o) {
    if (o.max == neg_inf<T>()) return;
    if (max == neg_inf<T>()) {
      *this = o;
      return;
    }
    const T m = o.max > max ? o.max : max;
    sum = sum * std::exp(max - m) + o.sum * std::exp(o.max - m);
    max = m;
  }

  /// Takes one more logit x: a new maximum rescales the sum (and the caller rescales what it accumulated
  /// against the old maximum by the returned factor); returns exp(x - m) with the updated m. A blocked
  /// logit (-inf) changes nothing and returns 0.
  XGRAD_HOST_DEVICE T add(T x, T& rescale_factor) {
    rescale_factor = T(1);
    if (x == neg_inf<T>()) return T(0);
    if (x > max) {
      rescale_factor = rescale(max, x);
      sum *= rescale_factor;
      max = x;
    }
    const T p = std::exp(x - max);
    sum += p;
    return p;
  }

  /// The final weight of logit x: exp(x - m) · (1 / s) as the CPU's softmax rounds it; 0 when the whole row
  /// (or x itself) is blocked.
  XGRAD_HOST_DEVICE T weight(T x) const {
    return max == neg_inf<T>() || x == neg_inf<T>() ? T(0) : std::exp(x - max) * (T(1) / sum);
  }
};

/// y of softmax (or log_softmax) of x, given the row's maximum m (finite) and inv_sum = 1 / Σ exp(x - m)
/// (softmax) or lse = m + log Σ exp(x - m) (log_softmax), as the CPU computes them.
template <class T>
XGRAD_HOST_DEVICE inline T softmax_value(T x, T m, T inv_sum_or_lse, bool log) {
  return log ? x - inv_sum_or_lse : std::exp(x - m) * inv_sum_or_lse;
}

/// dx of softmax from y, dy and dot = Σ dy·y; of log_softmax from y, dy and total = Σ dy.
template <class T>
XGRAD_HOST_DEVICE inline T softmax_grad(T y, T dy, T dot_or_total, bool log) {
  return log ? dy - std::exp(y) * dot_or_total : y * (dy - dot_or_total);
}

/// rstd of a layer-norm row from its variance: 1 / sqrt(var + eps).
template <class T>
XGRAD_HOST_DEVICE inline T layer_norm_rstd(T var, T eps) {
  return T(1) / std::sqrt(var + eps);
}

/// y = (x - mean) * rstd * w + b, with w = 1 and b = 0 when absent (null).
template <class T>
XGRAD_HOST_DEVICE inline T layer_norm_value(T x, T mean, T rstd, const T* w, const T* b, std::int64_t i) {
  T y = (x - mean) * rstd;
  if (w) y = y * w[i];
  if (b) y = y + b[i];
  return y;
}

/// dx of layer norm: rstd (g - mean(g) - xhat mean(g xhat)), g = dy w, xhat = (x - mean) rstd.
template <class T>
XGRAD_HOST_DEVICE inline T layer_norm_grad(T g, T xhat, T rstd, T g_mean, T gx_mean) {
  return rstd * (g - g_mean - xhat * gx_mean);
}

/// A row's cross-entropy from its logsumexp, target logit and logit sum: (1 - ls)(lse - x_t) + ls (lse - mean(x)),
/// in double as the CPU accumulates it.
template <class T>
XGRAD_HOST_DEVICE inline double cross_entropy_loss(T lse, T x_target, T sum_x, std::int64_t classes, double ls) {
  double loss = (1.0 - ls) * (double(lse) - double(x_target));
  if (ls != 0.0) loss += ls * (double(lse) - double(sum_x) / double(classes));
  return loss;
}

/// dlogit c of a kept cross-entropy row: (softmax_c - (1 - ls)[c == t] - ls / C) g.
template <class T>
XGRAD_HOST_DEVICE inline T cross_entropy_grad(T x, T lse, bool is_target, double ls, std::int64_t classes, T g) {
  const T off = T(ls / double(classes));
  T d = (std::exp(x - lse) - off) * g;
  if (is_target) d -= T(1.0 - ls) * g;
  return d;
}

/// Whether score (t, s) of an attention row is blocked before the softmax: a zero keep-mask entry or, when
/// causal, a key after the query (s > t). A -inf logit blocks itself through the softmax.
template <class M>
XGRAD_HOST_DEVICE inline bool attention_blocked(const M* mask_entry, bool causal, std::int64_t t, std::int64_t s) {
  return (causal && s > t) || (mask_entry && *mask_entry == M(0));
}

}  // namespace xgrad::cuda
