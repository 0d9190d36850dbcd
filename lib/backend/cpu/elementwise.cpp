// CPU elementwise kernels. Arithmetic is plain loops (the compiler vectorises them with
// -O3 -march=native); transcendental maps go through xtensor adapters so xsimd's vectorised
// exp/log/tanh/erf are used. Broadcasting never goes through xtensor: its column broadcasts do not
// vectorise (docs/benchmarks.md, "Measurements behind design comments"), so every pattern is a loop over
// collapsed rows.
#include "xgrad/backend/elementwise.hpp"

// GCC 12 reports -Wuninitialized false positives inside the AVX-512 intrinsics that xsimd's math
// inlines (the _mm512_undefined_* idiom); silence them for these headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/elementwise_strided.hpp"
#include "backend/cpu/parallel.hpp"

namespace xgrad {

namespace {

// Row broadcast: `b` (leading 1s dropped) equals the trailing axes of `out`, e.g. a bias (N,) on (M, N).
bool is_row_of(const Shape& b, const Shape& out) {
  std::size_t lead = 0;
  while (lead < b.size() && b[lead] == 1) ++lead;
  const std::size_t rank = b.size() - lead;
  return rank <= out.size() && std::equal(b.begin() + static_cast<std::ptrdiff_t>(lead), b.end(),
                                          out.end() - static_cast<std::ptrdiff_t>(rank));
}

template <class T, class F>
void binary_loop(F f, const T* a, const Shape& as, const T* b, const Shape& bs, T* out, const Shape& os) {
  const std::int64_t n = numel(os);
  if (n == 0) return;
  if (as == bs) {  // same shape: one flat loop
    cpu::parallel_elements(n, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) out[i] = f(a[i], b[i]);
    });
    return;
  }
  if (numel(bs) == 1) {  // scalar operand
    const T y = b[0];
    cpu::parallel_elements(n, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) out[i] = f(a[i], y);
    });
    return;
  }
  if (numel(as) == 1) {
    const T x = a[0];
    cpu::parallel_elements(n, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) out[i] = f(x, b[i]);
    });
    return;
  }
  const bool a_full = as == os && is_row_of(bs, os), b_full = bs == os && is_row_of(as, os);
  if (a_full || b_full) {  // row broadcast (bias add): the smaller operand repeats along the leading axes
    const std::int64_t m = numel(a_full ? bs : as);
    cpu::parallel_rows(n / m, m, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0 * m; r < r1 * m; r += m)
        if (a_full)
          for (std::int64_t j = 0; j < m; ++j) out[r + j] = f(a[r + j], b[j]);
        else
          for (std::int64_t j = 0; j < m; ++j) out[r + j] = f(a[j], b[r + j]);
    });
    return;
  }
  // General strided path: column broadcasts, (3,1)x(1,4), broadcasts on middle axes.
  const auto loop = cpu::collapse<3>(os, {broadcast_strides(as, os), broadcast_strides(bs, os), contiguous_strides(os)});
  const std::int64_t m = loop.inner(), sa = loop.inner_stride(0), sb = loop.inner_stride(1);
  cpu::for_each_row(loop, [&](const std::array<std::int64_t, 3>& off) {
    const T* x = a + off[0];
    const T* y = b + off[1];
    T* o = out + off[2];
    if (sa == 1 && sb == 1) {
      for (std::int64_t j = 0; j < m; ++j) o[j] = f(x[j], y[j]);
    } else if (sa == 1 && sb == 0) {  // column broadcast of b
      const T v = *y;
      for (std::int64_t j = 0; j < m; ++j) o[j] = f(x[j], v);
    } else if (sa == 0 && sb == 1) {
      const T v = *x;
      for (std::int64_t j = 0; j < m; ++j) o[j] = f(v, y[j]);
    } else {
      for (std::int64_t j = 0; j < m; ++j) o[j] = f(x[j * sa], y[j * sb]);
    }
  });
}

