// CUDA kernels of the nn ops. Row kernels give each row to one warp: the lanes stride along the row, the
// row's max and sums are warp reductions (device.cuh), and the per-element formulas are math/rows.hpp's,
// shared with the CPU test. Softmax over a middle axis gives each (outer, inner) column to one thread, so
// neighbouring threads read neighbouring addresses. Sums over rows (layer norm's dweight and dbias, the
// losses) go through fixed partitions: deterministic.
#include "backend/cuda/device.cuh"
#include "backend/cuda/math/rows.hpp"
#include "backend/cuda/tables.hpp"

namespace xgrad::cuda {

namespace {

using std::int64_t;

// ---- softmax / log_softmax ---------------------------------------------------------------------

// Row r of (rows, n): m = max(x); s = Σ exp(x - m); y = exp(x - m) / s, or x - (m + log s). All -inf: zeros.
template <class T>
__global__ void softmax_rows_kernel(const T* x, T* y, int64_t rows, int64_t n, bool log) {
  const int lane = threadIdx.x % kWarp;
  XGRAD_WARP_ROWS(r, rows) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    T m = neg_inf<T>();
    for (int64_t i = lane; i < n; i += kWarp) m = xr[i] > m ? xr[i] : m;
    m = warp_max(m);
    if (m == neg_inf<T>()) {  // every weight is zero: zeros, not 0/0
      for (int64_t i = lane; i < n; i += kWarp) yr[i] = T(0);
      continue;
    }
    T s = T(0);
    for (int64_t i = lane; i < n; i += kWarp) s += std::exp(xr[i] - m);
    s = warp_sum(s);
    const T k = log ? m + std::log(s) : T(1) / s;
    for (int64_t i = lane; i < n; i += kWarp) yr[i] = softmax_value(xr[i], m, k, log);
  }
}

// Column (o, j) of a (outer, axis, inner) view: the same three passes down the axis.
template <class T>
__global__ void softmax_columns_kernel(const T* x, T* y, AxisView v, bool log) {
  XGRAD_GRID_LOOP(c, v.outer * v.inner) {
    const int64_t o = c / v.inner, j = c % v.inner, base = o * v.axis * v.inner + j;
    T m = neg_inf<T>();
    for (int64_t k = 0; k < v.axis; ++k) m = x[base + k * v.inner] > m ? x[base + k * v.inner] : m;
    if (m == neg_inf<T>()) {
      for (int64_t k = 0; k < v.axis; ++k) y[base + k * v.inner] = T(0);
      continue;
    }
    T s = T(0);
    for (int64_t k = 0; k < v.axis; ++k) s += std::exp(x[base + k * v.inner] - m);
    const T kk = log ? m + std::log(s) : T(1) / s;
    for (int64_t k = 0; k < v.axis; ++k) y[base + k * v.inner] = softmax_value(x[base + k * v.inner], m, kk, log);
  }
}

// Backward of a row: softmax dx = y (dy - Σ dy y); log_softmax dx = dy - exp(y) Σ dy, zeros on a row the
// forward masked out (all y = 0, recognised when n > 1: a real log_softmax row cannot be all 0).
template <class T>
__global__ void softmax_backward_rows_kernel(const T* y, const T* dy, T* dx, int64_t rows, int64_t n, bool log) {
  const int lane = threadIdx.x % kWarp;
  XGRAD_WARP_ROWS(r, rows) {
    const T* yr = y + r * n;
    const T* gr = dy + r * n;
    T* dr = dx + r * n;
    T acc = T(0);
    int live = 0;
    for (int64_t i = lane; i < n; i += kWarp) {
      acc += log ? gr[i] : gr[i] * yr[i];
      live |= yr[i] != T(0);
    }
    acc = warp_sum(acc);
    live = warp_sum(live);
    const bool masked = log && n > 1 && live == 0;
    for (int64_t i = lane; i < n; i += kWarp) dr[i] = masked ? T(0) : softmax_grad(yr[i], gr[i], acc, log);
  }
}

template <class T>
__global__ void softmax_backward_columns_kernel(const T* y, const T* dy, T* dx, AxisView v, bool log) {
  XGRAD_GRID_LOOP(c, v.outer * v.inner) {
    const int64_t o = c / v.inner, j = c % v.inner, base = o * v.axis * v.inner + j;
    T acc = T(0);
    bool live = v.axis == 1;
    for (int64_t k = 0; k < v.axis; ++k) {
      const int64_t i = base + k * v.inner;
      acc += log ? dy[i] : dy[i] * y[i];
      live = live || y[i] != T(0);
    }
    const bool masked = log && !live;
    for (int64_t k = 0; k < v.axis; ++k) {
      const int64_t i = base + k * v.inner;
      dx[i] = masked ? T(0) : softmax_grad(y[i], dy[i], acc, log);
    }
  }
}

// ---- layer norm --------------------------------------------------------------------------------

// Row r: mean, then the mean squared deviation (two passes keep float32 variance accurate), rstd, y.
template <class T>
__global__ void layer_norm_kernel(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t n,
                                  T eps) {
  const int lane = threadIdx.x % kWarp;
  XGRAD_WARP_ROWS(r, rows) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    T s = T(0);
    for (int64_t i = lane; i < n; i += kWarp) s += xr[i];
    const T mu = warp_sum(s) / T(n);
    T q = T(0);
    for (int64_t i = lane; i < n; i += kWarp) q += (xr[i] - mu) * (xr[i] - mu);
    const T rs = layer_norm_rstd(warp_sum(q) / T(n), eps);
    if (lane == 0) mean[r] = mu, rstd[r] = rs;
    for (int64_t i = lane; i < n; i += kWarp) yr[i] = layer_norm_value(xr[i], mu, rs, w, b, i);
  }
}

