// The CUDA plugin's per-element and per-row arithmetic (lib/backend/cuda/math/), compiled here as plain C++
// and run against the CPU kernels, so its formulas and index math are checked on every machine, GPU or not.
// A kernel distributes these functions over threads and combines partial results with warp reductions;
// those parts run only on a GPU, where the conformance suite checks them. The selection and indexing
// kernels' functions are checked in test_cuda_math_select.cpp.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "../lib/backend/cuda/math/elementwise.hpp"
#include "../lib/backend/cuda/math/index.hpp"
#include "../lib/backend/cuda/math/optim.hpp"
#include "../lib/backend/cuda/math/rows.hpp"
#include "cuda_math_testing.hpp"
#include "testing.hpp"
#include "xgrad/backend/attention.hpp"
#include "xgrad/backend/nn.hpp"
#include "xgrad/backend/optim.hpp"
#include "xgrad/backend/plugin.hpp"
#include "xgrad/backend/random.hpp"
#include "xgrad/backend/reduction.hpp"
#include "xgrad/backend/shape.hpp"

namespace {

using namespace xgrad;
using xgrad::cuda::ArgMax;
using std::int64_t;

using xgrad::test::cuda_math::cpu;
using xgrad::test::cuda_math::kInf;
using xgrad::test::cuda_math::normals;

// The flat input offset of output index i by plain unravelling (no merging): the reference for StridedIndex.
int64_t naive_offset(int64_t i, const Shape& shape, const std::vector<int64_t>& strides) {
  int64_t off = 0;
  for (std::size_t d = shape.size(); d-- > 0;) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

// got == want within `eps` relative to max(|want|, scale), with infinities equal only to themselves and NaN
// to NaN. `scale` covers results that cancel: tanh'(x) = 1 - y^2 near y = -1 inherits y's last-bit error
// (the CPU's SIMD tanh and std::tanh differ there) at the scale of 1, not of the tiny result.
bool close(double got, double want, double eps, double scale = 0.0) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= eps * std::max(std::fabs(want), scale) + 1e-300;
}

// A 64-byte aligned float64 host tensor of `values`: the CPU kernels may rely on the backend's alignment.
Tensor aligned(const std::vector<double>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())}, DType::float64);
}

// Every element of `got` within relative `eps` of `want` (the CPU library is built with -march=native, so
// the compiler may fuse a multiply-add there that it does not fuse here: the last bit may differ).
void check_all_close(const std::vector<double>& got, const std::vector<double>& want, double eps) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": " << got[i] << " vs " << want[i]);
    CHECK(close(got[i], want[i], eps));
  }
}

// Σ of 32 lane partials by the xor butterfly of device.cuh's warp_reduce (lane 0's view).
double butterfly_sum(std::vector<double> lanes) {
  for (int offset = 16; offset > 0; offset /= 2) {
    std::vector<double> next(32);
    for (int l = 0; l < 32; ++l) next[l] = lanes[l] + lanes[l ^ offset];
    lanes = next;
  }
  return lanes[0];
}

// The per-lane strided partial sums of f(i) over a row of n, as a warp-per-row kernel forms them.
template <class F>
double warp_row_sum(int64_t n, F f) {
  std::vector<double> lanes(32, 0.0);
  for (int64_t i = 0; i < n; ++i) lanes[i % 32] += f(i);
  return butterfly_sum(lanes);
}

}  // namespace

