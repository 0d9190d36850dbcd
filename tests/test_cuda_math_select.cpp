// The CUDA plugin's comparisons, clamps, selections along an axis (argmax/argmin, topk) and indexing
// (index_select, gather and their backwards), compiled here as plain C++ from lib/backend/cuda/math/ and run
// against the CPU kernels. How a kernel spreads them over threads is checked on a GPU by the conformance suite.
#include <cmath>
#include <vector>

#include "../lib/backend/cuda/math/elementwise.hpp"
#include "../lib/backend/cuda/math/select.hpp"
#include "cuda_math_testing.hpp"
#include "testing.hpp"
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/backend/reduction.hpp"
#include "xgrad/backend/shape.hpp"

namespace {

using namespace xgrad;
using std::int64_t;
using xgrad::test::cuda_math::cpu;
using xgrad::test::cuda_math::kInf;
using xgrad::test::cuda_math::normals;

}  // namespace

TEST_CASE("cuda math: comparisons and clamps keep NaN as the CPU does, comparisons in int64 too", "[cuda_math]") {
  const std::vector<double> a{1.0, 2.0, std::nan(""), -kInf, 3.0, 0.0};
  const std::vector<double> b{1.0, 3.0, 1.0, -kInf, std::nan(""), -0.0};
  const std::vector<int64_t> ia{5, -7, 0, 9, 2, 2}, ib{5, 4, 0, -9, 3, 1};
  const Shape s{6};
  for (BinaryOp op : {BinaryOp::eq, BinaryOp::ne, BinaryOp::lt, BinaryOp::le, BinaryOp::gt, BinaryOp::ge}) {
    std::vector<double> want(6);
    std::vector<int64_t> iwant(6);
    cpu().elementwise().binary(op, DType::float64, a.data(), s, b.data(), s, want.data(), s);
    cpu().elementwise().binary(op, DType::int64, ia.data(), s, ib.data(), s, iwant.data(), s);
    for (std::size_t i = 0; i < 6; ++i) {
      INFO("op " << int(op) << " element " << i);
      CHECK(cuda::binary_value(op, a[i], b[i]) == want[i]);
      CHECK(cuda::binary_value(op, ia[i], ib[i]) == iwant[i]);
    }
  }
  // By hand: NaN compares unequal to everything, -0.0 == 0.0.
  CHECK(cuda::binary_value(BinaryOp::ne, a[2], a[2]) == 1.0);
  CHECK(cuda::binary_value(BinaryOp::eq, 0.0, -0.0) == 1.0);
  CHECK(std::isnan(cuda::unary_value(UnaryOp::clamp_min, std::nan(""), 0.5)));
  CHECK(std::isnan(cuda::unary_value(UnaryOp::clamp_max, std::nan(""), 0.5)));
  CHECK(cuda::unary_grad(UnaryOp::clamp_min, 2.0, std::nan(""), 0.5) == 0.0);
  CHECK(cuda::unary_grad(UnaryOp::clamp_min, 2.0, 0.5, 0.5) == 2.0);  // the bound itself passes the gradient
}

