// CPU kernels of the fused attention core. Per (batch, head) the products are CBLAS GEMMs that read
// Q, K, V and write the output in projection layout through a leading dimension of N * D; the masked
// softmax and its backward are row loops with xsimd exp (GCC vectorises std::exp only under -ffast-math,
// which is unsafe with -inf logits).
#include <cblas.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/cpu_backend.hpp"
#include "xgrad/backend/attention.hpp"

namespace xgrad {

namespace {

using std::int64_t;

template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// C = alpha * op(A)·op(B) + beta * C, row-major, in the precision of T.
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  const auto fa = ta ? CblasTrans : CblasNoTrans, fb = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, fa, fb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, fa, fb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// One row of logits z (length S) in place: add the bias, replace blocked logits by -inf (blocked: s >= limit,
// a zero keep-mask entry, or a -inf logit), then softmax with the maximum of the unblocked logits subtracted.
// Blocked weights come out exactly 0 (exp(-inf) = 0); a row with nothing unblocked is all 0, never NaN.
template <class T, class M>
void masked_softmax_row(T* __restrict z, int64_t S, int64_t limit, const T* bias, int64_t bias_step, const M* mask,
                        int64_t mask_step) {
  T m = kNegInf<T>;
  if (bias || mask || limit < S) {
    for (int64_t s = 0; s < S; ++s) {
      const T x = bias ? z[s] + bias[s * bias_step] : z[s];
      const bool blocked = s >= limit || (mask && mask[s * mask_step] == M(0));
      z[s] = blocked ? kNegInf<T> : x;
      m = std::max(m, z[s]);
    }
  } else {  // nothing to add or block: a plain maximum the compiler vectorises
    for (int64_t s = 0; s < S; ++s) m = std::max(m, z[s]);
  }
  if (m == kNegInf<T>) {  // nothing may be attended: zero weights (torch would give NaN)
    std::fill(z, z + S, T(0));
    return;
  }
  using Batch = xsimd::batch<T>;
  constexpr int64_t W = Batch::size;
  Batch acc(T(0));
  int64_t s = 0;
  for (; s + W <= S; s += W) {
    const Batch e = xsimd::exp(Batch::load_unaligned(z + s) - m);
    e.store_unaligned(z + s);
    acc += e;
  }
  alignas(64) T lanes[W];
  acc.store_aligned(lanes);
  T sum = T(0);
  for (int64_t l = 0; l < W; ++l) sum += lanes[l];
  for (; s < S; ++s) sum += (z[s] = std::exp(z[s] - m));
  const T inv = T(1) / sum;
  for (s = 0; s < S; ++s) z[s] *= inv;
}

template <class T>
const T* at(const ScoreOperand& op, int64_t b, int64_t n, int64_t t) {
  return static_cast<const T*>(op.data) + b * op.strides[0] + n * op.strides[1] + t * op.strides[2];
}

template <class T, class M>
void forward_typed(const AttentionDims& d, const T* q, const T* k, const T* v, T scale, const ScoreOperand& bias,
                   const ScoreOperand& mask, bool causal, const T* drop, T* weights, T* out, T* scratch) {
  const int64_t ldk = d.N * d.Dk, ldv = d.N * d.Dv, TS = d.T * d.S;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t n = 0; n < d.N; ++n) {
      const T* qh = q + b * d.T * ldk + n * d.Dk;
      const T* kh = k + b * d.S * ldk + n * d.Dk;
      const T* vh = v + b * d.S * ldv + n * d.Dv;
      T* w = weights + (b * d.N + n) * TS;
      // Z = scale * Q·Kᵀ  (T, S)
      gemm<T>(false, true, d.T, d.S, d.Dk, scale, qh, ldk, kh, ldk, T(0), w, d.S);
      for (int64_t t = 0; t < d.T; ++t)  // P = masked_softmax(Z + bias)
        masked_softmax_row<T, M>(w + t * d.S, d.S, causal ? std::min(t + 1, d.S) : d.S,
                                 bias.data ? at<T>(bias, b, n, t) : nullptr, bias.strides[3],
                                 mask.data ? at<M>(mask, b, n, t) : nullptr, mask.strides[3]);
      const T* p = w;
      if (drop) {  // P' = P ⊙ D, kept aside: the returned weights are P
        const T* dm = drop + (b * d.N + n) * TS;
        for (int64_t i = 0; i < TS; ++i) scratch[i] = w[i] * dm[i];
        p = scratch;
      }
      // O = P'·V  (T, Dv), written straight into the (B, T, N, Dv) output
      gemm<T>(false, false, d.T, d.Dv, d.S, T(1), p, d.S, vh, ldv, T(0), out + b * d.T * ldv + n * d.Dv, ldv);
    }
}

template <class T>
void backward_typed(const AttentionDims& d, const T* q, const T* k, const T* v, const T* weights, const T* drop,
                    T scale, const T* dout, const T* dweights, bool after_dropout, T* dq, T* dk, T* dv, T* dlogits,
                    T* scratch) {
  const int64_t ldk = d.N * d.Dk, ldv = d.N * d.Dv, TS = d.T * d.S;
  const bool need_logits = dq || dk || dlogits;
  T* dp = scratch;        // dP (T, S)
  T* tmp = scratch + TS;  // P' for dV, then dZ when dlogits is not wanted
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t n = 0; n < d.N; ++n) {
      const int64_t bn = (b * d.N + n) * TS;
      const T* qh = q + b * d.T * ldk + n * d.Dk;
      const T* kh = k + b * d.S * ldk + n * d.Dk;
      const T* vh = v + b * d.S * ldv + n * d.Dv;
      const T* doh = dout ? dout + b * d.T * ldv + n * d.Dv : nullptr;
      const T* p = weights + bn;
      const T* dm = drop ? drop + bn : nullptr;
      // O = P'·V  =>  dV += P'ᵀ·dO
      if (dv && doh) {
        const T* pd = p;
        if (dm) {
          for (int64_t i = 0; i < TS; ++i) tmp[i] = p[i] * dm[i];
          pd = tmp;
        }
        gemm<T>(true, false, d.S, d.Dv, d.T, T(1), pd, d.S, doh, ldv, T(1), dv + b * d.S * ldv + n * d.Dv, ldv);
      }
      if (!need_logits) continue;
      //          =>  dP' = dO·Vᵀ ;  P' = P ⊙ D  =>  dP = dP' ⊙ D  (+ the returned weights' own gradient)
      if (doh) {
        gemm<T>(false, true, d.T, d.S, d.Dv, T(1), doh, ldv, vh, ldv, T(0), dp, d.S);
        if (dm)
          for (int64_t i = 0; i < TS; ++i) dp[i] *= dm[i];
      } else {
        std::fill(dp, dp + TS, T(0));
      }
      if (dweights) {
        const T* g = dweights + bn;
        if (after_dropout && dm)
          for (int64_t i = 0; i < TS; ++i) dp[i] += g[i] * dm[i];
        else
          for (int64_t i = 0; i < TS; ++i) dp[i] += g[i];
      }
      // P = softmax(Z) per row  =>  dZ = P ⊙ (dP - Σ_s dP·P); blocked entries (P = 0) get 0
      T* dz = dlogits ? dlogits + bn : tmp;
      for (int64_t t = 0; t < d.T; ++t) {
        const T* pr = p + t * d.S;
        const T* gr = dp + t * d.S;
        T dot = T(0);
        for (int64_t s = 0; s < d.S; ++s) dot += pr[s] * gr[s];
        T* zr = dz + t * d.S;
        for (int64_t s = 0; s < d.S; ++s) zr[s] = pr[s] * (gr[s] - dot);
      }
      // Z = scale * Q·Kᵀ  =>  dQ += scale * dZ·K ;  dK += scale * dZᵀ·Q
      if (dq) gemm<T>(false, false, d.T, d.Dk, d.S, scale, dz, d.S, kh, ldk, T(1), dq + b * d.T * ldk + n * d.Dk, ldk);
      if (dk) gemm<T>(true, false, d.S, d.Dk, d.T, scale, dz, d.S, qh, ldk, T(1), dk + b * d.S * ldk + n * d.Dk, ldk);
    }
}