TEST_CASE("cuda math: merged strided index gives every operand's broadcast offset", "[cuda_math]") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{4, 5}, {5}}, {{3, 1}, {1, 4}}, {{2, 3, 4, 5}, {3, 1, 5}}, {{2, 1, 4, 1, 3}, {1, 6, 1, 2, 1}},
      {{7}, {}}, {{1, 1}, {1, 1}}, {{2, 3, 4, 5, 6, 7, 2, 3}, {3, 1, 5, 1, 7, 1, 3}}};  // the last: 8 axes
  for (const auto& [as, bs] : cases) {
    const Shape os = broadcast_shapes(as, bs, "test");
    const auto sa = broadcast_strides(as, os), sb = broadcast_strides(bs, os);
    const auto ix = cuda::make_strided_index<2>(os, {sa, sb}, "test");
    INFO("a " << shape_str(as) << " b " << shape_str(bs) << " merged rank " << ix.rank);
    CHECK(ix.rank <= cuda::kMaxDims);
    for (int64_t i = 0; i < numel(os); ++i) {
      int64_t off[2];
      ix.offsets(i, off);
      REQUIRE(off[0] == naive_offset(i, os, sa));
      REQUIRE(off[1] == naive_offset(i, os, sb));
    }
    // And the binary formula over those offsets equals the CPU kernel, exactly.
    const auto a = normals(static_cast<std::size_t>(numel(as)), 1), b = normals(static_cast<std::size_t>(numel(bs)), 2);
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::pow, BinaryOp::eq,
                        BinaryOp::ne, BinaryOp::lt, BinaryOp::le, BinaryOp::gt, BinaryOp::ge}) {
      std::vector<double> want(static_cast<std::size_t>(numel(os)));
      cpu().elementwise().binary(op, DType::float64, a.data(), as, b.data(), bs, want.data(), os);
      for (int64_t i = 0; i < numel(os); ++i) {
        int64_t off[2];
        ix.offsets(i, off);
        const double got = cuda::binary_value(op, a[off[0]], b[off[1]]);
        REQUIRE((got == want[i] || (std::isnan(got) && std::isnan(want[i]))));
      }
    }
  }
}

TEST_CASE("cuda math: more than eight unmergeable axes is a ValueError naming the op", "[cuda_math]") {
  const Shape shape(9, 2);
  std::vector<int64_t> strided(9), broadcast(9, 0);
  for (int d = 0; d < 9; ++d) strided[static_cast<std::size_t>(d)] = int64_t{1} << (2 * (8 - d));  // gaps: never merge
  for (int d = 0; d < 9; d += 2) broadcast[static_cast<std::size_t>(d)] = 1;
  CHECK_ERROR((cuda::make_strided_index<2>(shape, {strided, broadcast}, "elementwise.binary")), ValueError,
              Catch::Contains("elementwise.binary") && Catch::Contains("at most 8"));
}

TEST_CASE("cuda math: strided copy offsets move the same elements as the CPU's strided_copy", "[cuda_math]") {
  // A (2, 3, 4, 5) tensor permuted to (4, 2, 5, 3), then a narrowed slice of it.
  const Shape src_shape{2, 3, 4, 5};
  const auto src_strides = contiguous_strides(src_shape);
  const std::vector<int64_t> shape{4, 2, 5, 3};
  const std::vector<int64_t> from{src_strides[2], src_strides[0], src_strides[3], src_strides[1]};
  const auto to = contiguous_strides(shape);
  const auto x = normals(120, 3);
  std::vector<double> want(120), got(120);
  cpu().shape().strided_copy(DType::float64, shape, want.data(), to, x.data(), from);
  const auto ix = cuda::make_strided_index<2>(shape, {to, from}, "strided_copy");
  for (int64_t i = 0; i < 120; ++i) {
    int64_t off[2];
    ix.offsets(i, off);
    got[static_cast<std::size_t>(off[0])] = x[static_cast<std::size_t>(off[1])];
  }
  CHECK(got == want);
}

TEST_CASE("cuda math: reduction index and chunked sums match the CPU's sum over any axes", "[cuda_math]") {
  const Shape shape{3, 4, 5, 6};
  const auto x = normals(360, 4);
  for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{0}, {1}, {3}, {0, 2}, {1, 3}, {0, 1, 2, 3}}) {
    const auto r = cuda::make_reduction_index(shape, axes, "sum");
    std::vector<double> want(static_cast<std::size_t>(r.outputs));
    cpu().reduction().sum(DType::float64, x.data(), shape, axes, want.data(), 0.5);
    INFO("axes " << shape_str(axes));
    CHECK(r.inner_reduced == (axes.back() == 3));
    for (int64_t o = 0; o < r.outputs; ++o) {
      int64_t base[1];
      r.kept.offsets(o, base);
      double s = 0;
      for (int64_t k = 0; k < r.reduced_count; ++k) {
        int64_t off[1];
        r.reduced.offsets(k, off);
        s += x[static_cast<std::size_t>(base[0] + off[0])];
      }
      CHECK(0.5 * s == Approx(want[static_cast<std::size_t>(o)]).epsilon(1e-13).margin(1e-13));
    }
  }
}

