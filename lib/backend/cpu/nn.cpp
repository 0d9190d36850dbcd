// CPU kernels of the nn ops. Each works row by row on contiguous data. Reductions and exp go through
// xsimd batches (GCC vectorises neither a float reduction nor std::exp without -ffast-math, which we
// cannot use because masks hold -inf); plain elementwise loops are left to the auto-vectoriser.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/rows.hpp"
#include "backend/cpu/parallel.hpp"
#include "xgrad/backend/nn.hpp"

namespace xgrad {

namespace {

using std::int64_t;

template <class T>
using Batch = xsimd::batch<T>;

template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// One expression, written once as a generic lambda `f(i, tag)`, serves both full SIMD batches
// (tag is a Batch) and the scalar tail (tag is a T); `load` reads whichever the tag asks for.
template <class T>
Batch<T> load(const T* p, int64_t i, Batch<T>) {
  return Batch<T>::load_unaligned(p + i);
}
template <class T>
T load(const T* p, int64_t i, T) {
  return p[i];
}
template <class T>
void store(T* p, int64_t i, const Batch<T>& v) {
  v.store_unaligned(p + i);
}
template <class T>
void store(T* p, int64_t i, T v) {
  p[i] = v;
}

using cpu::lane_sum;
using cpu::row_dot;
using cpu::max_or_nan;
using cpu::row_max;
using cpu::softmax_prefix;

// sum over i < n of f(i, tag), with two accumulators to hide the add latency.
template <class T, class F>
T sum_of(int64_t n, F&& f) {
  constexpr int64_t W = Batch<T>::size;
  Batch<T> acc0(T(0)), acc1(T(0));
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    acc0 += f(i, Batch<T>{});
    acc1 += f(i + W, Batch<T>{});
  }
  for (; i + W <= n; i += W) acc0 += f(i, Batch<T>{});
  T s = lane_sum(acc0 + acc1);
  for (; i < n; ++i) s += f(i, T{});
  return s;
}

// out[i] = f(i, tag) for i < n.
template <class T, class F>
void map_to(T* out, int64_t n, F&& f) {
  constexpr int64_t W = Batch<T>::size;
  int64_t i = 0;
  for (; i + W <= n; i += W) store(out, i, f(i, Batch<T>{}));
  for (; i < n; ++i) store(out, i, f(i, T{}));
}

// m + log(sum(exp(x - m))) for the row maximum m.
template <class T>
T logsumexp(const T* x, T m, int64_t n) {
  return m + std::log(sum_of<T>(n, [&](int64_t i, auto t) { return xsimd::exp(load(x, i, t) - m); }));
}

// ---- softmax / log_softmax ---------------------------------------------------------------------

// One row along the last axis. m = max(x); s = sum exp(x - m); y = exp(x - m) / s or x - m - log s.
template <class T>
void softmax_row(const T* __restrict x, T* __restrict y, int64_t n, bool log) {
  const T m = row_max(x, n);
  if (m == kNegInf<T>) {  // every weight is zero: xgrad gives zeros, not 0/0
    std::fill(y, y + n, T(0));
    return;
  }
  if (log) {
    const T lse = logsumexp(x, m, n);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - lse;
    return;
  }
  softmax_prefix(x, y, n, n, m);
}

// Backward of one row. softmax: y = softmax(x)  =>  dx = y * (dy - sum(dy * y)).
// log_softmax: y = x - lse  =>  dx = dy - exp(y) * sum(dy). A masked-out row of zeros is recognised
// exactly: a real log_softmax row of n > 1 entries cannot be all zero (its exps would sum to n, not 1).
template <class T>
void softmax_backward_row(const T* __restrict y, const T* __restrict dy, T* __restrict dx, int64_t n, bool log) {
  if (!log) {
    const T dot = row_dot(dy, y, n);
    for (int64_t i = 0; i < n; ++i) dx[i] = y[i] * (dy[i] - dot);
    return;
  }
  if (n > 1 && y[0] == T(0) && std::all_of(y, y + n, [](T v) { return v == T(0); })) {
    std::fill(dx, dx + n, T(0));
    return;
  }
  const T total = sum_of<T>(n, [&](int64_t i, auto t) { return load(dy, i, t); });
  map_to(dx, n, [&](int64_t i, auto t) { return load(dy, i, t) - xsimd::exp(load(y, i, t)) * total; });
}

// Softmax over a middle axis without transposing: for each outer index, a strip of up to kStrip inner
// columns is processed at once, walking the axis row by row so every inner loop is contiguous.
constexpr int64_t kStrip = 128;

template <class T>
void softmax_strided(const T* x, T* y, AxisView v, bool log) {
  alignas(64) T m[kStrip], s[kStrip];
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t j0 = 0; j0 < v.inner; j0 += kStrip) {
      const int64_t J = std::min(kStrip, v.inner - j0);
      const auto at = [&](int64_t k) { return o * v.axis * v.inner + k * v.inner + j0; };
      std::fill(m, m + J, kNegInf<T>);
      std::fill(s, s + J, T(0));
      for (int64_t k = 0; k < v.axis; ++k)
        for (int64_t j = 0; j < J; ++j) m[j] = max_or_nan(m[j], x[at(k) + j]);
      for (int64_t j = 0; j < J; ++j) m[j] = m[j] == kNegInf<T> ? T(0) : m[j];  // all -inf: exps are 0
      for (int64_t k = 0; k < v.axis; ++k) {
        const T* xk = x + at(k);
        T* yk = y + at(k);
        map_to(yk, J, [&](int64_t j, auto t) { return xsimd::exp(load(xk, j, t) - load(m, j, t)); });
        for (int64_t j = 0; j < J; ++j) s[j] += yk[j];
      }
      // s is 0 (every entry -inf), positive, or NaN (a NaN or +inf entry): NaN must reach every output
      if (log) {  // m := logsumexp, s := whether the column has any weight
        for (int64_t j = 0; j < J; ++j) {
          m[j] = s[j] != T(0) ? m[j] + std::log(s[j]) : T(0);
          s[j] = s[j] != T(0) ? T(1) : T(0);
        }
        for (int64_t k = 0; k < v.axis; ++k)
          for (int64_t j = 0; j < J; ++j) y[at(k) + j] = s[j] != T(0) ? x[at(k) + j] - m[j] : T(0);
      } else {
        for (int64_t j = 0; j < J; ++j) s[j] = s[j] != T(0) ? T(1) / s[j] : T(0);
        for (int64_t k = 0; k < v.axis; ++k)
          for (int64_t j = 0; j < J; ++j) y[at(k) + j] *= s[j];
      }
    }
  }
}

