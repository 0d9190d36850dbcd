// The fused attention core on CUDA. Per batch b and head n, with Q (T, Dk), K (S, Dk), V (S, Dv) read in
// the projection layout (B, T, N, D) and scores in (B, N, T, S):
//
//   Z = scale · Q Kᵀ + bias                      logits
//   Z[t, s] = -inf where blocked                 mask == 0, s > t when causal (a -inf logit blocks itself)
//   P = softmax_s(Z)                             a row with nothing unblocked is all 0
//   P' = P ⊙ D                                   D: the dropout mask (already scaled by 1 / (1 - rate)), or 1
//   O = P' V
//
// Forward: flash_forward_kernel, FlashAttention's tiling with the online softmax (math/rows.hpp). A block
// takes kRows query rows of one head, one thread per row; K and V stream through shared memory in tiles of
// kBc keys. Causal blocks stop at the diagonal of their last row. Heads wider than 128 take the unfused
// path (cuBLAS products around a masked-softmax kernel), the same one a backend without fusion would run.
//
// Backward: the weights P are saved by the forward (AttentionKernels' contract), so no logit is
// recomputed: per-head cuBLAS products around one row kernel for the softmax's backward.
#include "backend/cuda/device.cuh"
#include "backend/cuda/math/index.hpp"
#include "backend/cuda/math/rows.hpp"
#include "backend/cuda/tables.hpp"