TEST_CASE("cuda math: max's candidate order finds the CPU's argmax in any combination order, NaN and ties included",
          "[cuda_math]") {
  const Shape shape{4, 6, 5};
  auto x = normals(120, 5);
  for (std::size_t i = 0; i < x.size(); i += 7) x[i] = 1.5;  // ties
  x[13] = std::nan(""), x[17] = std::nan(""), x[64] = kInf, x[90] = -kInf;
  std::mt19937 shuffle(6);
  for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{0}, {1}, {2}, {0, 2}, {0, 1, 2}}) {
    const auto r = cuda::make_reduction_index(shape, axes, "max");
    std::vector<double> want(static_cast<std::size_t>(r.outputs));
    std::vector<int64_t> want_at(static_cast<std::size_t>(r.outputs));
    cpu().reduction().max(DType::float64, x.data(), shape, axes, want.data(), want_at.data());
    for (int64_t o = 0; o < r.outputs; ++o) {
      int64_t base[1];
      r.kept.offsets(o, base);
      std::vector<ArgMax<double>> cands;
      for (int64_t k = 0; k < r.reduced_count; ++k) {
        int64_t off[1];
        r.reduced.offsets(k, off);
        cands.push_back({x[static_cast<std::size_t>(base[0] + off[0])], base[0] + off[0]});
      }
      std::shuffle(cands.begin(), cands.end(), shuffle);  // a GPU combines in some tree order
      ArgMax<double> best{0.0, -1};
      for (const auto& c : cands) best = cuda::better(best, c);
      INFO("axes " << shape_str(axes) << " output " << o);
      CHECK(best.index == want_at[static_cast<std::size_t>(o)]);
      CHECK((best.value == want[static_cast<std::size_t>(o)] || (std::isnan(best.value) && std::isnan(want[static_cast<std::size_t>(o)]))));
    }
  }
}

TEST_CASE("cuda math: unary maps and their fused backwards match the CPU kernels", "[cuda_math]") {
  auto x = normals(203, 7, 2.0);
  x[0] = 0.0, x[1] = -0.0, x[2] = 40.0, x[3] = -40.0;
  std::vector<double> pos(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) pos[i] = std::fabs(x[i]) + 0.1;
  const auto g = normals(x.size(), 8);
  const std::vector<std::pair<UnaryOp, double>> ops = {
      {UnaryOp::neg, 0}, {UnaryOp::exp, 0}, {UnaryOp::log, 0}, {UnaryOp::sqrt, 0}, {UnaryOp::abs, 0},
      {UnaryOp::tanh, 0}, {UnaryOp::sigmoid, 0}, {UnaryOp::relu, 0}, {UnaryOp::gelu, 0}, {UnaryOp::gelu_tanh, 0},
      {UnaryOp::add_scalar, 1.5}, {UnaryOp::mul_scalar, -2.5}, {UnaryOp::rsub_scalar, 3.0}, {UnaryOp::rdiv_scalar, 2.0},
      {UnaryOp::pow_scalar, 2.0}, {UnaryOp::pow_scalar, 0.5}, {UnaryOp::pow_scalar, 3.0}, {UnaryOp::pow_scalar, -2.0},
      {UnaryOp::pow_scalar, 1.7}, {UnaryOp::pow_scalar, 0.0}, {UnaryOp::pow_scalar, 1.0},
      {UnaryOp::clamp_min, 0.3}, {UnaryOp::clamp_max, -0.2}, {UnaryOp::clamp_min, 0.0}};
  for (const auto& [op, p] : ops) {
    const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt || (op == UnaryOp::pow_scalar && p != std::floor(p));
    const std::vector<double>& in = positive ? pos : x;
    const auto n = static_cast<int64_t>(in.size());
    std::vector<double> y(in.size()), dx(in.size());
    cpu().elementwise().unary(op, DType::float64, in.data(), y.data(), n, p);
    const std::vector<double>& saved = backward_uses_output(op) ? y : in;
    cpu().elementwise().unary_backward(op, DType::float64, g.data(), saved.data(), dx.data(), n, p);
    INFO("op " << int(op) << " param " << p);
    for (std::size_t i = 0; i < in.size(); ++i) {
      INFO("x " << in[i]);
      CHECK(close(cuda::unary_value(op, in[i], p), y[i], 1e-14, 1.0));
      CHECK(close(cuda::unary_grad(op, g[i], saved[i], p), dx[i], 1e-13, std::fabs(g[i])));
    }
  }
}

