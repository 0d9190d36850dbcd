// CPU kernels of the fused attention core. Per (batch, head) the products read Q, K, V and write the
// output in projection layout through a leading dimension of N * D; the masked softmax and its backward
// are row loops over the row kernels of rows.hpp. The forward works on blocks of 6 query rows held in
// registers and L1: scores, masked softmax, dropout and P·V with register-tile products, whenever the value
// width is whole SIMD batches; other widths go through CBLAS GEMMs per row block. The backward's per-block
// products use the same register tiles where their widths are whole batches, CBLAS otherwise.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/dropout_factors.hpp"
#include "backend/cpu/rows.hpp"
#include "backend/cpu/parallel.hpp"
#include "backend/cpu/tile_product.hpp"
#include "xgrad/backend/attention.hpp"

namespace xgrad {

namespace {

using std::int64_t;

template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// C = alpha * op(A)·B + beta * C, row-major, in the precision of T, through OpenBLAS.
template <class T>
void gemm(bool ta, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
          T beta, T* c, int64_t ldc) {
  GemmArgs g;
  g.trans_a = ta, g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.beta = beta;
  cpu::blas_gemm(g, a, lda, b, ldb, c, ldc);
}

using cpu::row_dot;
using cpu::row_max;
using cpu::softmax_prefix;

// One row of logits z into weights p (p may be z): add the bias, replace blocked logits by -inf (blocked:
// s >= limit, a zero keep-mask entry, or a -inf bias entry or logit), then softmax with the maximum of the
// unblocked logits subtracted. Blocked weights come out exactly 0 (exp(-inf) = 0), written up to `end`; a row
// with nothing unblocked is all 0, never NaN. A NaN among the unblocked logits makes the whole row NaN (the
// maximum propagates it); a NaN at a blocked position is replaced like any blocked logit and leaves no trace.
// Only the prefix [0, limit) is read, so a causal row costs just its allowed columns.
template <class T, class M>
void masked_softmax_row(const T* z, T* p, int64_t end, int64_t limit, const T* bias, int64_t bias_step, const M* mask,
                        int64_t mask_step) {
  int64_t n = limit;
  if (bias || mask) {
    for (int64_t s = 0; s < limit; ++s) {
      const T b = bias ? bias[s * bias_step] : T(0);
      const bool blocked = (mask && mask[s * mask_step] == M(0)) || b == kNegInf<T>;  // NaN + -inf would be NaN
      p[s] = blocked ? kNegInf<T> : z[s] + b;
    }
    z = p;
  }
  const T m = row_max(z, n);
  if (m == kNegInf<T>) n = 0;  // nothing may be attended: zero weights (torch would give NaN)
  softmax_prefix(z, p, n, end, m);
}

template <class T>
const T* at(const ScoreOperand& op, int64_t b, int64_t n, int64_t t) {
  return static_cast<const T*>(op.data) + b * op.strides[0] + n * op.strides[1] + t * op.strides[2];
}

// Rows [t0, t1) of head (b, n)'s weights from their logits (z, rows ldz apart, row t0 first) into p (rows ldp
// apart, p may be z), each by masked_softmax_row and written up to `end`. The forwards and the backward's
// recomputation all go through here, so a recomputed weight is bitwise the forward's.
template <class T, class M>
void softmax_rows(const AttentionDims& d, int64_t b, int64_t n, int64_t t0, int64_t t1, bool causal,
                  const ScoreOperand& bias, const ScoreOperand& mask, const T* z, int64_t ldz, T* p, int64_t ldp,
                  int64_t end) {
  for (int64_t t = t0; t < t1; ++t)
    masked_softmax_row<T, M>(z + (t - t0) * ldz, p + (t - t0) * ldp, end, causal ? std::min(t + 1, d.S) : d.S,
                             bias.data ? at<T>(bias, b, n, t) : nullptr, bias.strides[3],
                             mask.data ? at<M>(mask, b, n, t) : nullptr, mask.strides[3]);
}

// Query rows are processed in blocks [t0, t1) that see keys [0, key_end): all of S in general, and only up to
// the diagonal when causal, where every later key is blocked — the GEMMs then skip about half the work.
constexpr int64_t kCausalBlock = 16;

struct RowBlock {
  int64_t t0, t1, key_end;
};

template <class Fn>
void for_each_block(const AttentionDims& d, bool causal, Fn&& fn) {
  const int64_t step = causal ? kCausalBlock : d.T;
  for (int64_t t0 = 0; t0 < d.T; t0 += step) {
    const int64_t t1 = std::min(t0 + step, d.T);
    fn(RowBlock{t0, t1, causal ? std::min(t1, d.S) : d.S});
  }
}

// out (cols, rows) = in (rows, cols) read with leading dimension ld; out rows are ld_out apart.
template <class T>
void transpose_into(const T* in, int64_t ld, int64_t rows, int64_t cols, T* out, int64_t ld_out) {
  for (int64_t c = 0; c < cols; ++c)  // contiguous writes: strided reads stall less than strided stores
    for (int64_t r = 0; r < rows; ++r) out[c * ld_out + r] = in[r * ld + c];
}

using cpu::kTileBatches;
using cpu::kTileRows;
using cpu::small_product;

// C (m, n) = alpha · op(A)·B, or C += that when `accumulate`, for the backward's per-block products: register
// tiles of up to kTileRows rows when C's width is whole SIMD batches, else gemm. These products (16 query rows
// by a head width of keys or features) are too small for a BLAS call to amortise its own overhead: the Tiny
// LM's attention backward makes thousands per step.
template <class T>
void block_product(bool ta, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
                   int64_t ldb, bool accumulate, T* c, int64_t ldc) {
  if (n % static_cast<int64_t>(xsimd::batch<T>::size) != 0)
    return gemm<T>(ta, m, n, k, alpha, a, lda, b, ldb, T(accumulate), c, ldc);
  const int64_t a_row = ta ? 1 : lda, a_k = ta ? lda : 1;
  for (int64_t i0 = 0; i0 < m; i0 += kTileRows)
    small_product(std::min<int64_t>(kTileRows, m - i0), n, k, a + i0 * a_row, a_row, a_k, b, ldb, alpha,
                  c + i0 * ldc, ldc, accumulate);
}

// Whether the register-tiled forward serves a call: value widths of whole batches (P·V tiles have no column
// tail). Every call of such widths takes it, so that scores never depend on whether a mask or dropout is
// present.
template <class T>
bool tiled_forward_applies(const AttentionDims& d) {
  return d.Dv % static_cast<int64_t>(xsimd::batch<T>::size) == 0;
}

// One head's Kᵀ as a forward lays it out, and the logits Z = scale·Q·Kᵀ of a block of query rows computed from
// it as that forward computes them. The tiled forward pads Kᵀ's rows with zeros to whole tiles and takes up to
// kTileRows query rows per product; the GEMM forward makes one call per RowBlock, and Q·Kᵀ then runs as a plain
// product, several times faster in OpenBLAS's small-matrix kernels than the transposed form at these sizes.
// The backward recomputes weights through the same object, so they equal the forward's bit for bit.
template <class T>
class HeadLogits {
 public:
  static constexpr int64_t kTileCols = kTileBatches * xsimd::batch<T>::size;