template <class T>
void softmax_backward_strided(const T* y, const T* dy, T* dx, AxisView v, bool log) {
  alignas(64) T acc[kStrip], live[kStrip];
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t j0 = 0; j0 < v.inner; j0 += kStrip) {
      const int64_t J = std::min(kStrip, v.inner - j0);
      const auto at = [&](int64_t k) { return o * v.axis * v.inner + k * v.inner + j0; };
      std::fill(acc, acc + J, T(0));
      std::fill(live, live + J, T(0));
      // acc = sum(dy * y) for softmax, sum(dy) for log_softmax; live marks columns not masked out.
      for (int64_t k = 0; k < v.axis; ++k)
        for (int64_t j = 0; j < J; ++j) {
          const T yk = y[at(k) + j], gk = dy[at(k) + j];
          acc[j] += log ? gk : gk * yk;
          live[j] = yk != T(0) ? T(1) : live[j];
        }
      if (v.axis == 1) std::fill(live, live + J, T(1));
      for (int64_t k = 0; k < v.axis; ++k) {
        const T* yk = y + at(k);
        const T* gk = dy + at(k);
        T* dk = dx + at(k);
        if (log)
          map_to(dk, J, [&](int64_t j, auto t) {
            return (load(gk, j, t) - xsimd::exp(load(yk, j, t)) * load(acc, j, t)) * load(live, j, t);
          });
        else
          for (int64_t j = 0; j < J; ++j) dk[j] = yk[j] * (gk[j] - acc[j]);
      }
    }
  }
}

// ---- layer norm --------------------------------------------------------------------------------