TEST_CASE("cuda math: random fills and dropout masks equal the CPU's draws element for element", "[cuda_math]") {
  const PhiloxKey key{1234, 77};
  const int64_t n = 1003;  // not a multiple of 4: the last block is shared by fewer elements
  for (DType dt : {DType::float32, DType::float64}) {
    std::vector<double> buf(static_cast<std::size_t>(n));
    cpu().random().fill(Distribution::uniform, dt, buf.data(), n, -0.5, 2.0, key);
    for (int64_t i = 0; i < n; ++i) {
      const auto u = static_cast<std::uint64_t>(i) + key.offset;
      // Equal up to a fused multiply-add in low + (high - low) u, which the CPU library may fuse and this file not.
      if (dt == DType::float64) {
        const double v = cuda::uniform_value<double>(key.seed, u, -0.5, 2.0);
        REQUIRE(close(v, buf[static_cast<std::size_t>(i)], 1e-15, 2.5));  // at the interval's scale: -0.5 + 2.5 u cancels
        REQUIRE((v >= -0.5 && v < 2.0));
      } else {
        const float v = cuda::uniform_value<float>(key.seed, u, -0.5, 2.0);
        REQUIRE(close(v, reinterpret_cast<const float*>(buf.data())[i], 1.2e-7, 2.5));
        REQUIRE((v >= -0.5f && v < 2.0f));
      }
    }
  }
  for (double rate : {0.1, 0.5, 0.9}) {
    std::vector<double> mask(static_cast<std::size_t>(n));
    cpu().random().dropout_mask(DType::float64, mask.data(), n, rate, key);
    const std::uint64_t threshold = dropout_threshold(rate);
    for (int64_t i = 0; i < n; ++i)
      REQUIRE(cuda::dropout_value(key, static_cast<std::uint64_t>(i), threshold, 1.0 / (1.0 - rate)) ==
              mask[static_cast<std::size_t>(i)]);
  }
}

TEST_CASE("cuda math: softmax and log_softmax rows from warp-combined max and sums match the CPU", "[cuda_math]") {
  const int64_t rows = 5, n = 77;
  auto x = normals(static_cast<std::size_t>(rows * n), 9, 3.0);
  for (int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(2 * n + i)] = -kInf;  // a fully masked row
  for (int64_t i = 0; i < n; i += 3) x[static_cast<std::size_t>(3 * n + i)] = -kInf;
  const auto dy = normals(x.size(), 10);
  for (bool log : {false, true}) {
    std::vector<double> want(x.size()), want_dx(x.size());
    cpu().nn()->softmax_forward(DType::float64, x.data(), want.data(), AxisView{rows, n, 1}, log);
    cpu().nn()->softmax_backward(DType::float64, want.data(), dy.data(), want_dx.data(), AxisView{rows, n, 1}, log);
    for (int64_t r = 0; r < rows; ++r) {
      const double* xr = x.data() + r * n;
      double m = -kInf;
      for (int64_t i = 0; i < n; ++i) m = std::max(m, xr[i]);
      INFO("row " << r << " log " << log);
      if (m == -kInf) {  // the kernel writes zeros, as the CPU does
        for (int64_t i = 0; i < n; ++i) CHECK(want[static_cast<std::size_t>(r * n + i)] == 0.0);
        continue;
      }
      const double s = warp_row_sum(n, [&](int64_t i) { return std::exp(xr[i] - m); });
      const double k = log ? m + std::log(s) : 1.0 / s;
      const double* yr = want.data() + r * n;
      const double* gr = dy.data() + r * n;
      const double acc = warp_row_sum(n, [&](int64_t i) { return log ? gr[i] : gr[i] * yr[i]; });
      for (int64_t i = 0; i < n; ++i) {
        CHECK(cuda::softmax_value(xr[i], m, k, log) == Approx(yr[i]).epsilon(1e-13).margin(1e-15));
        CHECK(cuda::softmax_grad(yr[i], gr[i], acc, log) ==
              Approx(want_dx[static_cast<std::size_t>(r * n + i)]).epsilon(1e-12).margin(1e-14));
      }
    }
  }
}