  HeadLogits(const AttentionDims& d, bool tiled, bool causal)
      : d_(d), tiled_(tiled), causal_(causal), ld_(tiled ? whole_tiles(d.S) : d.S),
        kt_(static_cast<std::size_t>(d.Dk * ld_), T(0)) {}

  /// Row length of Kᵀ and of the logits: S, or S rounded up to whole tiles.
  int64_t ld() const { return ld_; }

  /// Takes head (b, n) of K (B, S, N, Dk).
  void set_head(const T* k, int64_t b, int64_t n) {
    const int64_t ldk = d_.N * d_.Dk;
    transpose_into(k + b * d_.S * ldk + n * d_.Dk, ldk, d_.S, d_.Dk, kt_.data(), ld_);
  }

  /// Z rows [r.t0, r.t1) (ld() apart) of the head's queries qh (rows ldq apart): up to r.key_end, or, tiled and
  /// causal, to the diagonal of each kTileRows rows (every row still up to its own causal limit).
  void block(const T* qh, int64_t ldq, const RowBlock& r, T scale, T* z) const {
    if (!tiled_) return gemm<T>(false, r.t1 - r.t0, r.key_end, d_.Dk, scale, qh + r.t0 * ldq, ldq, kt_.data(), ld_,
                                T(0), z, ld_);
    for (int64_t t0 = r.t0; t0 < r.t1; t0 += kTileRows) {
      const int64_t rows = std::min<int64_t>(kTileRows, r.t1 - t0);
      const int64_t keys = causal_ ? std::min(t0 + rows, r.key_end) : r.key_end;
      small_product(rows, whole_tiles(keys), d_.Dk, qh + t0 * ldq, ldq, int64_t{1}, kt_.data(), ld_, scale,
                    z + (t0 - r.t0) * ld_, ld_);
    }
  }

