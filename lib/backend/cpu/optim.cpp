// CPU optimizer kernels: one xsimd loop per update rule over contiguous buffers. The branches on
// hyperparameters (weight decay, momentum, nesterov, amsgrad, centered) are template flags, so every
// instantiated loop is branch-free. Arithmetic follows PyTorch's single-tensor implementations operation by
// operation, so float64 results agree with torch to rounding.
#include "xgrad/backend/optim.hpp"

#include "backend/cpu/cpu_backend.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <xsimd/xsimd.hpp>

namespace xgrad {

namespace {

/// Calls fn(std::true_type{}) or fn(std::false_type{}): turns a runtime flag into a template one.
template <class Fn>
void with_flag(bool flag, Fn&& fn) {
  if (flag) fn(std::true_type{});
  else fn(std::false_type{});
}

/// Runs body.operator()<V>(i) over [0, n): V = xsimd::batch<T> for full batches, then V = T for the
/// tail. The body loads, computes and stores lanes [i, i + width) with the helpers below, so one
/// generic lambda is both the vector loop and the scalar tail.
template <class T, class Body>
void lanes(std::int64_t n, Body&& body) {
  using B = xsimd::batch<T>;
  constexpr auto width = static_cast<std::int64_t>(B::size);
  std::int64_t i = 0;
  for (; i + width <= n; i += width) body.template operator()<B>(i);
  for (; i < n; ++i) body.template operator()<T>(i);
}

template <class V, class T>
V load(const T* p) {
  if constexpr (std::is_same_v<V, T>) return *p;
  else return V::load_unaligned(p);
}

template <class T, class V>
void store(T* p, const V& v) {
  if constexpr (std::is_same_v<V, T>) *p = v;
  else v.store_unaligned(p);
}

// Explicit xsimd: GCC keeps std::sqrt scalar (errno) unless the whole build uses -fno-math-errno.
template <class V>
V vsqrt(const V& v) {
  if constexpr (std::is_floating_point_v<V>) return std::sqrt(v);
  else return xsimd::sqrt(v);
}

template <class V>
V vmax(const V& a, const V& b) {
  if constexpr (std::is_floating_point_v<V>) return std::max(a, b);
  else return xsimd::max(a, b);
}

template <class T, bool kDecay, bool kMomentum, bool kNesterov>
void sgd_loop(T* p, const T* g, T* buf, std::int64_t n, const SgdStep& h) {
  // First update: torch sets buf = d instead of mom * buf + (1 - dampening) * d; the coefficients
  // (0, 1) give exactly d from the zero-filled buffer without a branch in the loop.
  const T keep = h.first ? T(0) : static_cast<T>(h.momentum);
  const T take = h.first ? T(1) : static_cast<T>(1.0 - h.dampening);
  const T wd = static_cast<T>(h.weight_decay), mom = static_cast<T>(h.momentum), neg_lr = static_cast<T>(-h.lr);
  lanes<T>(n, [&]<class V>(std::int64_t i) {
    const V pi = load<V>(p + i);
    V d = load<V>(g + i);
    if constexpr (kDecay) d = d + V(wd) * pi;
    if constexpr (kMomentum) {
      const V b = load<V>(buf + i) * V(keep) + d * V(take);
      store(buf + i, b);
      if constexpr (kNesterov) d = d + V(mom) * b;
      else d = b;
    }
    store(p + i, pi + V(neg_lr) * d);
  });
}

enum class Decay { none, l2, decoupled };

template <class T, Decay kDecay, bool kAmsgrad>
void adam_loop(T* p, const T* g, T* m, T* v, T* vmax_buf, std::int64_t n, const AdamStep& h) {
  const double bias1 = 1.0 - std::pow(h.beta1, static_cast<double>(h.step));
  const double bias2 = 1.0 - std::pow(h.beta2, static_cast<double>(h.step));
  const T neg_step = static_cast<T>(-(h.lr / bias1));
  const T bias2_sqrt = static_cast<T>(std::sqrt(bias2));
  const T b1 = static_cast<T>(h.beta1), c1 = static_cast<T>(1.0 - h.beta1);
  const T b2 = static_cast<T>(h.beta2), c2 = static_cast<T>(1.0 - h.beta2);
  const T eps = static_cast<T>(h.eps), wd = static_cast<T>(h.weight_decay);
  const T shrink = static_cast<T>(1.0 - h.lr * h.weight_decay);
  lanes<T>(n, [&]<class V>(std::int64_t i) {
    V pi = load<V>(p + i);
    V gi = load<V>(g + i);
    if constexpr (kDecay == Decay::l2) gi = gi + V(wd) * pi;
    if constexpr (kDecay == Decay::decoupled) pi = pi * V(shrink);
    // m = b1 m + (1 - b1) g ; v = b2 v + (1 - b2) g^2
    const V mi = load<V>(m + i) * V(b1) + gi * V(c1);
    V vi = load<V>(v + i) * V(b2) + V(c2) * gi * gi;
    store(m + i, mi);
    store(v + i, vi);
    if constexpr (kAmsgrad) {
      vi = vmax(load<V>(vmax_buf + i), vi);
      store(vmax_buf + i, vi);
    }
    // p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    const V denom = vsqrt(vi) / V(bias2_sqrt) + V(eps);
    store(p + i, pi + V(neg_step) * (mi / denom));
  });
}

template <class T, bool kDecay, bool kCentered, bool kMomentum>
void rmsprop_loop(T* p, const T* g, T* sq, T* ga, T* buf, std::int64_t n, const RmspropStep& h) {
  const T a = static_cast<T>(h.alpha), c = static_cast<T>(1.0 - h.alpha);
  const T eps = static_cast<T>(h.eps), wd = static_cast<T>(h.weight_decay);
  const T mom = static_cast<T>(h.momentum), neg_lr = static_cast<T>(-h.lr);
  lanes<T>(n, [&]<class V>(std::int64_t i) {
    const V pi = load<V>(p + i);
    V gi = load<V>(g + i);
    if constexpr (kDecay) gi = gi + V(wd) * pi;
    // sq = alpha sq + (1 - alpha) g^2 ; centered: ga = alpha ga + (1 - alpha) g, variance sq - ga^2
    const V si = load<V>(sq + i) * V(a) + V(c) * gi * gi;
    store(sq + i, si);
    V avg;
    if constexpr (kCentered) {
      const V gai = load<V>(ga + i) * V(a) + gi * V(c);
      store(ga + i, gai);
      avg = vsqrt(si - gai * gai) + V(eps);
    } else {
      avg = vsqrt(si) + V(eps);
    }
    if constexpr (kMomentum) {
      const V b = load<V>(buf + i) * V(mom) + gi / avg;
      store(buf + i, b);
      store(p + i, pi + V(neg_lr) * b);
    } else {
      store(p + i, pi + V(neg_lr) * (gi / avg));
    }
  });
}

/// Sum of f(x[i]) in double with eight independent partial sums (breaks the add latency chain).
template <class T, class F>
double sum_of(const T* x, std::int64_t n, F f) {
  double part[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) part[k] += f(static_cast<double>(x[i + k]));
  for (; i < n; ++i) part[0] += f(static_cast<double>(x[i]));
  double total = 0.0;
  for (double s : part) total += s;
  return total;
}

class CpuOptimKernels final : public OptimKernels {
 public:
  void sgd(DType dtype, void* param, const void* grad, void* buffer, std::int64_t n,
           const SgdStep& h) const override {
    dispatch_floating(dtype, "sgd", [&](auto t) {
      using T = decltype(t);
      with_flag(h.weight_decay != 0.0, [&](auto decay) {
        with_flag(h.momentum != 0.0, [&](auto momentum) {
          with_flag(h.nesterov, [&](auto nesterov) {
            sgd_loop<T, decay(), momentum(), nesterov()>(static_cast<T*>(param), static_cast<const T*>(grad),
                                                         static_cast<T*>(buffer), n, h);
          });
        });
      });
    });
  }