// A 1-D xtensor view over n elements at p (const or not), for xsimd-vectorised expressions.
// One innermost row of where, with the common stride patterns as loops the compiler vectorises.
template <class C, class T>
void where_row(const C* c, std::int64_t sc, const T* x, std::int64_t sa, const T* y, std::int64_t sb, T* o,
               std::int64_t m) {
  if (sc == 0) {  // one condition for the whole row: a strided copy
    const T* src = *c != C(0) ? x : y;
    const std::int64_t s = *c != C(0) ? sa : sb;
    for (std::int64_t j = 0; j < m; ++j) o[j] = src[j * s];
  } else if (sc == 1 && sa == 0 && sb == 1) {  // masked_fill: a scalar where the mask is set
    const T v = *x;
    for (std::int64_t j = 0; j < m; ++j) o[j] = c[j] != C(0) ? v : y[j];
  } else if (sc == 1 && sa == 1 && sb == 0) {
    const T v = *y;
    for (std::int64_t j = 0; j < m; ++j) o[j] = c[j] != C(0) ? x[j] : v;
  } else if (sc == 1 && sa == 1 && sb == 1) {
    for (std::int64_t j = 0; j < m; ++j) o[j] = c[j] != C(0) ? x[j] : y[j];
  } else {
    for (std::int64_t j = 0; j < m; ++j) o[j] = c[j * sc] != C(0) ? x[j * sa] : y[j * sb];
  }
}

template <class P>
auto view(P p, std::int64_t n) {
  return xt::adapt(std::move(p), static_cast<std::size_t>(n), xt::no_ownership(),
                   std::array<std::size_t, 1>{static_cast<std::size_t>(n)});
}

// Constants of the GELU forms (as in torch).
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluCubic = 0.044715;

// 1 + exp(-2u) with u = sqrt(2/pi) (x + c x^3), the argument of tanh in the tanh form of GELU, for a scalar or
// an xsimd batch (xsimd::exp takes both): GELU is x over it, and sigmoid(2u) = (1 + tanh(u))/2 is 1 over it.
template <class T, class V>
V gelu_tanh_denominator(V x) {
  return V(T(1)) + xsimd::exp(V(T(-2 * kSqrt2OverPi)) * (x + V(T(kGeluCubic)) * x * x * x));
}

// out[i] = f(in[i]...) for i < n: xsimd batches from element 0, then the tail in scalars (f takes either).
// One pass and no temporary (a 4 MiB one per call took a fresh mmap and its page faults every step); each
// element's path depends only on its index, so chunks that start on multiples of 64 give one thread's result.
template <class T, class F, class... In>
void simd_map(T* out, std::int64_t n, F f, const In*... in) {
  using Batch = xsimd::batch<T>;
  constexpr std::int64_t W = Batch::size;
  std::int64_t i = 0;
  for (; i + W <= n; i += W) f(Batch::load_unaligned(in + i)...).store_unaligned(out + i);
  for (; i < n; ++i) out[i] = f(in[i]...);
}

// Whether x^p runs as integer_power: integer exponents up to 64 in magnitude.
bool is_small_integer(double p) { return std::nearbyint(p) == p && std::abs(p) <= 64.0; }

// x^k by repeated squaring, as PyTorch does for integer exponents: (-2)^3 is exactly -8, where xsimd's pow
// (exp(k·log|x|) with the sign restored) is an ulp off.
template <class T>
T integer_power(T x, std::int64_t k) {
  T result = T(1), base = x;
  for (std::int64_t e = k < 0 ? -k : k; e > 0; e >>= 1, base *= base)
    if (e & 1) result *= base;
  return k < 0 ? T(1) / result : result;
}