// dx of row r: rstd (g - mean(g) - xhat mean(g xhat)), g = dy w, xhat = (x - mean) rstd.
template <class T>
__global__ void layer_norm_dx_kernel(const T* x, const T* w, const T* mean, const T* rstd, const T* dy, T* dx,
                                     int64_t rows, int64_t n) {
  const int lane = threadIdx.x % kWarp;
  XGRAD_WARP_ROWS(r, rows) {
    const T* xr = x + r * n;
    const T* gr = dy + r * n;
    const T mu = mean[r], rs = rstd[r];
    T gs = T(0), gxs = T(0);
    for (int64_t i = lane; i < n; i += kWarp) {
      const T g = w ? gr[i] * w[i] : gr[i];
      gs += g;
      gxs += g * ((xr[i] - mu) * rs);
    }
    const T g_mean = warp_sum(gs) / T(n), gx_mean = warp_sum(gxs) / T(n);
    for (int64_t i = lane; i < n; i += kWarp) {
      const T g = w ? gr[i] * w[i] : gr[i];
      dx[r * n + i] = layer_norm_grad(g, (xr[i] - mu) * rs, rs, g_mean, gx_mean);
    }
  }
}

// Rows a thread of the dweight/dbias partial sums covers.
constexpr int64_t kParamChunk = 64;

// Partial c of column j: Σ over rows [c L, (c + 1) L) of dy xhat (dweight) and dy (dbias).
template <class T>
__global__ void layer_norm_param_partial_kernel(const T* x, const T* mean, const T* rstd, const T* dy, int64_t rows,
                                                int64_t n, T* part_w, T* part_b) {
  const int64_t chunks = (rows + kParamChunk - 1) / kParamChunk;
  XGRAD_GRID_LOOP(item, chunks * n) {
    const int64_t c = item / n, j = item % n, r1 = (c + 1) * kParamChunk < rows ? (c + 1) * kParamChunk : rows;
    T sw = T(0), sb = T(0);
    for (int64_t r = c * kParamChunk; r < r1; ++r) {
      sw += dy[r * n + j] * ((x[r * n + j] - mean[r]) * rstd[r]);
      sb += dy[r * n + j];
    }
    if (part_w) part_w[item] = sw;
    if (part_b) part_b[item] = sb;
  }
}

// dweight[j] += Σ_c part_w[c][j], dbias likewise, chunks in order.
template <class T>
__global__ void layer_norm_param_finish_kernel(const T* part_w, const T* part_b, int64_t chunks, int64_t n, T* dw,
                                               T* db) {
  XGRAD_GRID_LOOP(j, n) {
    T sw = T(0), sb = T(0);
    for (int64_t c = 0; c < chunks; ++c) {
      if (part_w) sw += part_w[c * n + j];
      if (part_b) sb += part_b[c * n + j];
    }
    if (dw) dw[j] += sw;
    if (db) db[j] += sb;
  }
}

// ---- embedding ---------------------------------------------------------------------------------

