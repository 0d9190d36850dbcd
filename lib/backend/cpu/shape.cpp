// CPU strided copies: one walker over an index space, specialised for the two inner patterns that
// matter (contiguous rows and the swapped last two axes of a transpose).
#include "xgrad/backend/shape.hpp"

#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/parallel.hpp"

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

// Position of the first index outside [0, extent), or -1.
std::int64_t first_out_of_range(const std::int64_t* index, std::int64_t n, std::int64_t extent) {
  for (std::int64_t j = 0; j < n; ++j)
    if (index[j] < 0 || index[j] >= extent) return j;
  return -1;
}

// A gather's index space seen as (outer, m, inner) around `axis`, with the input's element strides
// for the outer coordinates: the index may be smaller than the input on every axis but `axis`.
struct GatherLayout {
  std::int64_t outer = 1, m = 1, inner = 1;
  Shape outer_shape;            // index extents before the axis
  Strides outer_strides;        // the input's strides of those axes
  Strides inner_offsets;        // input offset of each flat inner coordinate of the index
  std::int64_t axis_stride = 1;  // the input's stride along the axis

  GatherLayout(const Shape& in_shape, std::int64_t axis, const Shape& index_shape) {
    const auto in_strides = contiguous_strides(in_shape);
    const auto ax = static_cast<std::size_t>(axis);
    Shape inner_shape;
    Strides inner_strides;
    for (std::size_t d = 0; d < index_shape.size(); ++d) {
      if (d < ax) outer *= index_shape[d], outer_shape.push_back(index_shape[d]), outer_strides.push_back(in_strides[d]);
      if (d > ax) inner *= index_shape[d], inner_shape.push_back(index_shape[d]), inner_strides.push_back(in_strides[d]);
    }
    m = index_shape[ax];
    axis_stride = in_strides[ax];
    inner_offsets.resize(static_cast<std::size_t>(inner));
    for (std::int64_t i = 0; i < inner; ++i) inner_offsets[i] = offset(i, inner_shape, inner_strides);
  }

  // Input offset of the flat coordinate `c` of `shape` read with `strides`.
  static std::int64_t offset(std::int64_t c, const Shape& shape, const Strides& strides) {
    std::int64_t off = 0;
    for (std::size_t d = shape.size(); d-- > 0;) {
      off += (c % shape[d]) * strides[d];
      c /= shape[d];
    }
    return off;
  }
};

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

  std::int64_t index_select(DType dtype, const void* in, std::int64_t outer, std::int64_t in_extent,
                            std::int64_t inner, const std::int64_t* index, std::int64_t m, void* out) const override {
    const std::int64_t bad = first_out_of_range(index, m, in_extent);
    if (bad >= 0) return bad;
    const auto row = static_cast<std::size_t>(inner) * dtype_size(dtype);
    const auto* src = static_cast<const char*>(in);
    auto* dst = static_cast<char*>(out);
    cpu::parallel_rows(outer * m, inner, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {  // output row r = (o, j)
        const std::int64_t o = r / m, j = r % m;
        std::memcpy(dst + static_cast<std::size_t>(r) * row,
                    src + static_cast<std::size_t>(o * in_extent + index[j]) * row, row);
      }
    });
    return -1;
  }

  void index_select_add(DType dtype, const void* grad, std::int64_t outer, std::int64_t m, std::int64_t inner,
                        const std::int64_t* index, std::int64_t in_extent, void* grad_in) const override {
    dispatch_floating(dtype, "shape.index_select_add", [&](auto tag) {
      using T = decltype(tag);
      const T* g = static_cast<const T*>(grad);
      T* gi = static_cast<T*>(grad_in);
      // Threads own disjoint column ranges of the (outer x inner) plane and add the rows j in order, so a
      // repeated index sums in the same order on any thread count.
      const std::int64_t columns = outer * inner;
      cpu::parallel_rows(columns, m, [&](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t c = c0; c < c1;) {
          const std::int64_t o = c / inner, i0 = c % inner, i1 = std::min(inner, i0 + (c1 - c));
          for (std::int64_t j = 0; j < m; ++j) {
            const T* src = g + (o * m + j) * inner;
            T* dst = gi + (o * in_extent + index[j]) * inner;
            for (std::int64_t i = i0; i < i1; ++i) dst[i] += src[i];
          }
          c += i1 - i0;
        }
      });
    });
  }

  std::int64_t gather(DType dtype, const void* in, const Shape& in_shape, std::int64_t axis,
                      const std::int64_t* index, const Shape& index_shape, void* out) const override {
    const std::int64_t bad = first_out_of_range(index, numel(index_shape), in_shape[static_cast<std::size_t>(axis)]);
    if (bad >= 0) return bad;
    const GatherLayout l(in_shape, axis, index_shape);
    dispatch_any(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* x = static_cast<const T*>(in);
      T* y = static_cast<T*>(out);
      cpu::parallel_rows(l.outer * l.m, l.inner, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {  // index row r = (o, j), the inner coordinates contiguous
          const T* base = x + GatherLayout::offset(r / l.m, l.outer_shape, l.outer_strides);
          for (std::int64_t i = 0; i < l.inner; ++i) {
            const std::int64_t p = r * l.inner + i;
            y[p] = base[index[p] * l.axis_stride + l.inner_offsets[i]];
          }
        }
      });
    });
    return -1;
  }

  void gather_add(DType dtype, const void* grad, const std::int64_t* index, const Shape& index_shape,
                  std::int64_t axis, void* grad_in, const Shape& in_shape) const override {
    const GatherLayout l(in_shape, axis, index_shape);
    dispatch_floating(dtype, "shape.gather_add", [&](auto tag) {
      using T = decltype(tag);
      const T* g = static_cast<const T*>(grad);
      T* gi = static_cast<T*>(grad_in);
      // Two index elements can hit one input element only when they share their outer and inner
      // coordinates; each thread takes whole outer blocks and adds their rows j in order.
      cpu::parallel_rows(l.outer, l.m * l.inner, [&](std::int64_t o0, std::int64_t o1) {
        for (std::int64_t o = o0; o < o1; ++o) {
          T* base = gi + GatherLayout::offset(o, l.outer_shape, l.outer_strides);
          for (std::int64_t p = o * l.m * l.inner; p < (o + 1) * l.m * l.inner; ++p)
            base[index[p] * l.axis_stride + l.inner_offsets[p % l.inner]] += g[p];
        }
      });
    });
  }
};

}  // namespace

const ShapeKernels& CpuBackend::shape() const {
  static const CpuShapeKernels kernels;
  return kernels;
}

}  // namespace xgrad