namespace xgrad::cuda {

namespace {

using std::int64_t;

// ---- forward ---------------------------------------------------------------------------------------

constexpr int kRows = 64;  // query rows (threads) per block

// Keys per shared-memory tile: K and V tiles of kBc × D, plus the kRows × kBc staging tile of the weights,
// stay within the 48 KiB of static shared memory.
template <class T, int D>
constexpr int key_tile() {
  int bc = 64;
  while (bc > 8 && 2 * bc * D * static_cast<int>(sizeof(T)) > 24576) bc /= 2;
  return bc;
}

template <class T, class M>
struct ForwardArgs {
  AttentionDims d;
  const T* q;
  const T* k;
  const T* v;
  T scale;
  const T* bias;            // null: none
  int64_t bias_strides[4];  // over (B, N, T, S)
  const M* mask;            // null: none
  int64_t mask_strides[4];
  bool causal;
  const T* drop;  // (B, N, T, S) or null
  T* weights;     // (B, N, T, S) or null
  T* out;         // (B, T, N, Dv)
};

// rows[j][0, D) = the D-wide row s0 + j of a head (rows ld apart, `width` valid columns), zero-padded past
// the width and past `count` rows. All threads of the block take part.
template <class T, int Rows, int D>
__device__ void load_tile(T (&tile)[Rows][D], const T* head, int64_t ld, int64_t width, int64_t s0, int64_t count) {
  for (int e = threadIdx.x; e < Rows * D; e += blockDim.x) {
    const int j = e / D, c = e % D;
    tile[j][c] = s0 + j < count && c < width ? head[(s0 + j) * ld + c] : T(0);
  }
}

// Z[t, s] of one row: -inf when blocked, else scale · q·k + bias. q and the key row are zero-padded to D.
template <class T, class M, int D>
__device__ T logit(const ForwardArgs<T, M>& a, const T (&q)[D], const T* key, int64_t b, int64_t n, int64_t t,
                   int64_t s) {
  if (attention_blocked(a.mask ? a.mask + score_offset(a.mask_strides, b, n, t, s) : nullptr, a.causal, t, s))
    return neg_inf<T>();
  T dot = T(0);
#pragma unroll
  for (int c = 0; c < D; ++c) dot += q[c] * key[c];
  T z = a.scale * dot;
  if (a.bias) z += a.bias[score_offset(a.bias_strides, b, n, t, s)];
  return z;
}

template <class T, class M, int D>
__global__ void __launch_bounds__(kRows) flash_forward_kernel(ForwardArgs<T, M> a) {
  constexpr int kBc = key_tile<T, D>();
  __shared__ T ks[kBc][D];
  __shared__ T vs[kBc][D];
  __shared__ T ws[kRows][kBc + 1];  // +1: rows of a column fall in different banks
  const AttentionDims& d = a.d;
  const int64_t tiles = (d.T + kRows - 1) / kRows;
  const int64_t bn = blockIdx.x / tiles, t0 = (blockIdx.x % tiles) * kRows;
  const int64_t b = bn / d.N, n = bn % d.N, t = t0 + threadIdx.x;
  const bool has_row = t < d.T;
  const int64_t ldk = d.N * d.Dk, ldv = d.N * d.Dv;
  const T* kh = a.k + b * d.S * ldk + n * d.Dk;
  const T* vh = a.v + b * d.S * ldv + n * d.Dv;

  T q[D];
  T acc[D];
#pragma unroll
  for (int c = 0; c < D; ++c) {
    q[c] = has_row && c < d.Dk ? a.q[(b * d.T + t) * ldk + n * d.Dk + c] : T(0);
    acc[c] = T(0);
  }
  // For each key s in order, with m the running maximum and l = Σ exp(z - m):
  //   m' = max(m, z);  l = l·exp(m - m') + exp(z - m');  acc = acc·exp(m - m') + exp(z - m')·D[t, s]·V[s]
  // so that at the end acc / l = Σ_s P[t, s] D[t, s] V[s] = O[t].
  OnlineSoftmax<T> st;
  // Keys any row of this block may see: all of S, or up to the block's last row when causal.
  const int64_t key_end = a.causal ? (t0 + kRows < d.S ? t0 + kRows : d.S) : d.S;
  for (int64_t s0 = 0; s0 < key_end; s0 += kBc) {
    __syncthreads();  // the previous tile is no longer read
    load_tile(ks, kh, ldk, d.Dk, s0, d.S);
    load_tile(vs, vh, ldv, d.Dv, s0, d.S);
    __syncthreads();
    if (!has_row) continue;
    for (int j = 0; j < kBc && s0 + j < d.S; ++j) {
      const int64_t s = s0 + j;
      T rescale;
      const T p = st.add(logit(a, q, ks[j], b, n, t, s), rescale);
      if (rescale != T(1))
#pragma unroll
        for (int c = 0; c < D; ++c) acc[c] *= rescale;
      if (p == T(0)) continue;  // blocked (or underflowed): adds nothing
      const T pd = a.drop ? p * a.drop[(bn * d.T + t) * d.S + s] : p;
#pragma unroll
      for (int c = 0; c < D; ++c) acc[c] += pd * vs[j][c];
    }
  }
  if (has_row) {
    const T inv = st.max == neg_inf<T>() ? T(0) : T(1) / st.sum;  // nothing unblocked: O[t] = 0
    T* o = a.out + (b * d.T + t) * ldv + n * d.Dv;
#pragma unroll
    for (int c = 0; c < D; ++c)
      if (c < d.Dv) o[c] = acc[c] * inv;
  }
  if (!a.weights) return;

  // P[t, s] = exp(Z[t, s] - m) / l with the final m and l: the logits again, tile by tile, staged in shared
  // memory so that the block writes whole row segments. Tiles past the causal diagonal are zeros.
  T* wh = a.weights + bn * d.T * d.S;
  for (int64_t s0 = 0; s0 < d.S; s0 += kBc) {
    const bool needed = s0 < key_end;
    __syncthreads();
    if (needed) load_tile(ks, kh, ldk, d.Dk, s0, d.S);
    __syncthreads();
    for (int j = 0; j < kBc; ++j)
      ws[threadIdx.x][j] = needed && has_row && s0 + j < d.S ? st.weight(logit(a, q, ks[j], b, n, t, s0 + j)) : T(0);
    __syncthreads();
    for (int e = threadIdx.x; e < kRows * kBc; e += blockDim.x) {
      const int r = e / kBc, j = e % kBc;
      if (t0 + r < d.T && s0 + j < d.S) wh[(t0 + r) * d.S + s0 + j] = ws[r][j];
    }
  }
}

// ---- per-head products ---------------------------------------------------------------------------

// One operand of a per-head product: head (b, n) starts `batch_stride * b + head_stride * n` elements past
// `base`, its rows `ld` apart.
struct HeadOperand {
  const void* base;
  int64_t batch_stride, head_stride, ld;
};

__global__ void head_pointers_kernel(const char* base, int64_t batch_bytes, int64_t head_bytes, int64_t heads,
                                     int64_t count, const void** out) {
  XGRAD_GRID_LOOP(i, count) out[i] = base + (i / heads) * batch_bytes + (i % heads) * head_bytes;
}

// C_bn = alpha op(A_bn) op(B_bn) + beta C_bn for every head of every batch in one cublasGemmBatchedEx call
// (row-major through the transpose trick of linalg.cpp: B first, A second).
void head_gemm(const Context& ctx, DType dtype, const AttentionDims& d, bool trans_a, bool trans_b, int64_t m, int64_t n,
               int64_t k, double alpha, HeadOperand a, HeadOperand b, double beta, HeadOperand c) {
  const int64_t count = d.B * d.N;
  const auto elem = static_cast<int64_t>(dtype_size(dtype));
  Scratch pointers(ctx, static_cast<std::size_t>(3 * count) * sizeof(void*));
  const void** ptrs = pointers.as<const void*>();
  const HeadOperand ops[3] = {a, b, c};
  for (int i = 0; i < 3; ++i) {
    head_pointers_kernel<<<grid_for(count), kThreads, 0, ctx.stream>>>(
        static_cast<const char*>(ops[i].base), ops[i].batch_stride * elem, ops[i].head_stride * elem, d.N, count,
        ptrs + i * count);
    check_launch("head_pointers_kernel");
  }
  const BlasTypes types = blas_types(ctx, dtype, "attention");
  const float alpha32 = static_cast<float>(alpha), beta32 = static_cast<float>(beta);
  const bool f32 = dtype == DType::float32;
  const void* al = f32 ? static_cast<const void*>(&alpha32) : &alpha;
  const void* be = f32 ? static_cast<const void*>(&beta32) : &beta;
  constexpr int64_t kMaxBatch = 65535;
  for (int64_t i0 = 0; i0 < count; i0 += kMaxBatch) {
    const int batch = static_cast<int>(count - i0 < kMaxBatch ? count - i0 : kMaxBatch);
    XGRAD_CUDA_CHECK(cublasGemmBatchedEx(
        ctx.blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, blas_int(n, "attention", "n"),
        blas_int(m, "attention", "m"), blas_int(k, "attention", "k"), al, ptrs + count + i0, types.data,
        blas_int(b.ld, "attention", "ldb"), ptrs + i0, types.data, blas_int(a.ld, "attention", "lda"), be,
        const_cast<void* const*>(reinterpret_cast<const void* const*>(ptrs + 2 * count + i0)), types.data,
        blas_int(c.ld, "attention", "ldc"), batch, types.compute, CUBLAS_GEMM_DEFAULT));
  }
}

// The operands in their layouts: Q, K (Dk wide) and V, O (Dv wide) in (B, T|S, N, D); scores in (B, N, T, S).
HeadOperand q_like(const void* p, const AttentionDims& d, int64_t rows, int64_t width) {
  return {p, rows * d.N * width, width, d.N * width};
}
HeadOperand scores(const void* p, const AttentionDims& d) { return {p, d.N * d.T * d.S, d.T * d.S, d.S}; }

// ---- the unfused forward (heads wider than 128) ----------------------------------------------------

// Row (bn, t) of the scale·Q Kᵀ logits in w, in place: + bias, blocked → -inf, then the masked softmax.
template <class T, class M>
__global__ void masked_softmax_kernel(T* w, ForwardArgs<T, M> a) {
  const AttentionDims& d = a.d;
  const int lane = threadIdx.x % kWarp;
  XGRAD_WARP_ROWS(row, d.B * d.N * d.T) {
    const int64_t bn = row / d.T, t = row % d.T, b = bn / d.N, n = bn % d.N;
    T* z = w + row * d.S;
    T m = neg_inf<T>();
    for (int64_t s = lane; s < d.S; s += kWarp) {
      const bool blocked =
          attention_blocked(a.mask ? a.mask + score_offset(a.mask_strides, b, n, t, s) : nullptr, a.causal, t, s);
      const T x = blocked ? neg_inf<T>() : (a.bias ? z[s] + a.bias[score_offset(a.bias_strides, b, n, t, s)] : z[s]);
      z[s] = x;
      m = x > m ? x : m;
    }
    m = warp_max(m);
    T sum = T(0);
    for (int64_t s = lane; s < d.S; s += kWarp) sum += m == neg_inf<T>() ? T(0) : std::exp(z[s] - m);
    const T inv = m == neg_inf<T>() ? T(0) : T(1) / warp_sum(sum);
    for (int64_t s = lane; s < d.S; s += kWarp) z[s] = m == neg_inf<T>() ? T(0) : std::exp(z[s] - m) * inv;
  }
}

template <class T>
__global__ void multiply_kernel(const T* x, const T* y, T* out, int64_t n) {
  XGRAD_GRID_LOOP(i, n) out[i] = x[i] * y[i];
}

template <class T, class M>
void unfused_forward(const Context& ctx, DType dtype, const ForwardArgs<T, M>& a) {
  const AttentionDims& d = a.d;
  const int64_t scores_n = d.B * d.N * d.T * d.S;
  const bool keep = a.weights != nullptr;
  // The logits/weights when nobody keeps them, else P' = P ⊙ D beside the kept weights (when dropping).
  Scratch scratch(ctx, static_cast<std::size_t>(keep ? (a.drop ? scores_n : 0) : scores_n) * sizeof(T));
  T* w = keep ? a.weights : scratch.as<T>();
  head_gemm(ctx, dtype, d, false, true, d.T, d.S, d.Dk, static_cast<double>(a.scale), q_like(a.q, d, d.T, d.Dk),
            q_like(a.k, d, d.S, d.Dk), 0.0, scores(w, d));
  masked_softmax_kernel<T, M><<<grid_for_rows(d.B * d.N * d.T), kThreads, 0, ctx.stream>>>(w, a);
  check_launch("masked_softmax_kernel");
  const T* p = w;
  if (a.drop) {
    T* pd = keep ? scratch.as<T>() : w;  // in place when P is not returned
    multiply_kernel<T><<<grid_for(scores_n), kThreads, 0, ctx.stream>>>(w, a.drop, pd, scores_n);
    check_launch("multiply_kernel");
    p = pd;
  }
  head_gemm(ctx, dtype, d, false, false, d.T, d.Dv, d.S, 1.0, scores(p, d), q_like(a.v, d, d.S, d.Dv), 0.0,
            q_like(a.out, d, d.T, d.Dv));
}

// ---- backward ----------------------------------------------------------------------------------------

// Row (bn, t):  P' = P ⊙ D  =>  dP = dP' ⊙ D, plus the returned weights' own gradient (⊙ D when it was taken
// after dropout);  P = softmax(Z)  =>  dZ = P ⊙ (dP - Σ_s dP·P), 0 on the causal-blocked keys s > t.
// dp (dO Vᵀ, or null for none) and dz may be the same buffer: each element is read, then written, by one lane.
template <class T>
__global__ void softmax_backward_kernel(const T* p, const T* drop, const T* dp, const T* dweights, bool after_dropout,
                                        bool causal, AttentionDims d, T* dz) {
  const int lane = threadIdx.x % kWarp;
  XGRAD_WARP_ROWS(row, d.B * d.N * d.T) {
    const int64_t t = row % d.T, lim = causal ? (t + 1 < d.S ? t + 1 : d.S) : d.S, base = row * d.S;
    auto grad = [&](int64_t i) {
      T g = dp ? dp[i] : T(0);
      if (dp && drop) g *= drop[i];
      if (dweights) g += after_dropout && drop ? dweights[i] * drop[i] : dweights[i];
      return g;
    };
    T dot = T(0);
    for (int64_t s = lane; s < lim; s += kWarp) dot += p[base + s] * grad(base + s);
    dot = warp_sum(dot);
    for (int64_t s = lane; s < d.S; s += kWarp) dz[base + s] = s < lim ? p[base + s] * (grad(base + s) - dot) : T(0);
  }
}

template <class T>
void backward_typed(const Context& ctx, DType dtype, const AttentionDims& d, const T* q, const T* k, const T* v,
                    const T* weights, const T* drop, T scale, bool causal, const T* dout, const T* dweights,
                    bool after_dropout, T* dq, T* dk, T* dv, T* dlogits) {
  const int64_t scores_n = d.B * d.N * d.T * d.S;
  const bool need_logits = dq || dk || dlogits;
  const bool need_pd = dv && dout && drop;
  const bool need_dz = need_logits && !dlogits;  // dZ lives in dlogits when the caller wants it
  Scratch scratch(ctx, static_cast<std::size_t>((need_pd ? scores_n : 0) + (need_dz ? scores_n : 0)) * sizeof(T));
  T* pd = need_pd ? scratch.as<T>() : nullptr;
  T* dz_scratch = need_dz ? scratch.as<T>() + (need_pd ? scores_n : 0) : nullptr;
  // O = P'·V  =>  dV += P'ᵀ·dO
  if (dv && dout) {
    const T* pp = weights;
    if (drop) {
      multiply_kernel<T><<<grid_for(scores_n), kThreads, 0, ctx.stream>>>(weights, drop, pd, scores_n);
      check_launch("multiply_kernel");
      pp = pd;
    }
    head_gemm(ctx, dtype, d, true, false, d.S, d.Dv, d.T, 1.0, scores(pp, d), q_like(dout, d, d.T, d.Dv), 1.0,
              q_like(dv, d, d.S, d.Dv));
  }
  if (!need_logits) return;
  //  =>  dP' = dO·Vᵀ (into the dZ buffer, which the row kernel then overwrites in place)
  T* dz = dlogits ? dlogits : dz_scratch;
  if (dout)
    head_gemm(ctx, dtype, d, false, true, d.T, d.S, d.Dv, 1.0, q_like(dout, d, d.T, d.Dv), q_like(v, d, d.S, d.Dv), 0.0,
              scores(dz, d));
  softmax_backward_kernel<T><<<grid_for_rows(d.B * d.N * d.T), kThreads, 0, ctx.stream>>>(
      weights, drop, dout ? dz : nullptr, dweights, after_dropout, causal, d, dz);
  check_launch("softmax_backward_kernel");
  // Z = scale·Q·Kᵀ  =>  dQ += scale·dZ·K ;  dK += scale·dZᵀ·Q
  if (dq)
    head_gemm(ctx, dtype, d, false, false, d.T, d.Dk, d.S, static_cast<double>(scale), scores(dz, d),
              q_like(k, d, d.S, d.Dk), 1.0, q_like(dq, d, d.T, d.Dk));
  if (dk)
    head_gemm(ctx, dtype, d, true, false, d.S, d.Dk, d.T, static_cast<double>(scale), scores(dz, d),
              q_like(q, d, d.T, d.Dk), 1.0, q_like(dk, d, d.S, d.Dk));
}

template <class T, class M, int D>
void launch_flash(const Context& ctx, const ForwardArgs<T, M>& a) {
  const int64_t blocks = a.d.B * a.d.N * ((a.d.T + kRows - 1) / kRows);
  if (blocks > 0x7fffffff)
    throw ValueError("attention: B * N * ceil(T / 64) = " + std::to_string(blocks) + " blocks exceed CUDA's grid");
  flash_forward_kernel<T, M, D><<<static_cast<unsigned>(blocks), kRows, 0, ctx.stream>>>(a);
  check_launch("flash_forward_kernel");
}

class CudaAttentionKernels final : public AttentionKernels {
 public:
  explicit CudaAttentionKernels(const Context& ctx) : ctx_(ctx) {}