// *first_bad = min over positions i whose id is outside [0, vocab) (an integer minimum: any order gives it).
template <class T>
__global__ void gather_rows_kernel(const int64_t* ids, int64_t n, const T* weight, int64_t vocab, int64_t dim, T* out) {
  XGRAD_GRID_LOOP(item, n * dim) {
    const int64_t i = item / dim, j = item % dim, id = ids[i];
    if (id >= 0 && id < vocab) out[item] = weight[id * dim + j];
  }
}

// ---- cross-entropy -----------------------------------------------------------------------------

// Row r with target t: lse = m + log Σ exp(x - m); loss = (1 - ls)(lse - x_t) + ls (lse - mean(x)) in double.
// Ignored rows get lse = loss = 0 and are not counted; a target outside [0, C) sets *first_bad.
template <class T>
__global__ void cross_entropy_kernel(const T* logits, const int64_t* targets, int64_t rows, int64_t C, int64_t ignore,
                                     double ls, T* lse, T* row_loss, double* loss, int64_t* kept,
                                     unsigned long long* first_bad) {
  const int lane = threadIdx.x % kWarp;
  XGRAD_WARP_ROWS(r, rows) {
    const T* x = logits + r * C;
    const int64_t t = targets[r];
    const bool valid = t != ignore && t >= 0 && t < C;
    if (!valid) {
      if (lane == 0) {
        lse[r] = T(0);
        if (row_loss) row_loss[r] = T(0);
        loss[r] = 0.0;
        kept[r] = 0;
        if (t != ignore) atomicMin(first_bad, static_cast<unsigned long long>(r));
      }
      continue;
    }
    T m = neg_inf<T>();
    for (int64_t i = lane; i < C; i += kWarp) m = x[i] > m ? x[i] : m;
    m = warp_max(m);
    T s = T(0), sum_x = T(0);
    for (int64_t i = lane; i < C; i += kWarp) {
      s += std::exp(x[i] - m);
      sum_x += x[i];
    }
    const T l = m + std::log(warp_sum(s));
    sum_x = warp_sum(sum_x);
    if (lane == 0) {
      const double row = cross_entropy_loss(l, x[t], sum_x, C, ls);
      lse[r] = l;
      if (row_loss) row_loss[r] = static_cast<T>(row);
      loss[r] = row;
      kept[r] = 1;
    }
  }
}

template <class T>
__global__ void cross_entropy_backward_kernel(const T* logits, const int64_t* targets, const T* lse, int64_t rows,
                                              int64_t C, int64_t ignore, double ls, const T* dloss, int64_t dloss_stride,
                                              double scale, T* dlogits) {
  XGRAD_GRID_LOOP(i, rows * C) {
    const int64_t r = i / C, c = i % C, t = targets[r];
    if (t == ignore) {
      dlogits[i] = T(0);
      continue;
    }
    const T g = static_cast<T>(static_cast<double>(dloss[r * dloss_stride]) * scale);
    dlogits[i] = cross_entropy_grad(logits[i], lse[r], c == t, ls, C, g);
  }
}

// Reads element i of an array (a reduce_to_device map).
template <class T>
struct ElementOf {
  const T* p;
  __device__ T operator()(int64_t i) const { return p[i]; }
};

// ---- mse -----------------------------------------------------------------------------------------

template <class T>
struct SquaredDifference {
  const T* a;
  const T* b;
  __device__ T operator()(int64_t i) const { return (a[i] - b[i]) * (a[i] - b[i]); }
};

// out[0] = total / n (NaN for n = 0).
template <class T>
struct MeanInto {
  T* out;
  int64_t n;
  __device__ void operator()(T total) const { *out = n ? total / T(n) : T(0) / T(0); }
};

template <class T>
__global__ void mse_backward_kernel(const T* a, const T* b, const T* dloss, int64_t n, T* da, T* db) {
  const T k = T(2) * dloss[0] / T(n);
  XGRAD_GRID_LOOP(i, n) {
    if (da) da[i] = k * (a[i] - b[i]);
    if (db) db[i] = k * (b[i] - a[i]);
  }
}

template <class Fn>
decltype(auto) typed(DType dtype, Fn&& fn) {
  return dispatch_floating(dtype, "nn kernel", std::forward<Fn>(fn));
}

class CudaNNKernels final : public NNKernels {
 public:
  explicit CudaNNKernels(const Context& ctx) : ctx_(ctx) {}