template <class T>
void unary_impl(UnaryOp op, const T* in, T* out, std::int64_t n, double param) {
  auto x = view(in, n);
  auto o = view(out, n);
  const T p = static_cast<T>(param);
  switch (op) {
    case UnaryOp::neg: for (std::int64_t i = 0; i < n; ++i) out[i] = -in[i]; return;
    case UnaryOp::exp: xt::noalias(o) = xt::exp(x); return;
    case UnaryOp::log: xt::noalias(o) = xt::log(x); return;
    case UnaryOp::sqrt: xt::noalias(o) = xt::sqrt(x); return;
    case UnaryOp::abs: for (std::int64_t i = 0; i < n; ++i) out[i] = std::abs(in[i]); return;
    case UnaryOp::tanh: xt::noalias(o) = xt::tanh(x); return;
    // exp(-x) overflows to inf for very negative x and 1 / inf = 0: no NaN, no branch.
    case UnaryOp::sigmoid: xt::noalias(o) = T(1) / (T(1) + xt::exp(-x)); return;
    case UnaryOp::relu: for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] > T(0) ? in[i] : T(0); return;
    // Phi(x) = erfc(-x/sqrt2)/2: no cancellation in 1 + erf for negative x.
    case UnaryOp::gelu: xt::noalias(o) = T(0.5) * x * xt::erfc(x * T(-kInvSqrt2)); return;
    // x/2 (1 + tanh(u)) = x sigmoid(2u): one exp and one division (xsimd's tanh evaluates a polynomial and
    // an exp and picks one), and no cancellation in 1 + tanh(u) for negative x.
    case UnaryOp::gelu_tanh:
      simd_map(out, n, [](auto x) { return x / gelu_tanh_denominator<T>(x); }, in);
      return;
    case UnaryOp::add_scalar: for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] + p; return;
    case UnaryOp::mul_scalar: for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] * p; return;
    case UnaryOp::rsub_scalar: for (std::int64_t i = 0; i < n; ++i) out[i] = p - in[i]; return;
    case UnaryOp::rdiv_scalar: for (std::int64_t i = 0; i < n; ++i) out[i] = p / in[i]; return;
    case UnaryOp::pow_scalar:
      if (param == 2.0) for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] * in[i];
      else if (param == 0.5) xt::noalias(o) = xt::sqrt(x);
      else if (is_small_integer(param))
        for (std::int64_t i = 0; i < n; ++i) out[i] = integer_power(in[i], static_cast<std::int64_t>(param));
      else xt::noalias(o) = xt::pow(x, p);
      return;
    // `x < p ? p : x` rather than std::max: a NaN x fails the test and is kept, as in torch.
    case UnaryOp::clamp_min: for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] < p ? p : in[i]; return;
    case UnaryOp::clamp_max: for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] > p ? p : in[i]; return;
  }
}