TEST_CASE("cuda math: the online softmax merged over tiles equals the direct softmax, blocked tiles included",
          "[cuda_math]") {
  auto x = normals(100, 11, 4.0);
  for (int i = 20; i < 40; ++i) x[static_cast<std::size_t>(i)] = -kInf;  // a whole tile blocked
  x[3] = -kInf;
  std::vector<double> want(x.size());
  cpu().nn()->softmax_forward(DType::float64, x.data(), want.data(), AxisView{1, 100, 1}, false);
  for (int tile : {1, 7, 16, 20, 100}) {
    cuda::OnlineSoftmax<double> total;
    for (int t0 = 0; t0 < 100; t0 += tile) {
      cuda::OnlineSoftmax<double> piece;
      double unused;
      for (int i = t0; i < std::min(100, t0 + tile); ++i) piece.add(x[static_cast<std::size_t>(i)], unused);
      total.merge(piece);
    }
    INFO("tile " << tile);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(total.weight(x[i]) == Approx(want[i]).epsilon(1e-13).margin(1e-16));
  }
  cuda::OnlineSoftmax<double> blocked;  // nothing unblocked: all weights 0, never NaN
  double unused;
  blocked.add(-kInf, unused);
  CHECK(blocked.weight(-kInf) == 0.0);
}

// One query row of flash_forward_kernel, element by element in the kernel's key order: the online softmax,
// its rescaled accumulator, dropout, and the weights written from the final state.
TEST_CASE("cuda math: the flash forward recurrence per query row equals the CPU's attention core", "[cuda_math]") {
  const AttentionDims d{2, 5, 7, 3, 4, 6};  // B, T, S, N, Dk, Dv
  const auto q = normals(static_cast<std::size_t>(d.B * d.T * d.N * d.Dk), 12);
  const auto k = normals(static_cast<std::size_t>(d.B * d.S * d.N * d.Dk), 13);
  const auto v = normals(static_cast<std::size_t>(d.B * d.S * d.N * d.Dv), 14);
  const auto bias = normals(static_cast<std::size_t>(d.T * d.S), 15);  // (T, S), broadcast over B and N
  std::vector<std::int64_t> mask(static_cast<std::size_t>(d.B * d.S), 1);  // (B, 1, 1, S) keep-mask
  mask[2] = 0, mask[static_cast<std::size_t>(d.S + 4)] = 0;
  for (int64_t s = 0; s < d.S; ++s) mask[static_cast<std::size_t>(d.S + s)] = s == 4 ? 1 : 0;  // batch 1: one key left
  const int64_t scores_n = d.B * d.N * d.T * d.S;
  std::vector<double> drop(static_cast<std::size_t>(scores_n));
  const PhiloxKey key{99, 5};
  cpu().random().dropout_mask(DType::float64, drop.data(), scores_n, 0.3, key);
  const double scale = 0.37;
  const ScoreOperand bias_op{bias.data(), DType::float64, {0, 0, d.S, 1}};
  const ScoreOperand mask_op{mask.data(), DType::int64, {d.S, 0, 0, 1}};
  for (bool causal : {false, true}) {
    std::vector<double> want_w(static_cast<std::size_t>(scores_n)), want_o(static_cast<std::size_t>(d.B * d.T * d.N * d.Dv));
    cpu().attention()->forward(DType::float64, d, q.data(), k.data(), v.data(), scale, bias_op, mask_op, causal,
                               {.mask = drop.data()}, want_w.data(), want_o.data());
    const int64_t bias_strides[4] = {0, 0, d.S, 1}, mask_strides[4] = {d.S, 0, 0, 1};
    for (int64_t b = 0; b < d.B; ++b)
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t t = 0; t < d.T; ++t) {
          auto logit = [&](int64_t s) {
            if (cuda::attention_blocked(mask.data() + cuda::score_offset(mask_strides, b, n, t, s), causal, t, s))
              return -kInf;
            double dot = 0;
            for (int64_t c = 0; c < d.Dk; ++c)
              dot += q[static_cast<std::size_t>(((b * d.T + t) * d.N + n) * d.Dk + c)] *
                     k[static_cast<std::size_t>(((b * d.S + s) * d.N + n) * d.Dk + c)];
            return scale * dot + bias[static_cast<std::size_t>(cuda::score_offset(bias_strides, b, n, t, s))];
          };
          cuda::OnlineSoftmax<double> st;
          std::vector<double> acc(static_cast<std::size_t>(d.Dv), 0.0);
          const int64_t bn = b * d.N + n;
          for (int64_t s = 0; s < d.S; ++s) {
            double rescale;
            const double p = st.add(logit(s), rescale);
            for (double& a : acc) a *= rescale;
            const double pd = p * drop[static_cast<std::size_t>((bn * d.T + t) * d.S + s)];
            for (int64_t c = 0; c < d.Dv; ++c) acc[static_cast<std::size_t>(c)] += pd * v[static_cast<std::size_t>(((b * d.S + s) * d.N + n) * d.Dv + c)];
          }
          const double inv = st.max == -kInf ? 0.0 : 1.0 / st.sum;
          INFO("b " << b << " n " << n << " t " << t << " causal " << causal);
          for (int64_t c = 0; c < d.Dv; ++c)
            CHECK(acc[static_cast<std::size_t>(c)] * inv ==
                  Approx(want_o[static_cast<std::size_t>(((b * d.T + t) * d.N + n) * d.Dv + c)]).epsilon(1e-12).margin(1e-14));
          for (int64_t s = 0; s < d.S; ++s)
            CHECK(st.weight(logit(s)) == Approx(want_w[static_cast<std::size_t>((bn * d.T + t) * d.S + s)]).epsilon(1e-12).margin(1e-15));
        }
  }
}