template <class T>
void layer_norm_rows(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t n, T eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* __restrict xr = x + r * n;
    T* __restrict yr = y + r * n;
    // Two passes (mean, then squared deviations) keep float32 variance accurate for offset data.
    const T mu = sum_of<T>(n, [&](int64_t i, auto t) { return load(xr, i, t); }) / T(n);
    const T var = sum_of<T>(n, [&](int64_t i, auto t) {
                    const auto d = load(xr, i, t) - mu;
                    return d * d;
                  }) / T(n);
    const T rs = T(1) / std::sqrt(var + eps);
    mean[r] = mu;
    rstd[r] = rs;
    if (w && b)
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mu) * rs * w[i] + b[i];
    else if (w)
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mu) * rs * w[i];
    else if (b)
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mu) * rs + b[i];
    else
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mu) * rs;
  }
}

// y = xhat * w + b with xhat = (x - mean) * rstd  =>
//   db += sum_rows dy ; dw += sum_rows dy * xhat ;
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w.
template <class T>
void layer_norm_backward_rows(const T* x, const T* w, const T* mean, const T* rstd, const T* dy, T* dx, T* dw, T* db,
                              int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* __restrict xr = x + r * n;
    const T* __restrict gr = dy + r * n;
    const T mu = mean[r], rs = rstd[r];
    if (db)
      for (int64_t i = 0; i < n; ++i) db[i] += gr[i];
    if (dw)
      for (int64_t i = 0; i < n; ++i) dw[i] += gr[i] * (xr[i] - mu) * rs;
    if (!dx) continue;
    T* __restrict dxr = dx + r * n;
    const auto g = [&](int64_t i, auto t) {
      if (w) return load(gr, i, t) * load(w, i, t);
      return load(gr, i, t);
    };
    const auto xhat = [&](int64_t i, auto t) { return (load(xr, i, t) - mu) * rs; };
    const T g_mean = sum_of<T>(n, g) / T(n);
    const T gx_mean = sum_of<T>(n, [&](int64_t i, auto t) { return g(i, t) * xhat(i, t); }) / T(n);
    map_to(dxr, n, [&](int64_t i, auto t) { return rs * (g(i, t) - g_mean - xhat(i, t) * gx_mean); });
  }
}

// ---- cross-entropy -----------------------------------------------------------------------------

// Per row with target t, lse = logsumexp(x):  loss = (1 - ls) (lse - x_t) + ls (lse - mean(x)).
template <class T>
int64_t cross_entropy_rows(const T* logits, const int64_t* targets, int64_t rows, int64_t C, int64_t ignore, double ls,
                           T* lse, T* row_loss, double* loss_sum, int64_t* count) {
  double total = 0.0;
  int64_t kept = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const T* __restrict x = logits + r * C;
    const int64_t t = targets[r];
    if (t == ignore) {
      lse[r] = T(0);
      if (row_loss) row_loss[r] = T(0);
      continue;
    }
    if (t < 0 || t >= C) return r;
    const T l = logsumexp(x, row_max(x, C), C);
    lse[r] = l;
    double loss = (1.0 - ls) * (double(l) - double(x[t]));
    if (ls != 0.0) {
      const T sum_x = sum_of<T>(C, [&](int64_t i, auto tag) { return load(x, i, tag); });
      loss += ls * (double(l) - double(sum_x) / double(C));
    }
    if (row_loss) row_loss[r] = static_cast<T>(loss);
    total += loss;
    ++kept;
  }
  *loss_sum = total;
  *count = kept;
  return -1;
}

// dloss/dx_c = (softmax_c - (1 - ls) [c == t] - ls / C) * dloss * scale on kept rows.
template <class T>
void cross_entropy_backward_rows(const T* logits, const int64_t* targets, const T* lse, int64_t rows, int64_t C,
                                 int64_t ignore, double ls, const T* dloss, int64_t dloss_stride, double scale,
                                 T* dlogits) {
  const T off = T(ls / double(C));
  for (int64_t r = 0; r < rows; ++r) {
    const T g = static_cast<T>(double(dloss[r * dloss_stride]) * scale);
    const T* __restrict x = logits + r * C;
    T* __restrict d = dlogits + r * C;
    const int64_t t = targets[r];
    if (t == ignore) {
      std::fill(d, d + C, T(0));
      continue;
    }
    const T l = lse[r];
    map_to(d, C, [&](int64_t i, auto tag) { return (xsimd::exp(load(x, i, tag) - l) - off) * g; });
    d[t] -= T(1.0 - ls) * g;
  }
}

// ---- the table ---------------------------------------------------------------------------------