// Fused backward: one pass computing grad * f'(.) from the saved output y or input x.
template <class T>
void unary_backward_impl(UnaryOp op, const T* grad, const T* saved, T* gin, std::int64_t n, double param) {
  auto g = view(grad, n);
  auto s = view(saved ? saved : grad, n);  // ops that need nothing saved never read s
  auto o = view(gin, n);
  const T p = static_cast<T>(param);
  switch (op) {
    case UnaryOp::neg:
    case UnaryOp::rsub_scalar: for (std::int64_t i = 0; i < n; ++i) gin[i] = -grad[i]; return;
    case UnaryOp::add_scalar: for (std::int64_t i = 0; i < n; ++i) gin[i] = grad[i]; return;
    case UnaryOp::mul_scalar: for (std::int64_t i = 0; i < n; ++i) gin[i] = grad[i] * p; return;
    // y = exp(x) => dx = g * y
    case UnaryOp::exp: for (std::int64_t i = 0; i < n; ++i) gin[i] = grad[i] * saved[i]; return;
    // y = log(x) => dx = g / x
    case UnaryOp::log: for (std::int64_t i = 0; i < n; ++i) gin[i] = grad[i] / saved[i]; return;
    // y = sqrt(x) => dx = g / (2 y)
    case UnaryOp::sqrt: for (std::int64_t i = 0; i < n; ++i) gin[i] = grad[i] * T(0.5) / saved[i]; return;
    // y = |x| => dx = g * sign(x), 0 at 0
    case UnaryOp::abs:
      for (std::int64_t i = 0; i < n; ++i)
        gin[i] = saved[i] > T(0) ? grad[i] : (saved[i] < T(0) ? -grad[i] : T(0));
      return;
    // y = tanh(x) => dx = g * (1 - y^2)
    case UnaryOp::tanh: for (std::int64_t i = 0; i < n; ++i) gin[i] = grad[i] * (T(1) - saved[i] * saved[i]); return;
    // y = sigmoid(x) => dx = g * y * (1 - y)
    case UnaryOp::sigmoid: for (std::int64_t i = 0; i < n; ++i) gin[i] = grad[i] * saved[i] * (T(1) - saved[i]); return;
    // y = max(x, 0) => dx = g where y > 0
    case UnaryOp::relu: for (std::int64_t i = 0; i < n; ++i) gin[i] = saved[i] > T(0) ? grad[i] : T(0); return;
    // y = x Phi(x) => dx = g * (Phi(x) + x phi(x))
    case UnaryOp::gelu:
      xt::noalias(o) = g * (T(0.5) * xt::erfc(s * T(-kInvSqrt2)) +
                            s * T(kInvSqrt2Pi) * xt::exp(T(-0.5) * s * s));
      return;
    // y = x/2 (1 + t), t = tanh(u), u = k (x + c x^3) => dx = g * ((1 + t)/2 + x/2 (1 - t^2) k (1 + 3c x^2));
    // with s = (1 + t)/2 = sigmoid(2u) and 1 - t^2 = 4 s (1 - s): dx = g * (s + 2 x s (1 - s) k (1 + 3c x^2)).
    case UnaryOp::gelu_tanh:
      simd_map(
          gin, n,
          [](auto x, auto g) {
            using V = decltype(x);
            const V s = V(T(1)) / gelu_tanh_denominator<T>(x);
            return g * (s + V(T(2 * kSqrt2OverPi)) * x * s * (V(T(1)) - s) * (V(T(1)) + V(T(3 * kGeluCubic)) * x * x));
          },
          saved, grad);
      return;
    // y = s / x => dx = -g s / x^2
    case UnaryOp::rdiv_scalar:
      for (std::int64_t i = 0; i < n; ++i) gin[i] = -grad[i] * p / (saved[i] * saved[i]);
      return;
    // y = x^p => dx = g p x^(p-1); exactly 0 for p = 0 (no 0 * inf at x = 0)
    case UnaryOp::pow_scalar:
      if (param == 0.0) for (std::int64_t i = 0; i < n; ++i) gin[i] = T(0);
      else if (param == 1.0) for (std::int64_t i = 0; i < n; ++i) gin[i] = grad[i];
      else if (param == 2.0) for (std::int64_t i = 0; i < n; ++i) gin[i] = T(2) * grad[i] * saved[i];
      else if (is_small_integer(param))
        for (std::int64_t i = 0; i < n; ++i)
          gin[i] = grad[i] * p * integer_power(saved[i], static_cast<std::int64_t>(param) - 1);
      else xt::noalias(o) = g * p * xt::pow(s, p - T(1));
      return;
    // y = max(x, p) => dx = g where x >= p (the bound itself passes the gradient, like torch; NaN gets 0)
    case UnaryOp::clamp_min: for (std::int64_t i = 0; i < n; ++i) gin[i] = saved[i] >= p ? grad[i] : T(0); return;
    // y = min(x, p) => dx = g where x <= p
    case UnaryOp::clamp_max: for (std::int64_t i = 0; i < n; ++i) gin[i] = saved[i] <= p ? grad[i] : T(0); return;
  }
}

class CpuElementwiseKernels final : public ElementwiseKernels {
 public:
  void binary(BinaryOp op, DType dtype, const void* a, const Shape& as, const void* b, const Shape& bs, void* out,
              const Shape& os) const override {
    if (is_comparison(op)) {
      dispatch_any(dtype, [&](auto tag) {
        using T = decltype(tag);
        auto run = [&](auto f) {
          binary_loop<T>(f, static_cast<const T*>(a), as, static_cast<const T*>(b), bs, static_cast<T*>(out), os);
        };
        switch (op) {
          case BinaryOp::eq: return run([](T x, T y) { return T(x == y); });
          case BinaryOp::ne: return run([](T x, T y) { return T(x != y); });
          case BinaryOp::lt: return run([](T x, T y) { return T(x < y); });
          case BinaryOp::le: return run([](T x, T y) { return T(x <= y); });
          case BinaryOp::gt: return run([](T x, T y) { return T(x > y); });
          default: return run([](T x, T y) { return T(x >= y); });
        }
      });
      return;
    }
    dispatch_floating(dtype, "elementwise.binary", [&](auto tag) {
      using T = decltype(tag);
      auto run = [&](auto f) {
        binary_loop<T>(f, static_cast<const T*>(a), as, static_cast<const T*>(b), bs, static_cast<T*>(out), os);
      };
      switch (op) {
        case BinaryOp::add: return run([](T x, T y) { return x + y; });
        case BinaryOp::sub: return run([](T x, T y) { return x - y; });
        case BinaryOp::mul: return run([](T x, T y) { return x * y; });
        case BinaryOp::div: return run([](T x, T y) { return x / y; });
        case BinaryOp::pow: return run([](T x, T y) { return std::pow(x, y); });
        default: return;  // the comparisons, handled above
      }
    });
  }