 private:
  // n rounded up to whole tiles of columns.
  static int64_t whole_tiles(int64_t n) { return (n + kTileCols - 1) / kTileCols * kTileCols; }

  AttentionDims d_;
  bool tiled_, causal_;
  int64_t ld_;
  std::vector<T> kt_;
};

// The dropout factors D of a few rows of one (batch, head) block, rows S apart: the kept mask's, or drawn into
// this thread's buffer exactly as the mask kernel would have written them. Columns from `keys` on are then
// other finite factors, which no caller reads: rows are drawn to whole runs of 16, the draw's vector width.
// One per thread.
template <class T>
class DropoutRows {
 public:
  DropoutRows(const AttentionDropout& dropout, const AttentionDims& d)
      : dropout_(dropout), factors_(dropout.drawn ? dropout.rate : 0.0), T_(d.T), S_(d.S) {}

  /// D[bh][t0 .. t0 + rows)[0 .. keys) with row stride S; null without dropout.
  const T* rows(int64_t bh, int64_t t0, int64_t rows, int64_t keys) {
    const int64_t first = (bh * T_ + t0) * S_;
    if (!dropout_.drawn) return dropout_.mask ? static_cast<const T*>(dropout_.mask) + first : nullptr;
    drawn_.resize(std::max(drawn_.size(), static_cast<std::size_t>(rows * S_)));
    const auto width = static_cast<std::uint64_t>(std::min(S_, (keys + 15) / 16 * 16));
    for (int64_t i = 0; i < rows; ++i) {
      const auto begin = static_cast<std::uint64_t>(first + i * S_);
      factors_.draw(dropout_.key, begin, begin + width, drawn_.data() + i * S_);
    }
    return drawn_.data();
  }