TEST_CASE("cuda math: layer norm rows and their backward match the CPU", "[cuda_math]") {
  const int64_t rows = 6, n = 45;
  auto x = normals(static_cast<std::size_t>(rows * n), 16, 2.0);
  for (double& e : x) e += 100.0;  // offset data: the two-pass variance matters in float32
  const auto w = normals(static_cast<std::size_t>(n), 17), b = normals(static_cast<std::size_t>(n), 18);
  const auto dy = normals(x.size(), 19);
  std::vector<double> y(x.size()), mean(rows), rstd(rows), dx(x.size()), dw(static_cast<std::size_t>(n), 0.0),
      db(static_cast<std::size_t>(n), 0.0);
  cpu().nn()->layer_norm_forward(DType::float64, x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows,
                                 n, 1e-5);
  cpu().nn()->layer_norm_backward(DType::float64, x.data(), w.data(), mean.data(), rstd.data(), dy.data(), dx.data(),
                                  dw.data(), db.data(), rows, n);
  std::vector<double> my_dw(static_cast<std::size_t>(n), 0.0), my_db(static_cast<std::size_t>(n), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const double* xr = x.data() + r * n;
    const double mu = warp_row_sum(n, [&](int64_t i) { return xr[i]; }) / double(n);
    const double var = warp_row_sum(n, [&](int64_t i) { return (xr[i] - mu) * (xr[i] - mu); }) / double(n);
    const double rs = cuda::layer_norm_rstd(var, 1e-5);
    CHECK(mu == Approx(mean[static_cast<std::size_t>(r)]).epsilon(1e-14));
    CHECK(rs == Approx(rstd[static_cast<std::size_t>(r)]).epsilon(1e-12));
    const double* gr = dy.data() + r * n;
    const double g_mean = warp_row_sum(n, [&](int64_t i) { return gr[i] * w[static_cast<std::size_t>(i)]; }) / double(n);
    const double gx_mean =
        warp_row_sum(n, [&](int64_t i) { return gr[i] * w[static_cast<std::size_t>(i)] * ((xr[i] - mu) * rs); }) / double(n);
    for (int64_t i = 0; i < n; ++i) {
      const auto at = static_cast<std::size_t>(r * n + i);
      CHECK(cuda::layer_norm_value(xr[i], mu, rs, w.data(), b.data(), i) == Approx(y[at]).epsilon(1e-12).margin(1e-13));
      const double xhat = (xr[i] - mu) * rs;
      CHECK(cuda::layer_norm_grad(gr[i] * w[static_cast<std::size_t>(i)], xhat, rs, g_mean, gx_mean) ==
            Approx(dx[at]).epsilon(1e-10).margin(1e-12));
      my_dw[static_cast<std::size_t>(i)] += gr[i] * xhat;
      my_db[static_cast<std::size_t>(i)] += gr[i];
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    CHECK(my_dw[static_cast<std::size_t>(i)] == Approx(dw[static_cast<std::size_t>(i)]).epsilon(1e-12).margin(1e-13));
    CHECK(my_db[static_cast<std::size_t>(i)] == Approx(db[static_cast<std::size_t>(i)]).epsilon(1e-12).margin(1e-13));
  }
  CHECK(cuda::layer_norm_value<double>(2.0, 0.5, 4.0, nullptr, nullptr, 0) == 6.0);  // (2 - 0.5) * 4
}

TEST_CASE("cuda math: cross-entropy rows, label smoothing and ignore_index, match the CPU forward and backward",
          "[cuda_math]") {
  const int64_t rows = 7, C = 11, ignore = -100;
  const auto x = normals(static_cast<std::size_t>(rows * C), 20, 2.0);
  const std::vector<int64_t> targets{3, 0, ignore, 10, 5, ignore, 7};
  const std::vector<double> dloss{0.5, -1.0, 2.0, 0.25, 1.5, 3.0, -0.75};  // per-row cotangents
  for (double ls : {0.0, 0.1}) {
    std::vector<double> lse(rows), row_loss(rows), dx(x.size());
    double loss_sum = 0;
    int64_t count = 0;
    REQUIRE(cpu().nn()->cross_entropy_forward(DType::float64, x.data(), targets.data(), rows, C, ignore, ls, lse.data(),
                                              row_loss.data(), &loss_sum, &count) == -1);
    cpu().nn()->cross_entropy_backward(DType::float64, x.data(), targets.data(), lse.data(), rows, C, ignore, ls,
                                       dloss.data(), 1, 0.5, dx.data());
    double total = 0;
    int64_t kept = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t t = targets[static_cast<std::size_t>(r)];
      if (t == ignore) continue;
      const double* xr = x.data() + r * C;
      double m = -kInf;
      for (int64_t i = 0; i < C; ++i) m = std::max(m, xr[i]);
      const double l = m + std::log(warp_row_sum(C, [&](int64_t i) { return std::exp(xr[i] - m); }));
      const double sum_x = warp_row_sum(C, [&](int64_t i) { return xr[i]; });
      const double loss = cuda::cross_entropy_loss(l, xr[t], sum_x, C, ls);
      INFO("row " << r << " smoothing " << ls);
      CHECK(l == Approx(lse[static_cast<std::size_t>(r)]).epsilon(1e-14));
      CHECK(loss == Approx(row_loss[static_cast<std::size_t>(r)]).epsilon(1e-13));
      total += loss, ++kept;
      const double g = dloss[static_cast<std::size_t>(r)] * 0.5;
      for (int64_t c = 0; c < C; ++c)
        CHECK(cuda::cross_entropy_grad(xr[c], l, c == t, ls, C, g) ==
              Approx(dx[static_cast<std::size_t>(r * C + c)]).epsilon(1e-12).margin(1e-15));
    }
    CHECK(total == Approx(loss_sum).epsilon(1e-13));
    CHECK(kept == count);
  }
}