  void unary(UnaryOp op, DType dtype, const void* in, void* out, std::int64_t n, double param) const override {
    dispatch_floating(dtype, "elementwise.unary", [&](auto tag) {
      using T = decltype(tag);
      cpu::parallel_elements(n, [&](std::int64_t i0, std::int64_t i1) {
        unary_impl<T>(op, static_cast<const T*>(in) + i0, static_cast<T*>(out) + i0, i1 - i0, param);
      });
    });
  }

  void unary_backward(UnaryOp op, DType dtype, const void* grad, const void* saved, void* gin, std::int64_t n,
                      double param) const override {
    dispatch_floating(dtype, "elementwise.unary_backward", [&](auto tag) {
      using T = decltype(tag);
      const T* s = static_cast<const T*>(saved);
      cpu::parallel_elements(n, [&](std::int64_t i0, std::int64_t i1) {
        unary_backward_impl<T>(op, static_cast<const T*>(grad) + i0, s ? s + i0 : nullptr, static_cast<T*>(gin) + i0,
                               i1 - i0, param);
      });
    });
  }

  void where(DType cond_dtype, const void* cond, const Shape& cs, DType dtype, const void* a, const Shape& as,
             const void* b, const Shape& bs, void* out, const Shape& os) const override {
    if (numel(os) == 0) return;
    const auto loop = cpu::collapse<4>(
        os, {broadcast_strides(cs, os), broadcast_strides(as, os), broadcast_strides(bs, os), contiguous_strides(os)});
    const std::int64_t m = loop.inner(), sc = loop.inner_stride(0), sa = loop.inner_stride(1),
                       sb = loop.inner_stride(2);
    dispatch_floating(dtype, "elementwise.where", [&](auto tag) {
      using T = decltype(tag);
      dispatch_any(cond_dtype, [&](auto ctag) {
        using C = decltype(ctag);
        const C* c = static_cast<const C*>(cond);
        const T* x = static_cast<const T*>(a);
        const T* y = static_cast<const T*>(b);
        T* o = static_cast<T*>(out);
        cpu::for_each_row(loop, [&](const std::array<std::int64_t, 4>& off) {
          where_row(c + off[0], sc, x + off[1], sa, y + off[2], sb, o + off[3], m);
        });
      });
    });
  }

  void broadcast(DType dtype, const void* in, const Shape& is, void* out, const Shape& os,
                 double scale) const override {
    if (numel(os) == 0) return;
    if (scale == 1.0 && numel(is) >= 16 && is_row_of(is, os)) {  // a bias row repeated down the output
      const std::size_t row = static_cast<std::size_t>(numel(is)) * dtype_size(dtype);
      auto* o = static_cast<char*>(out);
      cpu::parallel_rows(numel(os) / numel(is), numel(is), [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) std::memcpy(o + static_cast<std::size_t>(r) * row, in, row);
      });
      return;
    }
    const auto loop = cpu::collapse<2>(os, {broadcast_strides(is, os), contiguous_strides(os)});
    const std::int64_t m = loop.inner(), s = loop.inner_stride(0);
    dispatch_floating(dtype, "elementwise.broadcast", [&](auto tag) {
      using T = decltype(tag);
      const T* x = static_cast<const T*>(in);
      T* o = static_cast<T*>(out);
      const T k = static_cast<T>(scale);
      cpu::for_each_row(loop, [&](const std::array<std::int64_t, 2>& off) {
        if (s == 0) {
          const T v = k * x[off[0]];
          for (std::int64_t j = 0; j < m; ++j) o[off[1] + j] = v;
        } else {
          for (std::int64_t j = 0; j < m; ++j) o[off[1] + j] = k * x[off[0] + j * s];
        }
      });
    });
  }
};

}  // namespace

const ElementwiseKernels& CpuBackend::elementwise() const {
  static const CpuElementwiseKernels kernels;
  return kernels;
}

}  // namespace xgrad