  void forward(DType dtype, const AttentionDims& d, const void* q, const void* k, const void* v, double scale,
               const ScoreOperand& bias, const ScoreOperand& mask, bool causal, const AttentionDropout& dropout,
               void* weights, void* out) const override {
    if (d.B * d.N * d.T == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "attention", [&](auto t) {
      using T = decltype(t);
      auto run = [&](auto m) {
        using M = decltype(m);
        ForwardArgs<T, M> a{d, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v),
                            static_cast<T>(scale), static_cast<const T*>(bias.data), {}, static_cast<const M*>(mask.data),
                            {}, causal, static_cast<const T*>(dropout.mask), static_cast<T*>(weights),
                            static_cast<T*>(out)};
        for (int i = 0; i < 4; ++i) a.bias_strides[i] = bias.strides[i], a.mask_strides[i] = mask.strides[i];
        const int64_t width = d.Dk > d.Dv ? d.Dk : d.Dv;
        if (width <= 32) launch_flash<T, M, 32>(ctx_, a);
        else if (width <= 64) launch_flash<T, M, 64>(ctx_, a);
        else if (width <= 128) launch_flash<T, M, 128>(ctx_, a);
        else unfused_forward(ctx_, dtype, a);
      };
      if (!mask.data) run(T{});  // the mask type is irrelevant when there is none
      else dispatch_any(mask.dtype, run);
    });
  }

