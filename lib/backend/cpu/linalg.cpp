// CPU products: OpenBLAS CBLAS straight on the contiguous buffers, transpose flags instead of copies.
// <cblas.h> lives only here (and in cpu_backend.cpp): it clashes with xtensor-blas.
#include "xgrad/backend/linalg.hpp"

#include <cblas.h>

#include <algorithm>
#include <type_traits>

#include "backend/cpu/cpu_backend.hpp"

namespace xgrad {

namespace {

template <class T>
void gemm_one(const GemmArgs& g, const T* a, const T* b, T* c) {
  const auto ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = g.trans_b ? CblasTrans : CblasNoTrans;
  // Row-major leading dimensions of the stored (not the logical) matrices; BLAS wants >= 1.
  const auto lda = static_cast<blasint>(std::max<std::int64_t>(1, g.trans_a ? g.m : g.k));
  const auto ldb = static_cast<blasint>(std::max<std::int64_t>(1, g.trans_b ? g.k : g.n));
  const auto ldc = static_cast<blasint>(std::max<std::int64_t>(1, g.n));
  const auto m = static_cast<blasint>(g.m), n = static_cast<blasint>(g.n), k = static_cast<blasint>(g.k);
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, static_cast<float>(g.alpha), a, lda, b, ldb,
                static_cast<float>(g.beta), c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, g.alpha, a, lda, b, ldb, g.beta, c, ldc);
}

// An empty inner dimension makes the product zero: C = beta * C (BLAS may skip it entirely).
template <class T>
void scale(const GemmArgs& g, T* c) {
  const std::int64_t count = g.m * g.n;
  const T beta = static_cast<T>(g.beta);
  for (std::int64_t i = 0; i < count; ++i) c[i] = beta == T(0) ? T(0) : beta * c[i];
}

class CpuLinalgKernels final : public LinalgKernels {
 public:
  void gemm(const GemmArgs& g) const override {
    if (g.m == 0 || g.n == 0) return;
    dispatch_floating(g.dtype, "gemm", [&](auto tag) {
      using T = decltype(tag);
      const T* a = static_cast<const T*>(g.a);
      const T* b = static_cast<const T*>(g.b);
      T* c = static_cast<T*>(g.c);
      // Sequential over the batch, so repeated C offsets accumulate correctly.
      for (std::int64_t i = 0; i < g.batch; ++i) {
        T* ci = c + (g.c_offsets ? g.c_offsets[i] : 0);
        if (g.k == 0) {
          scale(g, ci);
          continue;
        }
        gemm_one<T>(g, a + (g.a_offsets ? g.a_offsets[i] : 0), b + (g.b_offsets ? g.b_offsets[i] : 0), ci);
      }
    });
  }
};

}  // namespace

const LinalgKernels& CpuBackend::linalg() const {
  static const CpuLinalgKernels kernels;
  return kernels;
}

}  // namespace xgrad
