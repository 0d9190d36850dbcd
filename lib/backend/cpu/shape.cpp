// CPU strided copies: one walker over an index space, specialised for the two inner patterns that
// matter (contiguous rows and the swapped last two axes of a transpose).
#include "xgrad/backend/shape.hpp"

#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_backend.hpp"

namespace xgrad {

namespace {

using Strides = std::vector<std::int64_t>;

// The index space after dropping extent-1 axes and merging axes that are contiguous with their
// inner neighbour on both sides: a permute of (0, 2, 1, 3) then copies whole rows, a slice of
// rows copies one block.
struct Layout {
  Strides shape, dst, src;
  bool empty = false;
};

Layout simplify(const Strides& shape, const Strides& dst, const Strides& src) {
  Layout l;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) l.empty = true;
    if (shape[i] == 1) continue;
    if (!l.shape.empty() && l.dst.back() == dst[i] * shape[i] && l.src.back() == src[i] * shape[i]) {
      l.shape.back() *= shape[i];
      l.dst.back() = dst[i];
      l.src.back() = src[i];
      continue;
    }
    l.shape.push_back(shape[i]);
    l.dst.push_back(dst[i]);
    l.src.push_back(src[i]);
  }
  return l;
}

// dst[r * dst_row + c] op= src[r + c * src_col]: the swap of the last two axes, in square tiles.
// Each tile is first read along src's contiguous axis into a local buffer and then written along
// dst's contiguous axis, so neither side walks a column: with power-of-two row lengths a column's
// cache lines all fall into one cache set and evict each other (docs/benchmarks.md has the measurement).
template <class T, class Op>
void transpose_2d(std::int64_t rows, std::int64_t cols, T* dst, std::int64_t dst_row, const T* src,
                  std::int64_t src_col, Op op) {
  constexpr std::int64_t tile = 32;
  T buf[tile][tile];  // buf[c][r]
  for (std::int64_t r0 = 0; r0 < rows; r0 += tile) {
    const std::int64_t nr = std::min(tile, rows - r0);
    for (std::int64_t c0 = 0; c0 < cols; c0 += tile) {
      const std::int64_t nc = std::min(tile, cols - c0);
      for (std::int64_t c = 0; c < nc; ++c) {
        const T* s = src + r0 + (c0 + c) * src_col;
        for (std::int64_t r = 0; r < nr; ++r) buf[c][r] = s[r];
      }
      for (std::int64_t r = 0; r < nr; ++r) {
        T* d = dst + (r0 + r) * dst_row + c0;
        for (std::int64_t c = 0; c < nc; ++c) op(d[c], buf[c][r]);
      }
    }
  }
}

// Walks the index space of `l`; the innermost one (or two) axes run in a tight loop.
template <class T, class Op>
void walk(const Layout& l, T* dst, const T* src, Op op, bool is_copy) {
  if (l.empty) return;
  const std::size_t rank = l.shape.size();
  if (rank == 0) {
    op(*dst, *src);
    return;
  }
  const bool tiled = rank >= 2 && l.dst[rank - 1] == 1 && l.src[rank - 2] == 1 && l.src[rank - 1] != 1;
  const std::size_t inner = tiled ? 2 : 1;  // axes handled by the inner loop
  const std::int64_t n = l.shape[rank - 1], ds = l.dst[rank - 1], ss = l.src[rank - 1];
  auto run_inner = [&](T* d, const T* s) {
    if (tiled) {
      transpose_2d(l.shape[rank - 2], n, d, l.dst[rank - 2], s, ss, op);
    } else if (ds == 1 && ss == 1) {
      if (is_copy)
        std::memcpy(d, s, static_cast<std::size_t>(n) * sizeof(T));
      else
        for (std::int64_t i = 0; i < n; ++i) op(d[i], s[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) op(d[i * ds], s[i * ss]);
    }
  };
  const std::size_t outer = rank - inner;
  Strides index(outer, 0);
  std::int64_t d_off = 0, s_off = 0;
  while (true) {
    run_inner(dst + d_off, src + s_off);
    // Odometer increment over the outer axes.
    std::size_t a = outer;
    while (a-- > 0) {
      d_off += l.dst[a];
      s_off += l.src[a];
      if (++index[a] < l.shape[a]) break;
      d_off -= l.dst[a] * l.shape[a];
      s_off -= l.src[a] * l.shape[a];
      index[a] = 0;
    }
    if (a == static_cast<std::size_t>(-1)) return;
  }
}

class CpuShapeKernels final : public ShapeKernels {
 public:
  void strided_copy(DType dtype, const Strides& shape, void* dst, const Strides& dst_strides, const void* src,
                    const Strides& src_strides) const override {
    const Layout l = simplify(shape, dst_strides, src_strides);
    dispatch_any(dtype, [&](auto tag) {
      using T = decltype(tag);
      walk(l, static_cast<T*>(dst), static_cast<const T*>(src), [](T& d, T s) { d = s; }, true);
    });
  }

  void strided_add(DType dtype, const Strides& shape, void* dst, const Strides& dst_strides, const void* src,
                   const Strides& src_strides) const override {
    const Layout l = simplify(shape, dst_strides, src_strides);
    dispatch_floating(dtype, "strided_add", [&](auto tag) {
      using T = decltype(tag);
      walk(l, static_cast<T*>(dst), static_cast<const T*>(src), [](T& d, T s) { d += s; }, false);
    });
  }
};

}  // namespace

const ShapeKernels& CpuBackend::shape() const {
  static const CpuShapeKernels kernels;
  return kernels;
}

}  // namespace xgrad