  // recomputes_weights() and regenerates_dropout() are false here, so `weights` are always the forward's, bias and
  // mask are not needed, and dropout factors come as a kept mask.
  void backward(DType dtype, const AttentionDims& d, const void* q, const void* k, const void* v, const void* weights,
                const ScoreOperand& /*bias*/, const ScoreOperand& /*mask*/, const AttentionDropout& dropout, double scale,
                bool causal, const void* dout, const void* dweights,
                bool dweights_after_dropout, void* dq, void* dk, void* dv, void* dlogits) const override {
    if (d.B * d.N * d.T * d.S == 0) return;
    ctx_.activate();
    dispatch_floating(dtype, "attention", [&](auto t) {
      using T = decltype(t);
      backward_typed<T>(ctx_, dtype, d, static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v),
                        static_cast<const T*>(weights), static_cast<const T*>(dropout.mask), static_cast<T>(scale),
                        causal, static_cast<const T*>(dout), static_cast<const T*>(dweights), dweights_after_dropout,
                        static_cast<T*>(dq), static_cast<T*>(dk), static_cast<T*>(dv), static_cast<T*>(dlogits));
    });
  }

 private:
  const Context& ctx_;
};

}  // namespace

std::unique_ptr<AttentionKernels> make_attention(const Context& ctx) {
  return std::make_unique<CudaAttentionKernels>(ctx);
}

}  // namespace xgrad::cuda