template <class Fn>
void typed(DType dtype, Fn&& fn) {
  if (dtype == DType::float32) fn(float{});
  else fn(double{});
}

class CpuAttentionKernels final : public AttentionKernels {
 public:
  void forward(DType dtype, const AttentionDims& d, const void* q, const void* k, const void* v, double scale,
               const ScoreOperand& bias, const ScoreOperand& mask, bool causal, const void* dropout_mask,
               void* weights, void* out, void* scratch) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      const auto run = [&](auto m) {
        forward_typed<T, decltype(m)>(d, static_cast<const T*>(q), static_cast<const T*>(k),
                                      static_cast<const T*>(v), T(scale), bias, mask, causal,
                                      static_cast<const T*>(dropout_mask), static_cast<T*>(weights),
                                      static_cast<T*>(out), static_cast<T*>(scratch));
      };
      if (!mask.data) run(T{});  // the mask type is irrelevant when there is none
      else dispatch_any(mask.dtype, run);
    });
  }

  void backward(DType dtype, const AttentionDims& d, const void* q, const void* k, const void* v, const void* weights,
                const void* dropout_mask, double scale, const void* dout, const void* dweights,
                bool dweights_after_dropout, void* dq, void* dk, void* dv, void* dlogits,
                void* scratch) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      backward_typed<T>(d, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v),
                        static_cast<const T*>(weights), static_cast<const T*>(dropout_mask), T(scale),
                        static_cast<const T*>(dout), static_cast<const T*>(dweights), dweights_after_dropout,
                        static_cast<T*>(dq), static_cast<T*>(dk), static_cast<T*>(dv), static_cast<T*>(dlogits),
                        static_cast<T*>(scratch));
    });
  }
};

}  // namespace

const AttentionKernels& CpuBackend::attention() const {
  static const CpuAttentionKernels kernels;
  return kernels;
}

}  // namespace xgrad