template <class Fn>
decltype(auto) typed(DType dtype, Fn&& fn) {
  return dispatch_floating(dtype, "nn kernel", std::forward<Fn>(fn));
}

class CpuNNKernels final : public NNKernels {
 public:
  void softmax_forward(DType dtype, const void* x, void* y, AxisView v, bool log) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      const T* xs = static_cast<const T*>(x);
      T* ys = static_cast<T*>(y);
      if (v.inner != 1) return softmax_strided(xs, ys, v, log);
      cpu::parallel_rows(v.outer, v.axis, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) softmax_row(xs + r * v.axis, ys + r * v.axis, v.axis, log);
      });
    });
  }

  void softmax_backward(DType dtype, const void* y, const void* dy, void* dx, AxisView v, bool log) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      const T* ys = static_cast<const T*>(y);
      const T* gs = static_cast<const T*>(dy);
      T* ds = static_cast<T*>(dx);
      if (v.inner != 1) return softmax_backward_strided(ys, gs, ds, v, log);
      cpu::parallel_rows(v.outer, v.axis, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          softmax_backward_row(ys + r * v.axis, gs + r * v.axis, ds + r * v.axis, v.axis, log);
      });
    });
  }

  void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y, void* mean,
                          void* rstd, int64_t rows, int64_t cols, double epsilon) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::parallel_rows(rows, cols, [&](int64_t r0, int64_t r1) {
        layer_norm_rows<T>(static_cast<const T*>(x) + r0 * cols, static_cast<const T*>(weight),
                           static_cast<const T*>(bias), static_cast<T*>(y) + r0 * cols, static_cast<T*>(mean) + r0,
                           static_cast<T*>(rstd) + r0, r1 - r0, cols, T(epsilon));
      });
    });
  }

  void layer_norm_backward(DType dtype, const void* x, const void* weight, const void* mean, const void* rstd,
                           const void* dy, void* dx, void* dweight, void* dbias, int64_t rows,
                           int64_t cols) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      T* dw = static_cast<T*>(dweight);
      T* db = static_cast<T*>(dbias);
      // Part 0 accumulates straight into dw and db; part p > 0 into row p - 1 of its own zeroed partials,
      // added in part order afterwards.
      const int64_t extra = (cpu::pool_threads() - 1) * cols;
      std::vector<T> dw_parts(static_cast<std::size_t>(dw ? extra : 0)), db_parts(static_cast<std::size_t>(db ? extra : 0));
      auto target = [&](T* whole, std::vector<T>& parts, int64_t part) {
        return !whole || part == 0 ? whole : parts.data() + (part - 1) * cols;
      };
      const int64_t parts = cpu::parallel_parts(rows, std::max<int64_t>(1, cpu::kElementGrain / cols),
                                                [&](int64_t part, int64_t r0, int64_t r1) {
        layer_norm_backward_rows<T>(static_cast<const T*>(x) + r0 * cols, static_cast<const T*>(weight),
                                    static_cast<const T*>(mean) + r0, static_cast<const T*>(rstd) + r0,
                                    static_cast<const T*>(dy) + r0 * cols, dx ? static_cast<T*>(dx) + r0 * cols : nullptr,
                                    target(dw, dw_parts, part), target(db, db_parts, part), r1 - r0, cols);
      });
      auto add_parts = [&](T* whole, const std::vector<T>& partials) {
        for (int64_t i = 0; whole && i < (parts - 1) * cols; ++i) whole[i % cols] += partials[static_cast<std::size_t>(i)];
      };
      add_parts(dw, dw_parts);
      add_parts(db, db_parts);
    });
  }

  int64_t embedding_forward(DType dtype, const int64_t* ids, int64_t n, const void* weight, int64_t vocab,
                            int64_t dim, void* out) const override {
    const auto row_bytes = static_cast<std::size_t>(dim) * dtype_size(dtype);
    const auto* w = static_cast<const char*>(weight);
    auto* o = static_cast<char*>(out);
    for (int64_t i = 0; i < n; ++i) {
      if (ids[i] < 0 || ids[i] >= vocab) return i;
      if (row_bytes) std::memcpy(o + i * row_bytes, w + ids[i] * row_bytes, row_bytes);
    }
    return -1;
  }

  void embedding_backward(DType dtype, const int64_t* ids, int64_t n, const void* dy, int64_t dim,
                          void* dweight) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      const T* g = static_cast<const T*>(dy);
      T* dw = static_cast<T*>(dweight);
      for (int64_t i = 0; i < n; ++i) {
        T* __restrict row = dw + ids[i] * dim;
        const T* __restrict gi = g + i * dim;
        for (int64_t j = 0; j < dim; ++j) row[j] += gi[j];
      }
    });
  }

  int64_t cross_entropy_forward(DType dtype, const void* logits, const int64_t* targets, int64_t rows,
                                int64_t classes, int64_t ignore_index, double label_smoothing, void* lse,
                                void* row_loss, double* loss_sum, int64_t* count) const override {
    return typed(dtype, [&](auto t) {
      using T = decltype(t);
      // Per-part sums, added in part order: the same total on every run with this thread count.
      const int64_t max_parts = cpu::pool_threads();
      std::vector<double> sums(static_cast<std::size_t>(max_parts), 0.0);
      std::vector<int64_t> counts(static_cast<std::size_t>(max_parts), 0), bad(static_cast<std::size_t>(max_parts), -1);
      const int64_t parts = cpu::parallel_parts(rows, std::max<int64_t>(1, cpu::kElementGrain / classes),
                                                [&](int64_t part, int64_t r0, int64_t r1) {
        const auto i = static_cast<std::size_t>(part);
        const int64_t b = cross_entropy_rows<T>(static_cast<const T*>(logits) + r0 * classes, targets + r0, r1 - r0,
                                                classes, ignore_index, label_smoothing, static_cast<T*>(lse) + r0,
                                                row_loss ? static_cast<T*>(row_loss) + r0 : nullptr, &sums[i],
                                                &counts[i]);
        bad[i] = b < 0 ? -1 : r0 + b;
      });
      *loss_sum = 0.0, *count = 0;
      for (std::size_t i = 0; i < static_cast<std::size_t>(parts); ++i) {
        if (bad[i] >= 0) return bad[i];  // the first bad target in row order
        *loss_sum += sums[i], *count += counts[i];
      }
      return int64_t{-1};
    });
  }

  void cross_entropy_backward(DType dtype, const void* logits, const int64_t* targets, const void* lse,
                              int64_t rows, int64_t classes, int64_t ignore_index, double label_smoothing,
                              const void* dloss, int64_t dloss_stride, double scale, void* dlogits) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      cpu::parallel_rows(rows, classes, [&](int64_t r0, int64_t r1) {
        cross_entropy_backward_rows<T>(static_cast<const T*>(logits) + r0 * classes, targets + r0,
                                       static_cast<const T*>(lse) + r0, r1 - r0, classes, ignore_index,
                                       label_smoothing, static_cast<const T*>(dloss) + r0 * dloss_stride,
                                       dloss_stride, scale, static_cast<T*>(dlogits) + r0 * classes);
      });
    });
  }

  void mse_forward(DType dtype, const void* a, const void* b, int64_t n, void* out) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      const T* as = static_cast<const T*>(a);
      const T* bs = static_cast<const T*>(b);
      const T s = sum_of<T>(n, [&](int64_t i, auto tag) {
        const auto d = load(as, i, tag) - load(bs, i, tag);
        return d * d;
      });
      *static_cast<T*>(out) = n ? s / T(n) : std::numeric_limits<T>::quiet_NaN();
    });
  }

  // out = mean((a - b)^2)  =>  da = 2 (a - b) g / n ; db = -da
  void mse_backward(DType dtype, const void* a, const void* b, const void* dloss, int64_t n, void* da,
                    void* db) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      const T* __restrict as = static_cast<const T*>(a);
      const T* __restrict bs = static_cast<const T*>(b);
      const T k = T(2) * *static_cast<const T*>(dloss) / T(n);
      T* __restrict das = static_cast<T*>(da);
      T* __restrict dbs = static_cast<T*>(db);
      if (das)
        for (int64_t i = 0; i < n; ++i) das[i] = k * (as[i] - bs[i]);
      if (dbs)
        for (int64_t i = 0; i < n; ++i) dbs[i] = k * (bs[i] - as[i]);
    });
  }
};

}  // namespace

const NNKernels* CpuBackend::nn() const {
  static const CpuNNKernels kernels;
  return &kernels;
}

}  // namespace xgrad