  void softmax_forward(DType dtype, const void* x, void* y, AxisView v, bool log) const override {
    if (v.outer * v.axis * v.inner == 0) return;
    ctx_.activate();
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      if (v.inner == 1)
        softmax_rows_kernel<T><<<grid_for_rows(v.outer), kThreads, 0, ctx_.stream>>>(
            static_cast<const T*>(x), static_cast<T*>(y), v.outer, v.axis, log);
      else
        softmax_columns_kernel<T><<<grid_for(v.outer * v.inner), kThreads, 0, ctx_.stream>>>(
            static_cast<const T*>(x), static_cast<T*>(y), v, log);
    });
    check_launch("softmax_rows_kernel / softmax_columns_kernel");
  }

  void softmax_backward(DType dtype, const void* y, const void* dy, void* dx, AxisView v, bool log) const override {
    if (v.outer * v.axis * v.inner == 0) return;
    ctx_.activate();
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      if (v.inner == 1)
        softmax_backward_rows_kernel<T><<<grid_for_rows(v.outer), kThreads, 0, ctx_.stream>>>(
            static_cast<const T*>(y), static_cast<const T*>(dy), static_cast<T*>(dx), v.outer, v.axis, log);
      else
        softmax_backward_columns_kernel<T><<<grid_for(v.outer * v.inner), kThreads, 0, ctx_.stream>>>(
            static_cast<const T*>(y), static_cast<const T*>(dy), static_cast<T*>(dx), v, log);
    });
    check_launch("softmax_backward_rows_kernel / softmax_backward_columns_kernel");
  }

  void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y, void* mean,
                          void* rstd, int64_t rows, int64_t cols, double epsilon) const override {
    if (rows == 0) return;
    ctx_.activate();
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      layer_norm_kernel<T><<<grid_for_rows(rows), kThreads, 0, ctx_.stream>>>(
          static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias), static_cast<T*>(y),
          static_cast<T*>(mean), static_cast<T*>(rstd), rows, cols, static_cast<T>(epsilon));
    });
    check_launch("layer_norm_kernel");
  }

  void layer_norm_backward(DType dtype, const void* x, const void* weight, const void* mean, const void* rstd,
                           const void* dy, void* dx, void* dweight, void* dbias, int64_t rows,
                           int64_t cols) const override {
    if (rows == 0 || cols == 0) return;
    ctx_.activate();
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      const T* xs = static_cast<const T*>(x);
      const T* mu = static_cast<const T*>(mean);
      const T* rs = static_cast<const T*>(rstd);
      const T* g = static_cast<const T*>(dy);
      if (dx) {
        layer_norm_dx_kernel<T><<<grid_for_rows(rows), kThreads, 0, ctx_.stream>>>(
            xs, static_cast<const T*>(weight), mu, rs, g, static_cast<T*>(dx), rows, cols);
        check_launch("layer_norm_dx_kernel");
      }
      if (!dweight && !dbias) return;
      const int64_t chunks = (rows + kParamChunk - 1) / kParamChunk;
      const auto part = static_cast<std::size_t>(chunks * cols) * sizeof(T);
      Scratch part_w(ctx_, dweight ? part : 0), part_b(ctx_, dbias ? part : 0);
      layer_norm_param_partial_kernel<T><<<grid_for(chunks * cols), kThreads, 0, ctx_.stream>>>(
          xs, mu, rs, g, rows, cols, part_w.as<T>(), part_b.as<T>());
      check_launch("layer_norm_param_partial_kernel");
      layer_norm_param_finish_kernel<T><<<grid_for(cols), kThreads, 0, ctx_.stream>>>(
          part_w.as<T>(), part_b.as<T>(), chunks, cols, static_cast<T*>(dweight), static_cast<T*>(dbias));
      check_launch("layer_norm_param_finish_kernel");
    });
  }

  int64_t embedding_forward(DType dtype, const int64_t* ids, int64_t n, const void* weight, int64_t vocab,
                            int64_t dim, void* out) const override {
    const int64_t bad = first_out_of_range(ctx_, ids, n, vocab);
    if (bad >= 0 || n == 0) return bad;
    if (dim > 0) {
      typed(dtype, [&](auto t) {
        using T = decltype(t);
        gather_rows_kernel<T><<<grid_for(n * dim), kThreads, 0, ctx_.stream>>>(
            ids, n, static_cast<const T*>(weight), vocab, dim, static_cast<T*>(out));
      });
      check_launch("gather_rows_kernel");
    }
    return -1;
  }

  void embedding_backward(DType dtype, const int64_t* ids, int64_t n, const void* dy, int64_t dim,
                          void* dweight) const override {
    ctx_.activate();
    scatter_rows_add(ctx_, dtype, ids, n, dy, dim, dweight);
  }

  int64_t cross_entropy_forward(DType dtype, const void* logits, const int64_t* targets, int64_t rows, int64_t classes,
                                int64_t ignore_index, double label_smoothing, void* lse, void* row_loss,
                                double* loss_sum, int64_t* count) const override {
    *loss_sum = 0.0, *count = 0;
    if (rows == 0) return -1;
    ctx_.activate();
    // One buffer: per-row losses (double), per-row kept flags, then the three results for the host.
    struct Totals {
      double loss;
      int64_t count;
      unsigned long long first_bad;
    };
    const auto per_row = static_cast<std::size_t>(rows);
    Scratch scratch(ctx_, per_row * (sizeof(double) + sizeof(int64_t)) + sizeof(Totals));
    double* loss = scratch.as<double>();
    auto* kept = reinterpret_cast<int64_t*>(loss + per_row);
    auto* totals = reinterpret_cast<Totals*>(kept + per_row);
    set_value_kernel<unsigned long long><<<1, 1, 0, ctx_.stream>>>(&totals->first_bad, static_cast<unsigned long long>(rows));
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      cross_entropy_kernel<T><<<grid_for_rows(rows), kThreads, 0, ctx_.stream>>>(
          static_cast<const T*>(logits), targets, rows, classes, ignore_index, label_smoothing, static_cast<T*>(lse),
          static_cast<T*>(row_loss), loss, kept, &totals->first_bad);
    });
    check_launch("cross_entropy_kernel");
    reduce_to_device(ctx_, rows, ElementOf<double>{loss}, Plus{}, 0.0, StoreTo<double>{&totals->loss});
    reduce_to_device(ctx_, rows, ElementOf<int64_t>{kept}, Plus{}, int64_t{0}, StoreTo<int64_t>{&totals->count});
    Totals host{};
    ctx_.to_host(&host, totals, sizeof host);
    if (host.first_bad < static_cast<unsigned long long>(rows)) return static_cast<int64_t>(host.first_bad);
    *loss_sum = host.loss, *count = host.count;
    return -1;
  }

  void cross_entropy_backward(DType dtype, const void* logits, const int64_t* targets, const void* lse, int64_t rows,
                              int64_t classes, int64_t ignore_index, double label_smoothing, const void* dloss,
                              int64_t dloss_stride, double scale, void* dlogits) const override {
    if (rows * classes == 0) return;
    ctx_.activate();
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      cross_entropy_backward_kernel<T><<<grid_for(rows * classes), kThreads, 0, ctx_.stream>>>(
          static_cast<const T*>(logits), targets, static_cast<const T*>(lse), rows, classes, ignore_index,
          label_smoothing, static_cast<const T*>(dloss), dloss_stride, scale, static_cast<T*>(dlogits));
    });
    check_launch("cross_entropy_backward_kernel");
  }

  void mse_forward(DType dtype, const void* a, const void* b, int64_t n, void* out) const override {
    ctx_.activate();
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      reduce_to_device(ctx_, n, SquaredDifference<T>{static_cast<const T*>(a), static_cast<const T*>(b)}, Plus{}, T(0),
                       MeanInto<T>{static_cast<T*>(out), n});
    });
  }

  void mse_backward(DType dtype, const void* a, const void* b, const void* dloss, int64_t n, void* da,
                    void* db) const override {
    if (n == 0) return;
    ctx_.activate();
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      mse_backward_kernel<T><<<grid_for(n), kThreads, 0, ctx_.stream>>>(
          static_cast<const T*>(a), static_cast<const T*>(b), static_cast<const T*>(dloss), n, static_cast<T*>(da),
          static_cast<T*>(db));
    });
    check_launch("mse_backward_kernel");
  }

 private:
  const Context& ctx_;
};

}  // namespace

std::unique_ptr<NNKernels> make_nn(const Context& ctx) { return std::make_unique<CudaNNKernels>(ctx); }

}  // namespace xgrad::cuda