TEST_CASE("cuda math: argmax/argmin and topk per fiber match the CPU kernels, NaN and ties included", "[cuda_math]") {
  const int64_t outer = 3, extent = 9, inner = 4;
  auto x = normals(static_cast<std::size_t>(outer * extent * inner), 31);
  std::vector<int64_t> ix(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ix[i] = static_cast<int64_t>(std::lround(x[i] * 2.0)) % 3;  // many ties
  for (std::size_t i = 0; i < x.size(); i += 5) x[i] = 0.75;  // ties
  x[6] = std::nan(""), x[30] = std::nan(""), x[50] = kInf, x[71] = -kInf;
  for (bool largest : {true, false}) {
    std::vector<double> want(static_cast<std::size_t>(outer * inner));
    std::vector<int64_t> want_at(want.size()), iwant(want.size()), iwant_at(want.size());
    cpu().reduction().extreme_along_axis(DType::float64, x.data(), outer, extent, inner, largest, want.data(),
                                         want_at.data());
    cpu().reduction().extreme_along_axis(DType::int64, ix.data(), outer, extent, inner, largest, iwant.data(),
                                         iwant_at.data());
    for (int64_t f = 0; f < outer * inner; ++f) {
      const int64_t o = f / inner, i = f % inner;
      double v = 0;
      int64_t iv = 0;
      INFO("largest " << largest << " fiber " << f);
      CHECK(cuda::fiber_extreme(x.data() + o * extent * inner + i, extent, inner, largest, v) == want_at[f]);
      CHECK((v == want[f] || (std::isnan(v) && std::isnan(want[f]))));
      CHECK(cuda::fiber_extreme(ix.data() + o * extent * inner + i, extent, inner, largest, iv) == iwant_at[f]);
      CHECK(iv == iwant[f]);
    }
    for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{4}, extent}) {
      for (bool sorted : {true, false}) {
        const auto n = static_cast<std::size_t>(outer * k * inner);
        std::vector<double> values(n), got(n);
        std::vector<int64_t> at(n), got_at(n, -1);
        cpu().reduction().topk(DType::float64, x.data(), outer, extent, inner, k, largest, sorted, values.data(),
                               at.data());
        for (int64_t f = 0; f < outer * inner; ++f) {
          const int64_t o = f / inner, i = f % inner, out = o * k * inner + i;
          cuda::fiber_topk(x.data() + o * extent * inner + i, extent, inner, k, largest, sorted, got.data() + out,
                           got_at.data() + out, inner);
        }
        INFO("largest " << largest << " k " << k << " sorted " << sorted);
        CHECK(got_at == at);
        for (std::size_t e = 0; e < n; ++e)
          CHECK((got[e] == values[e] || (std::isnan(got[e]) && std::isnan(values[e]))));
      }
    }
  }
  // By hand: a fiber {1, NaN, 3, 3}: largest-first puts NaN first, then the first 3; smallest-first ends on NaN.
  const std::vector<double> f{1.0, std::nan(""), 3.0, 3.0};
  std::vector<double> v(4);
  std::vector<int64_t> at(4);
  cuda::fiber_topk(f.data(), 4, 1, 3, true, true, v.data(), at.data(), 1);
  CHECK(at == std::vector<int64_t>{1, 2, 3, 0});  // the fourth slot untouched (k = 3)
  cuda::fiber_topk(f.data(), 4, 1, 4, false, true, v.data(), at.data(), 1);
  CHECK(at == std::vector<int64_t>{0, 2, 3, 1});
}

TEST_CASE("cuda math: index_select and gather offsets and their column-ordered backwards match the CPU",
          "[cuda_math]") {
  // index_select on (outer 2, extent 5, inner 3) with a repeated index.
  const int64_t outer = 2, in_extent = 5, inner = 3;
  const std::vector<int64_t> index{4, 1, 4, 0};
  const auto m = static_cast<int64_t>(index.size());
  const auto g = normals(static_cast<std::size_t>(outer * m * inner), 41);
  std::vector<double> want(static_cast<std::size_t>(outer * in_extent * inner), 0.25), got = want;
  cpu().shape().index_select_add(DType::float64, g.data(), outer, m, inner, index.data(), in_extent, want.data());
  for (int64_t c = 0; c < outer * inner; ++c)
    cuda::index_select_column_add(g.data(), m, inner, index.data(), in_extent, c / inner, c % inner, got.data());
  CHECK(got == want);  // the same additions in the same order: bit for bit
  // By hand: row 4 of block 0, column 0 collects rows j = 0 and 2 of the gradient.
  CHECK(got[(0 * in_extent + 4) * inner + 0] == 0.25 + g[0] + g[2 * inner]);

  // gather along each axis of a (3, 4, 5) input with an index smaller off the axis, repeats included.
  const Shape in_shape{3, 4, 5};
  const auto x = normals(60, 42);
  for (int64_t axis = 0; axis < 3; ++axis) {
    Shape index_shape{2, 3, 4};
    index_shape[static_cast<std::size_t>(axis)] = 6;
    const int64_t n = numel(index_shape), extent = in_shape[static_cast<std::size_t>(axis)];
    std::vector<int64_t> idx(static_cast<std::size_t>(n));
    for (int64_t p = 0; p < n; ++p) idx[p] = (p * 7 + 3) % extent;
    std::vector<double> out(static_cast<std::size_t>(n));
    REQUIRE(cpu().shape().gather(DType::float64, x.data(), in_shape, axis, idx.data(), index_shape, out.data()) == -1);
    const auto gi = cuda::make_gather_index(in_shape, axis, index_shape);
    INFO("axis " << axis);
    for (int64_t p = 0; p < n; ++p) REQUIRE(x[gi.input_offset(p, idx[p])] == out[p]);
    const auto dy = normals(static_cast<std::size_t>(n), 43);
    std::vector<double> dx_want(60, 0.0), dx_got(60, 0.0);
    cpu().shape().gather_add(DType::float64, dy.data(), idx.data(), index_shape, axis, dx_want.data(), in_shape);
    for (int64_t c = 0; c < gi.outer * gi.inner; ++c) gi.column_add(dy.data(), idx.data(), c / gi.inner, c % gi.inner, dx_got.data());
    CHECK(dx_got == dx_want);
  }
}