TEST_CASE("cuda math: SGD, Adam, AdamW and RMSprop element updates equal the CPU kernels over several steps",
          "[cuda_math]") {
  const int64_t n = 37;
  const auto p0 = normals(static_cast<std::size_t>(n), 21), grads = normals(static_cast<std::size_t>(3 * n), 22);
  const std::vector<double> zero(static_cast<std::size_t>(n), 0.0);
  auto grad = [&](int step) { return grads.data() + step * n; };
  auto ptr = [](Tensor& t) { return t.host_data<double>(); };
  for (bool nesterov : {false, true})
    for (double wd : {0.0, 0.01}) {
      Tensor p = aligned(p0), buf = aligned(zero), g = aligned(zero);
      std::vector<double> mp = p0, mbuf = zero;
      for (int step = 0; step < 3; ++step) {
        const SgdStep h{0.1, 0.9, nesterov ? 0.0 : 0.1, wd, nesterov, step == 0};
        std::copy(grad(step), grad(step) + n, ptr(g));
        cpu().optim().sgd(DType::float64, ptr(p), ptr(g), ptr(buf), n, h);
        const auto c = cuda::sgd_constants<double>(h);
        for (std::size_t i = 0; i < mp.size(); ++i) cuda::sgd_update(mp[i], grad(step)[i], &mbuf[i], c);
      }
      INFO("nesterov " << nesterov << " weight decay " << wd);
      check_all_close(mp, p.to_vector(), 1e-14);
      check_all_close(mbuf, buf.to_vector(), 1e-14);
    }
  for (bool decoupled : {false, true})
    for (bool amsgrad : {false, true}) {
      Tensor p = aligned(p0), m = aligned(zero), v = aligned(zero), vmax = aligned(zero), g = aligned(zero);
      std::vector<double> mp = p0, mm = zero, mv = zero, mvmax = zero;
      for (int step = 1; step <= 3; ++step) {
        const AdamStep h{1e-2, 0.9, 0.999, 1e-8, 0.05, decoupled, amsgrad, step};
        std::copy(grad(step - 1), grad(step - 1) + n, ptr(g));
        cpu().optim().adam(DType::float64, ptr(p), ptr(g), ptr(m), ptr(v), ptr(vmax), n, h);
        const auto c = cuda::adam_constants<double>(h);
        for (std::size_t i = 0; i < mp.size(); ++i) cuda::adam_update(mp[i], grad(step - 1)[i], mm[i], mv[i], &mvmax[i], c);
      }
      INFO("decoupled " << decoupled << " amsgrad " << amsgrad);
      check_all_close(mp, p.to_vector(), 1e-14);
      check_all_close(mm, m.to_vector(), 1e-14);
      check_all_close(mv, v.to_vector(), 1e-14);
    }
  for (bool centered : {false, true})
    for (double momentum : {0.0, 0.9}) {
      Tensor p = aligned(p0), sq = aligned(zero), ga = aligned(zero), buf = aligned(zero), g = aligned(zero);
      std::vector<double> mp = p0, msq = zero, mga = zero, mbuf = zero;
      for (int step = 0; step < 3; ++step) {
        const RmspropStep h{1e-2, 0.99, 1e-8, momentum, 0.01, centered};
        std::copy(grad(step), grad(step) + n, ptr(g));
        cpu().optim().rmsprop(DType::float64, ptr(p), ptr(g), ptr(sq), ptr(ga), ptr(buf), n, h);
        const auto c = cuda::rmsprop_constants<double>(h);
        for (std::size_t i = 0; i < mp.size(); ++i) cuda::rmsprop_update(mp[i], grad(step)[i], msq[i], &mga[i], &mbuf[i], c);
      }
      INFO("centered " << centered << " momentum " << momentum);
      check_all_close(mp, p.to_vector(), 1e-14);
      check_all_close(msq, sq.to_vector(), 1e-14);
    }
}