 private:
  const AttentionDropout& dropout_;
  cpu::DropoutFactors<T> factors_;
  int64_t T_, S_;
  std::vector<T> drawn_;
};

// Per (batch, head) and block of kTileRows query rows: Z = scale·Q·Kᵀ into a block that stays in L1, P =
// masked_softmax(Z + bias) row by row (into `weights` when kept), P' = P ⊙ D with dropout, O = P'·V. Kᵀ is
// copied once per head into rows padded with zeros to whole tiles, so the score tiles need no column tail;
// causal blocks stop at the diagonal.
template <class T, class M>
void tiled_forward(const AttentionDims& d, const T* q, const T* k, const T* v, T scale, const ScoreOperand& bias,
                   const ScoreOperand& mask, bool causal, const AttentionDropout& dropout, T* weights, T* out) {
  const int64_t ldk = d.N * d.Dk, ldv = d.N * d.Dv, TS = d.T * d.S;
  cpu::parallel_for(d.B * d.N, 1, [&](int64_t bn0, int64_t bn1) {
    HeadLogits<T> logits(d, true, causal);
    DropoutRows<T> factors(dropout, d);
    const int64_t padded = logits.ld();
    std::vector<T> z(static_cast<std::size_t>(kTileRows * padded));
    for (int64_t bn = bn0; bn < bn1; ++bn) {
      const int64_t b = bn / d.N, n = bn % d.N;
      const T* qh = q + b * d.T * ldk + n * d.Dk;
      logits.set_head(k, b, n);
      const T* vh = v + b * d.S * ldv + n * d.Dv;
      T* oh = out + b * d.T * ldv + n * d.Dv;
      for (int64_t t0 = 0; t0 < d.T; t0 += kTileRows) {
        const int64_t rows = std::min<int64_t>(kTileRows, d.T - t0), keys = causal ? std::min(t0 + rows, d.S) : d.S;
        logits.block(qh, ldk, RowBlock{t0, t0 + rows, keys}, scale, z.data());
        // Kept weights are written whole (zeros to S); in scratch only up to `keys`, all that P·V reads.
        T* p = weights ? weights + bn * TS + t0 * d.S : z.data();
        const int64_t ldp = weights ? d.S : padded;
        softmax_rows<T, M>(d, b, n, t0, t0 + rows, causal, bias, mask, z.data(), padded, p, ldp, weights ? d.S : keys);
        const T* dm = factors.rows(bn, t0, rows, keys);
        if (dm) {  // P' = P ⊙ D into the scratch block (P itself stays as the kept weights)
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t s = 0; s < keys; ++s) z[i * padded + s] = p[i * ldp + s] * dm[i * d.S + s];
        }
        small_product(rows, d.Dv, keys, dm ? z.data() : p, dm ? padded : ldp, int64_t{1}, vh, ldv, T(1),
                      oh + t0 * ldv, ldv);
      }
    }
  });
}

template <class T, class M>
void forward_typed(const AttentionDims& d, const T* q, const T* k, const T* v, T scale, const ScoreOperand& bias,
                   const ScoreOperand& mask, bool causal, const AttentionDropout& dropout, T* weights, T* out) {
  const int64_t ldk = d.N * d.Dk, ldv = d.N * d.Dv, TS = d.T * d.S;
  // (batch, head) blocks are independent: each thread takes a run of them with its own scratch block.
  cpu::parallel_for(d.B * d.N, 1, [&](int64_t bn0, int64_t bn1) {
    std::vector<T> scratch_block(static_cast<std::size_t>(TS));
    HeadLogits<T> logits(d, false, causal);
    DropoutRows<T> factors(dropout, d);
    T* scratch = scratch_block.data();
    for (int64_t bn = bn0; bn < bn1; ++bn) {
      const int64_t b = bn / d.N, n = bn % d.N;
      const T* qh = q + b * d.T * ldk + n * d.Dk;
      logits.set_head(k, b, n);
      const T* vh = v + b * d.S * ldv + n * d.Dv;
      T* oh = out + b * d.T * ldv + n * d.Dv;
      // Without returned weights P lives only in the scratch block, which stays hot in cache.
      T* w = weights ? weights + (b * d.N + n) * TS : scratch;
      for_each_block(d, causal, [&](const RowBlock& r) {
        const int64_t rows = r.t1 - r.t0, ke = r.key_end;
        T* wb = w + r.t0 * d.S;
        logits.block(qh, ldk, r, scale, wb);  // Z = scale * Q·Kᵀ  (rows, key_end)
        // P = masked_softmax(Z + bias). Kept weights are zeroed to S; scratch only up to the block's key_end, all
        // the P·V product reads.
        softmax_rows<T, M>(d, b, n, r.t0, r.t1, causal, bias, mask, wb, d.S, wb, d.S, weights ? d.S : ke);
        const T* p = wb;
        if (const T* db = factors.rows(bn, r.t0, rows, ke)) {
          // P' = P ⊙ D: in place when P is not returned, else kept aside in the scratch block
          T* pd = weights ? scratch + r.t0 * d.S : wb;
          for (int64_t i = 0; i < rows * d.S; ++i) pd[i] = wb[i] * db[i];
          p = pd;
        }
        // O = P'·V  (rows, Dv), written straight into the (B, T, N, Dv) output
        gemm<T>(false, rows, d.Dv, ke, T(1), p, d.S, vh, ldv, T(0), oh + r.t0 * ldv, ldv);
      });
    }
  });
}

// P = masked_softmax(Z) per row  =>  dZ = P ⊙ (dP - Σ_s dP·P), blocked entries (P = 0) get 0. Without kept
// weights (`weights` null) each block's P is recomputed first, through the forward's own HeadLogits and
// softmax_rows, so the gradients are bitwise those from kept weights; Q and K are then always given.
template <class T, class M>
void backward_typed(const AttentionDims& d, const T* q, const T* k, const T* v, const T* weights,
                    const ScoreOperand& bias, const ScoreOperand& mask, const AttentionDropout& dropout, T scale,
                    bool causal, const T* dout, const T* dweights, bool after_dropout, T* dq, T* dk, T* dv,
                    T* dlogits) {
  const int64_t ldk = d.N * d.Dk, ldv = d.N * d.Dv, TS = d.T * d.S;
  const bool need_logits = dq || dk || dlogits;
  const int64_t block_rows = causal ? std::min(kCausalBlock, d.T) : d.T;
  // Each (batch, head) block writes only its own head's slice of dQ, dK, dV and its own dZ block, so
  // threads taking disjoint runs of blocks never write the same element.
  cpu::parallel_for(d.B * d.N, 1, [&](int64_t bn0, int64_t bn1) {
    std::vector<T> scratch_block(static_cast<std::size_t>(2 * TS)), vt(static_cast<std::size_t>(d.S * d.Dv));
    std::optional<HeadLogits<T>> logits;
    std::vector<T> recomputed;  // one block of P, rows logits->ld() apart
    DropoutRows<T> factors(dropout, d);
    if (!weights) {
      logits.emplace(d, tiled_forward_applies<T>(d), causal);
      recomputed.resize(static_cast<std::size_t>(block_rows * logits->ld()));
    }
    T* scratch = scratch_block.data();
    for (int64_t bh = bn0; bh < bn1; ++bh) {
      const int64_t b = bh / d.N, n = bh % d.N, bn = bh * TS;
      const T* qh = q ? q + b * d.T * ldk + n * d.Dk : nullptr;
      const T* kh = k ? k + b * d.S * ldk + n * d.Dk : nullptr;
      const T* vh = v ? v + b * d.S * ldv + n * d.Dv : nullptr;
      const T* doh = dout ? dout + b * d.T * ldv + n * d.Dv : nullptr;
      T* dqh = dq ? dq + b * d.T * ldk + n * d.Dk : nullptr;
      T* dkh = dk ? dk + b * d.S * ldk + n * d.Dk : nullptr;
      T* dvh = dv ? dv + b * d.S * ldv + n * d.Dv : nullptr;
      if (logits) logits->set_head(k, b, n);
      // Vᵀ (Dv, S) once per head, for the same reason as Kᵀ in the forward: dO·Vᵀ then runs as a plain product.
      if (need_logits && doh) transpose_into(vh, ldv, d.S, d.Dv, vt.data(), d.S);
      for_each_block(d, causal, [&](const RowBlock& r) {
        const int64_t rows = r.t1 - r.t0, ke = r.key_end, len = rows * d.S;
        const T* p = weights ? weights + bn + r.t0 * d.S : recomputed.data();
        const int64_t ldp = weights ? d.S : logits->ld();
        if (!weights) {
          logits->block(qh, ldk, r, scale, recomputed.data());
          softmax_rows<T, M>(d, b, n, r.t0, r.t1, causal, bias, mask, recomputed.data(), ldp, recomputed.data(),
                             ldp, ke);
        }
        const T* dm = factors.rows(bh, r.t0, rows, ke);
        T* dp = scratch;        // dP (rows, S)
        T* tmp = scratch + TS;  // P' for dV, then dZ when dlogits is not wanted
        // O = P'·V  =>  dV += P'ᵀ·dO   (the product reads P' up to key_end)
        if (dvh && doh) {
          const T* pd = p;
          int64_t ldpd = ldp;
          if (dm) {
            for (int64_t i = 0; i < rows; ++i)
              for (int64_t s = 0; s < ke; ++s) tmp[i * d.S + s] = p[i * ldp + s] * dm[i * d.S + s];
            pd = tmp, ldpd = d.S;
          }
          block_product<T>(true, ke, d.Dv, rows, T(1), pd, ldpd, doh + r.t0 * ldv, ldv, true, dvh, ldv);
        }
        if (!need_logits) return;
        //          =>  dP' = dO·Vᵀ ;  P' = P ⊙ D  =>  dP = dP' ⊙ D  (+ the returned weights' own gradient)
        // Columns from key_end on are never read: their P is 0, so their dZ is 0 whatever dP is.
        if (doh) {
          block_product<T>(false, rows, ke, d.Dv, T(1), doh + r.t0 * ldv, ldv, vt.data(), d.S, false, dp, d.S);
          if (dm)
            for (int64_t i = 0; i < len; ++i) dp[i] *= dm[i];
        } else {
          std::fill(dp, dp + len, T(0));
        }
        if (dweights) {
          const T* g = dweights + bn + r.t0 * d.S;
          if (after_dropout && dm)
            for (int64_t i = 0; i < len; ++i) dp[i] += g[i] * dm[i];
          else
            for (int64_t i = 0; i < len; ++i) dp[i] += g[i];
        }
        T* dz = dlogits ? dlogits + bn + r.t0 * d.S : tmp;
        for (int64_t t = r.t0; t < r.t1; ++t) {
          const int64_t i = (t - r.t0) * d.S, lim = causal ? std::min(t + 1, d.S) : d.S;
          const T* pr = p + (t - r.t0) * ldp;
          const T* gr = dp + i;
          T* zr = dz + i;
          const T dot = row_dot(pr, gr, lim);
          for (int64_t s = 0; s < lim; ++s) zr[s] = pr[s] * (gr[s] - dot);
          std::fill(zr + lim, zr + (dlogits ? d.S : ke), T(0));  // the dQ, dK products read up to key_end
        }
        // Z = scale * Q·Kᵀ  =>  dQ += scale * dZ·K ;  dK += scale * dZᵀ·Q
        if (dqh) block_product<T>(false, rows, d.Dk, ke, scale, dz, d.S, kh, ldk, true, dqh + r.t0 * ldk, ldk);
        if (dkh) block_product<T>(true, ke, d.Dk, rows, scale, dz, d.S, qh + r.t0 * ldk, ldk, true, dkh, ldk);
      });
    }
  });
}

template <class Fn>
void typed(DType dtype, Fn&& fn) {
  if (dtype == DType::float32) fn(float{});
  else fn(double{});
}

// fn(M{}) with M the keep-mask's element type; T when there is no mask, whose type is then never used.
template <class T, class Fn>
void with_mask_type(const ScoreOperand& mask, Fn&& fn) {
  if (!mask.data) fn(T{});
  else dispatch_any(mask.dtype, fn);
}

class CpuAttentionKernels final : public AttentionKernels {
 public:
  void forward(DType dtype, const AttentionDims& d, const void* q, const void* k, const void* v, double scale,
               const ScoreOperand& bias, const ScoreOperand& mask, bool causal, const AttentionDropout& dropout,
               void* weights, void* out) const override {
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      with_mask_type<T>(mask, [&](auto m) {
        using M = decltype(m);
        const auto forward = tiled_forward_applies<T>(d) ? tiled_forward<T, M> : forward_typed<T, M>;
        forward(d, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), T(scale), bias, mask,
                causal, dropout, static_cast<T*>(weights), static_cast<T*>(out));
      });
    });
  }

  void backward(DType dtype, const AttentionDims& d, const void* q, const void* k, const void* v, const void* weights,
                const ScoreOperand& bias, const ScoreOperand& mask, const AttentionDropout& dropout, double scale,
                bool causal, const void* dout, const void* dweights, bool dweights_after_dropout, void* dq, void* dk,
                void* dv, void* dlogits) const override {
    if (!weights && (!q || !k))
      throw std::logic_error("attention backward: recomputing the weights needs q and k, got a null pointer");
    typed(dtype, [&](auto t) {
      using T = decltype(t);
      with_mask_type<T>(mask, [&](auto m) {
        backward_typed<T, decltype(m)>(
            d, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v),
            static_cast<const T*>(weights), bias, mask, dropout, T(scale), causal,
            static_cast<const T*>(dout), static_cast<const T*>(dweights), dweights_after_dropout, static_cast<T*>(dq),
            static_cast<T*>(dk), static_cast<T*>(dv), static_cast<T*>(dlogits));
      });
    });
  }

  bool recomputes_weights() const override { return true; }
  bool regenerates_dropout() const override { return true; }
};

}  // namespace

const AttentionKernels* CpuBackend::attention() const {
  static const CpuAttentionKernels kernels;
  return &kernels;
}

}  // namespace xgrad
