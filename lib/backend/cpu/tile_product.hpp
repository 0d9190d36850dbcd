#pragma once
// Register-tiled products for the CPU kernels: a tile of up to kTileRows rows of C by kTileBatches SIMD batches
// of columns keeps its sums in registers for the whole inner dimension, broadcasting A's entries from wherever
// they are stored and loading B's rows as batches. The attention kernels run their per-block products on them,
// and linalg.cpp its products whose second operand packs into L2 (packed_product).
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

namespace xgrad::cpu {

using std::int64_t;

// The accumulators, one row of B and a broadcast entry of A must fit the vector registers: 6 x 4 = 24 of
// AVX-512's 32, 6 x 2 = 12 of the 16 of AVX2 or SSE (where 6 x 4 spilled: the backward's tiled products then
// ran no faster than OpenBLAS, and with 6 x 2 the Tiny LM step took 0.96x the time, docs/benchmarks.md).
/// Rows of a register tile.
constexpr int kTileRows = 6;
/// Columns of a register tile, in xsimd batches.
constexpr int kTileBatches = XSIMD_WITH_AVX512F ? 4 : 2;

/// C (R, C·W) = alpha · A (R, K) · B (K, C·W), or, when Accumulate, that plus an addend D (R, C·W) at `add`,
/// rows ld_add apart: C itself (add = c, ld_add = ldc) or one row for every row (ld_add = 0). One register
/// tile. A's entry (i, k) is at a[i * a_row + k * a_k] (a_row = lda and a_k = 1 for A itself, 1 and lda for a
/// stored Aᵀ).
// A's entries are broadcast and B's rows loaded as batches; the R·C sums stay in registers for the whole K
// loop, each a chain of FMAs in k order, so a tile's shape never changes an element's value. The loops are
// unrolled from the start so that GCC keeps acc in registers rather than in a stack array.
template <class T, int R, int C, bool Accumulate>
void tile_product(int64_t K, const T* a, int64_t a_row, int64_t a_k, const T* b, int64_t ldb, T alpha, T* c,
                  int64_t ldc, const T* add, int64_t ld_add) {
  using Batch = xsimd::batch<T>;
  constexpr int64_t W = Batch::size;
  Batch acc[R][C];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < C; ++j) acc[i][j] = Batch(T(0));
  for (int64_t kk = 0; kk < K; ++kk) {
    Batch row[C];
#pragma GCC unroll 8
    for (int j = 0; j < C; ++j) row[j] = Batch::load_unaligned(b + kk * ldb + j * W);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const Batch ai(a[i * a_row + kk * a_k]);
#pragma GCC unroll 8
      for (int j = 0; j < C; ++j) acc[i][j] = xsimd::fma(ai, row[j], acc[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < C; ++j) {
      T* out = c + i * ldc + j * W;
      if constexpr (Accumulate)
        xsimd::fma(acc[i][j], Batch(alpha), Batch::load_unaligned(add + i * ld_add + j * W)).store_unaligned(out);
      else (acc[i][j] * Batch(alpha)).store_unaligned(out);
    }
}

/// A tile_product instance.
template <class T>
using TileProduct = void (*)(int64_t, const T*, int64_t, int64_t, const T*, int64_t, T, T*, int64_t, const T*,
                             int64_t);

/// Every (rows, batches) instance, at (rows - 1) * kTileBatches + batches - 1.
template <class T, bool Accumulate, std::size_t... I>
constexpr std::array<TileProduct<T>, sizeof...(I)> tile_table(std::index_sequence<I...>) {
  return {&tile_product<T, static_cast<int>(I) / kTileBatches + 1, static_cast<int>(I) % kTileBatches + 1,
                        Accumulate>...};
}

/// C (rows, cols) = alpha · A (rows, K) · B (K, cols), or C += that when `accumulate`, for rows <= kTileRows and
/// cols a multiple of the batch width; A's entry (i, k) at a[i * a_row + k * a_k] (see tile_product). With a
/// `bias` row (cols values), C = alpha · A·B + bias instead, C's old values unread.
template <class T>
void small_product(int64_t rows, int64_t cols, int64_t K, const T* a, int64_t a_row, int64_t a_k, const T* b,
                   int64_t ldb, T alpha, T* c, int64_t ldc, bool accumulate = false, const T* bias = nullptr) {
  static constexpr auto kSet = tile_table<T, false>(std::make_index_sequence<kTileRows * kTileBatches>{});
  static constexpr auto kAdd = tile_table<T, true>(std::make_index_sequence<kTileRows * kTileBatches>{});
  const auto& table = accumulate || bias ? kAdd : kSet;
  constexpr int64_t W = xsimd::batch<T>::size;
  for (int64_t c0 = 0; c0 < cols; c0 += kTileBatches * W) {
    const int64_t batches = std::min<int64_t>(kTileBatches, (cols - c0) / W);
    table[(rows - 1) * kTileBatches + batches - 1](K, a, a_row, a_k, b + c0, ldb, alpha, c + c0, ldc,
                                                   bias ? bias + c0 : c + c0, bias ? 0 : ldc);
  }
}

}  // namespace xgrad::cpu