TEST_CASE("cuda math: clipping helpers (|x|^p sums, NaN-sticky max_abs, clamp) match the CPU", "[cuda_math]") {
  auto x = normals(50, 23, 3.0);
  for (double p : {1.0, 2.0, 3.5}) {
    double s = 0;
    for (double e : x) s += cuda::abs_pow(e, p);
    CHECK(s == Approx(cpu().optim().sum_abs_pow(DType::float64, x.data(), 50, p)).epsilon(1e-13));
  }
  double m = 0;
  for (double e : x) m = cuda::max_abs_combine(m, std::fabs(e));
  CHECK(m == cpu().optim().max_abs(DType::float64, x.data(), 50));
  x[17] = std::nan("");
  m = 0;
  for (double e : x) m = cuda::max_abs_combine(std::fabs(e), m);  // either argument order keeps the NaN
  CHECK(std::isnan(m));
  CHECK(std::isnan(cpu().optim().max_abs(DType::float64, x.data(), 50)));
  std::vector<double> clamped = x;
  cpu().optim().clamp(DType::float64, clamped.data(), 50, -1.0, 2.0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double got = cuda::clamp_value(x[i], -1.0, 2.0);
    CHECK((got == clamped[i] || (std::isnan(got) && std::isnan(clamped[i]))));
  }
}

TEST_CASE("cuda: asking for a cuda tensor says why there is none, or works when there is a GPU", "[cuda_math]") {
  std::string plugin;
  for (const std::string& dir : plugin_search_path())
    if (plugin.empty() && std::filesystem::exists(dir + "/libxgrad_cuda.so")) plugin = dir + "/libxgrad_cuda.so";
  const Device gpu{DeviceType::cuda, 0};
  if (device_count(DeviceType::cuda) > 0) {  // a GPU: a round trip through device memory
    const Tensor t = tensor({1.5, -2.0, 3.25}, DType::float64).to(gpu);
    CHECK(t.device() == gpu);
    CHECK(t.to(Device{}).to_vector() == std::vector<double>{1.5, -2.0, 3.25});
    return;
  }
  if (plugin.empty()) {  // built without CUDA: the loader says no plugin was found
    CHECK_ERROR(Tensor::empty({2}, DType::float32, gpu), DeviceError,
                Catch::Contains("cuda:0") && Catch::Contains("no cuda plugin was found"));
    return;
  }
  // The plugin loads, finds no driver or device, and the error carries its reason and its path.
  CHECK_ERROR(Tensor::empty({2}, DType::float32, gpu), DeviceError,
              Catch::Contains("cuda:0 is not available") && Catch::Contains(plugin) &&
                  Catch::Contains("no CUDA device: cudaGetDeviceCount failed"));
}
