#pragma once
// Kernel table of the nn op family (see backend.hpp), optional: a backend without it gets the same
// math composed from the required tables (lib/ops/nn.cpp). Every kernel is fused: one call computes a
// whole forward or backward of its op. Pointers are device pointers to contiguous row-major data of
// `dtype` (float32 or float64) unless typed int64; "accumulates" means += into the buffer.
#include <cstdint>

#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// A tensor seen as (outer, axis, inner) around the axis an op reduces over; inner == 1 for the last axis.
struct AxisView {
  std::int64_t outer = 1;  ///< product of the extents before the axis
  std::int64_t axis = 1;   ///< extent of the axis
  std::int64_t inner = 1;  ///< product of the extents after the axis
};

/// Device kernels behind the nn ops.
class NNKernels {
 public:
  virtual ~NNKernels() = default;

  /// y = softmax(x) along the view's axis (log_softmax when `log`); a slice that is all -inf gives zeros.
  virtual void softmax_forward(DType dtype, const void* x, void* y, AxisView view, bool log) const = 0;
  /// dx = y * (dy - sum(dy * y)) from the saved softmax y, or dx = dy - exp(y) * sum(dy) from the saved
  /// log_softmax y (`log`); zero on slices the forward masked out entirely.
  virtual void softmax_backward(DType dtype, const void* y, const void* dy, void* dx, AxisView view,
                                bool log) const = 0;

  /// y = (x - mean) * rstd * weight + bias over rows of `cols`; weight/bias may be null; writes mean and
  /// rstd (one per row).
  virtual void layer_norm_forward(DType dtype, const void* x, const void* weight, const void* bias, void* y,
                                  void* mean, void* rstd, std::int64_t rows, std::int64_t cols,
                                  double epsilon) const = 0;
  /// Writes dx (if not null) and accumulates dweight and dbias (if not null); weight may be null.
  virtual void layer_norm_backward(DType dtype, const void* x, const void* weight, const void* mean,
                                   const void* rstd, const void* dy, void* dx, void* dweight, void* dbias,
                                   std::int64_t rows, std::int64_t cols) const = 0;

  /// out[i] = weight[ids[i]] for `n` ids into a (vocab, dim) table. Returns -1, or the position of
  /// the first id outside [0, vocab) (then `out` is partly written). Returns a value to the host, so it
  /// waits for the work queued before it.
  virtual std::int64_t embedding_forward(DType dtype, const std::int64_t* ids, std::int64_t n,
                                         const void* weight, std::int64_t vocab, std::int64_t dim,
                                         void* out) const = 0;
  /// dweight[ids[i]] += dy[i] for `n` validated ids (repeated ids accumulate).
  virtual void embedding_backward(DType dtype, const std::int64_t* ids, std::int64_t n, const void* dy,
                                  std::int64_t dim, void* dweight) const = 0;

  /// Cross-entropy of `rows` rows of `classes` logits, per row (1 - ls)(lse - x_t) + ls (lse - mean(x)):
  /// writes each row's logsumexp to `lse`, each row's loss to `row_loss` when not null (0 on ignored rows),
  /// and the summed loss (accumulated in float64) and the count of non-ignored rows to host `loss_sum` and
  /// `count`. Returns -1, or the position of the first target outside [0, classes) that is not
  /// `ignore_index`. Returns values to the host, so it waits for the work queued before it.
  virtual std::int64_t cross_entropy_forward(DType dtype, const void* logits, const std::int64_t* targets,
                                             std::int64_t rows, std::int64_t classes,
                                             std::int64_t ignore_index, double label_smoothing, void* lse,
                                             void* row_loss, double* loss_sum, std::int64_t* count) const = 0;
  /// dlogits[r] = (softmax - smoothed one-hot) * dloss[r * dloss_stride] * scale on non-ignored rows, 0 on
  /// ignored ones (written); dloss_stride is 0 for a reduced loss, 1 for per-row losses.
  virtual void cross_entropy_backward(DType dtype, const void* logits, const std::int64_t* targets,
                                      const void* lse, std::int64_t rows, std::int64_t classes,
                                      std::int64_t ignore_index, double label_smoothing, const void* dloss,
                                      std::int64_t dloss_stride, double scale, void* dlogits) const = 0;

  /// out[0] = mean((a - b)^2) over `n` elements.
  virtual void mse_forward(DType dtype, const void* a, const void* b, std::int64_t n, void* out) const = 0;
  /// da = 2 (a - b) dloss[0] / n and db = -da, each written only when not null.
  virtual void mse_backward(DType dtype, const void* a, const void* b, const void* dloss, std::int64_t n,
                            void* da, void* db) const = 0;
};

}  // namespace xgrad