  void adam(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, void* max_exp_avg_sq,
            std::int64_t n, const AdamStep& h) const override {
    dispatch_floating(dtype, "adam", [&](auto t) {
      using T = decltype(t);
      auto run = [&](auto decay) {
        with_flag(h.amsgrad, [&](auto amsgrad) {
          adam_loop<T, decltype(decay)::value, amsgrad()>(
              static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(exp_avg),
              static_cast<T*>(exp_avg_sq), static_cast<T*>(max_exp_avg_sq), n, h);
        });
      };
      if (h.weight_decay == 0.0) run(std::integral_constant<Decay, Decay::none>{});
      else if (h.decoupled) run(std::integral_constant<Decay, Decay::decoupled>{});
      else run(std::integral_constant<Decay, Decay::l2>{});
    });
  }

  void rmsprop(DType dtype, void* param, const void* grad, void* square_avg, void* grad_avg, void* buffer,
               std::int64_t n, const RmspropStep& h) const override {
    dispatch_floating(dtype, "rmsprop", [&](auto t) {
      using T = decltype(t);
      with_flag(h.weight_decay != 0.0, [&](auto decay) {
        with_flag(h.centered, [&](auto centered) {
          with_flag(h.momentum > 0.0, [&](auto momentum) {
            rmsprop_loop<T, decay(), centered(), momentum()>(
                static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(square_avg),
                static_cast<T*>(grad_avg), static_cast<T*>(buffer), n, h);
          });
        });
      });
    });
  }

  double sum_abs_pow(DType dtype, const void* x, std::int64_t n, double p) const override {
    return dispatch_floating(dtype, "sum_abs_pow", [&](auto t) {
      using T = decltype(t);
      const T* v = static_cast<const T*>(x);
      if (p == 2.0) return sum_of(v, n, [](double e) { return e * e; });
      if (p == 1.0) return sum_of(v, n, [](double e) { return std::abs(e); });
      return sum_of(v, n, [p](double e) { return std::pow(std::abs(e), p); });
    });
  }

  double max_abs(DType dtype, const void* x, std::int64_t n) const override {
    return dispatch_floating(dtype, "max_abs", [&](auto t) {
      using T = decltype(t);
      const T* v = static_cast<const T*>(x);
      double m = 0.0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double a = std::abs(static_cast<double>(v[i]));
        if (!(a <= m)) m = a;  // also takes NaN, which then sticks: NaN <= m is false
        if (std::isnan(m)) break;
      }
      return m;
    });
  }

  void scale(DType dtype, void* x, std::int64_t n, double factor) const override {
    dispatch_floating(dtype, "scale", [&](auto t) {
      using T = decltype(t);
      T* v = static_cast<T*>(x);
      const T f = static_cast<T>(factor);
      for (std::int64_t i = 0; i < n; ++i) v[i] *= f;
    });
  }

  void clamp(DType dtype, void* x, std::int64_t n, double low, double high) const override {
    dispatch_floating(dtype, "clamp", [&](auto t) {
      using T = decltype(t);
      T* v = static_cast<T*>(x);
      const T lo = static_cast<T>(low), hi = static_cast<T>(high);
      for (std::int64_t i = 0; i < n; ++i) v[i] = std::min(std::max(v[i], lo), hi);
    });
  }
};

}  // namespace

const OptimKernels& CpuBackend::optim() const {
  static const CpuOptimKernels kernels;
  return kernels;
}

}  // namespace xgrad
