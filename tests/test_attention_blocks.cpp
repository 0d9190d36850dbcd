// The attention core's fast paths against its general one: causal attention computed over query blocks
// that stop at the diagonal (lengths beyond one block, T != S, vector tails) must equal the same scores
// blocked by an explicit lower-triangular keep-mask; the register-tiled forward (no bias, mask or dropout)
// must equal the GEMM path that a keep-mask takes; inference (no weights kept) must equal recording, and a
// backward that recomputes the weights must equal one that kept them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "testing.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"

using namespace xgrad;
using test::check_close;
using test::check_gradcheck;
using test::randn64;

namespace {

// keep[t, s] = 1 when s <= t: the causal rule written out, for the general masked path.
Tensor causal_keep(std::int64_t T, std::int64_t S) {
  Tensor keep = zeros({T, S}, DType::int64);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t s = 0; s <= t && s < S; ++s) keep.set({t, s}, 1);
  return keep;
}

struct Extents {
  std::int64_t T, S, Dk, Dv;
};

// softmax(scale·q·kᵀ, causal rows stopping at the diagonal)·v in long double, loop by loop, for (B, T, N, D)
// inputs: the reference the register-tiled products are checked against. Returns {output, weights}.
std::pair<Tensor, Tensor> direct_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                                           bool causal) {
  const std::int64_t B = q.shape()[0], T = q.shape()[1], N = q.shape()[2], Dk = q.shape()[3];
  const std::int64_t S = k.shape()[1], Dv = v.shape()[3];
  const auto qv = q.to_vector(), kv = k.to_vector(), vv = v.to_vector();
  std::vector<double> out(static_cast<std::size_t>(B * T * N * Dv)), weights(static_cast<std::size_t>(B * N * T * S));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t t = 0; t < T; ++t) {
        const std::int64_t allowed = causal ? std::min(t + 1, S) : S;
        std::vector<long double> z(static_cast<std::size_t>(allowed));
        long double m = -INFINITY, total = 0;
        for (std::int64_t s = 0; s < allowed; ++s) {
          for (std::int64_t i = 0; i < Dk; ++i)
            z[s] += static_cast<long double>(qv[((b * T + t) * N + n) * Dk + i]) * kv[((b * S + s) * N + n) * Dk + i];
          z[s] *= scale;
          m = std::max(m, z[s]);
        }
        for (auto& x : z) total += (x = std::exp(x - m));
        for (std::int64_t s = 0; s < allowed; ++s) {
          const long double w = z[s] / total;
          weights[((b * N + n) * T + t) * S + s] = static_cast<double>(w);
          for (std::int64_t j = 0; j < Dv; ++j)
            out[((b * T + t) * N + n) * Dv + j] += static_cast<double>(w * vv[((b * S + s) * N + n) * Dv + j]);
        }
      }
  return {from_vector(out, {B, T, N, Dv}, DType::float64), from_vector(weights, {B, N, T, S}, DType::float64)};
}

}  // namespace

TEST_CASE("attention: causal over many query blocks equals an explicit lower-triangular keep-mask, values and "
          "gradients",
          "[attention]") {
  struct Lengths {
    std::int64_t T, S;
  };
  for (const DType dt : {DType::float64, DType::float32})
    for (const Lengths l : {Lengths{37, 37}, Lengths{37, 20}, Lengths{20, 45}, Lengths{64, 64}}) {
      INFO("T=" << l.T << " S=" << l.S << " dtype " << (dt == DType::float64 ? "float64" : "float32"));
      const double tol = dt == DType::float64 ? 1e-12 : 1e-5;
      const Tensor r = randn64({2, l.T, 3, 2}, 5).detach().to(dt);
      Tensor grads[2][4];
      Tensor outs[2], scores[2];
      for (int path = 0; path < 2; ++path) {  // 0: causal flag, 1: explicit keep-mask
        Tensor q = randn64({2, l.T, 3, 4}, 1).detach().to(dt).set_requires_grad();
        Tensor k = randn64({2, l.S, 3, 4}, 2).detach().to(dt).set_requires_grad();
        Tensor v = randn64({2, l.S, 3, 2}, 3).detach().to(dt).set_requires_grad();
        Tensor bias = randn64({1, 3, l.T, l.S}, 4).detach().to(dt).set_requires_grad();
        AttentionOptions o;
        o.scale = 0.7;
        o.bias = bias;
        o.return_scores = true;
        if (path == 0) o.causal = true;
        else o.mask = causal_keep(l.T, l.S);
        const AttentionResult res = attention(q, k, v, o);
        (sum(res.output * r) + sum(res.scores * res.scores)).backward();
        outs[path] = res.output;
        scores[path] = res.scores;
        const Tensor* leaves[4] = {&q, &k, &v, &bias};
        for (int i = 0; i < 4; ++i) grads[path][i] = leaves[i]->grad();
      }
      check_close(outs[0], outs[1], tol);
      check_close(scores[0], scores[1], tol);
      for (int i = 0; i < 4; ++i) {
        INFO("gradient of input " << i);
        check_close(grads[0][i], grads[1][i], tol);
      }
    }
}

TEST_CASE("attention: gradcheck of causal attention spanning several query blocks, with bias and dropout",
          "[attention]") {
  const Tensor q = randn64({1, 35, 1, 2}, 61), k = randn64({1, 35, 1, 2}, 62), v = randn64({1, 35, 1, 2}, 63);
  const Tensor bias = randn64({1, 1, 35, 35}, 64, 0.5);
  const Tensor r1 = randn64({1, 35, 1, 2}, 65).detach(), r2 = randn64({1, 1, 35, 35}, 66).detach();
  check_gradcheck(
      [&](const std::vector<Tensor>& in) {
        Generator gen(3);
        AttentionOptions o;
        o.causal = true;
        o.bias = in[3];
        o.dropout = 0.3;
        o.training = true;
        o.generator = &gen;
        o.return_scores = true;
        o.scores_after_dropout = true;
        const AttentionResult res = attention(in[0], in[1], in[2], o);
        return sum(res.output * r1) + sum(res.scores * r2);
      },
      {q, k, v, bias});
}

TEST_CASE("attention: inference, which keeps no weights, gives exactly the recording path's output", "[attention]") {
  // Dropout 0 with a value width of 16 takes the register-tiled path.
  for (const double dropout : {0.25, 0.0})
    for (const bool causal : {false, true}) {
      INFO((causal ? "causal" : "unmasked") << ", dropout " << dropout);
      const Tensor q = randn64({2, 21, 2, 3}, 71), k = randn64({2, 21, 2, 3}, 72), v = randn64({2, 21, 2, 16}, 73);
      auto run = [&] {
        Generator gen(11);
        AttentionOptions o;
        o.causal = causal;
        o.dropout = dropout;
        o.training = true;
        o.generator = &gen;
        return attention(q, k, v, o).output;
      };
      const Tensor recorded = run();
      Tensor inferred;
      {
        NoGradGuard no_grad;
        inferred = run();
      }
      check_close(inferred, recorded, 0.0);
    }
}

TEST_CASE("attention: register-tiled and GEMM forwards, with and without a keep-mask, equal a direct evaluation and "
          "agree in gradients",
          "[attention]") {
  // Value widths of 1 to 5 float batches on AVX-512 (register tiles), and odd ones that are whole batches on
  // no machine (GEMMs); key widths that are not whole batches, query lengths with a row tail after blocks of
  // 6, key lengths with a column tail and beyond one tile of columns.
  for (const DType dt : {DType::float64, DType::float32})
    for (const Extents e : {Extents{37, 37, 5, 16}, Extents{37, 20, 16, 32}, Extents{20, 70, 3, 48},
                            Extents{13, 45, 8, 80}, Extents{37, 37, 5, 5}, Extents{20, 70, 3, 7}})
      for (const bool causal : {false, true}) {
        INFO("T=" << e.T << " S=" << e.S << " Dk=" << e.Dk << " Dv=" << e.Dv << (causal ? " causal" : "")
                  << " dtype " << (dt == DType::float64 ? "float64" : "float32"));
        const double tol = dt == DType::float64 ? 1e-12 : 1e-5;
        const Tensor r = randn64({2, e.T, 2, e.Dv}, 15).detach().to(dt);
        Tensor grads[2][3];
        Tensor outs[2], scores[2];
        std::pair<Tensor, Tensor> direct;
        for (int path = 0; path < 2; ++path) {  // 0: no mask (causal flag), 1: an all-allowing or causal keep-mask
          Tensor q = randn64({2, e.T, 2, e.Dk}, 11).detach().to(dt).set_requires_grad();
          Tensor k = randn64({2, e.S, 2, e.Dk}, 12).detach().to(dt).set_requires_grad();
          Tensor v = randn64({2, e.S, 2, e.Dv}, 13).detach().to(dt).set_requires_grad();
          AttentionOptions o;
          o.scale = 0.6;
          o.return_scores = true;
          o.causal = causal && path == 0;
          if (path == 1) o.mask = causal ? causal_keep(e.T, e.S) : ones({e.T, e.S}, DType::int64);
          const AttentionResult res = attention(q, k, v, o);
          (sum(res.output * r) + sum(res.scores * res.scores)).backward();
          outs[path] = res.output;
          scores[path] = res.scores;
          if (path == 0) direct = direct_attention(q, k, v, o.scale, causal);
          const Tensor* leaves[3] = {&q, &k, &v};
          for (int i = 0; i < 3; ++i) grads[path][i] = leaves[i]->grad();
        }
        for (int path = 0; path < 2; ++path) {
          INFO("path " << path);
          check_close(outs[path].to(DType::float64), direct.first, tol);
          check_close(scores[path].to(DType::float64), direct.second, tol);
        }
        for (int i = 0; i < 3; ++i) {
          INFO("gradient of input " << i);
          check_close(grads[0][i], grads[1][i], tol);
        }
      }
}

TEST_CASE("attention: gradcheck through the register-tiled forward: plain, causal, and bias with keep-mask and "
          "dropout",
          "[attention]") {
  // Dv = 16 is whole batches of double and float on AVX-512 and AVX2, so the forward runs as register tiles.
  const Tensor q = randn64({1, 13, 2, 16}, 81, 0.3), k = randn64({1, 16, 2, 16}, 82, 0.3);
  const Tensor v = randn64({1, 16, 2, 16}, 83), bias = randn64({1, 2, 13, 16}, 85, 0.5);
  const Tensor r = randn64({1, 13, 2, 16}, 84).detach(), r_scores = randn64({1, 2, 13, 16}, 86).detach();
  Tensor keep = ones({13, 16}, DType::int64);
  for (std::int64_t t = 0; t < 13; ++t) keep.set({t, (3 * t + 1) % 16}, 0);
  keep.set({4, 0}, 0);
  for (int path = 0; path < 3; ++path) {
    INFO("path " << path);  // plain, causal, bias + keep-mask + dropout with returned weights
    check_gradcheck(
        [&](const std::vector<Tensor>& in) {
          Generator gen(7);
          AttentionOptions o;
          o.causal = path == 1;
          if (path == 2) {
            o.bias = in[3];
            o.mask = keep;
            o.dropout = 0.3;
            o.training = true;
            o.generator = &gen;
            o.return_scores = true;
          }
          const AttentionResult res = attention(in[0], in[1], in[2], o);
          return path == 2 ? sum(res.output * r) + sum(res.scores * r_scores) : sum(res.output * r);
        },
        {q, k, v, bias});
  }
}

TEST_CASE("attention: a backward that recomputes the weights gives bitwise the gradients of kept weights",
          "[attention]") {
  // Returned weights are kept and the backward reads them; without, the CPU backward recomputes each block of
  // them. Value width 16 takes the register-tiled forward, 7 the GEMM one; T = 37 spans three causal blocks.
  Tensor keep = ones({37, 29}, DType::float32);  // a keep-mask of a third dtype, read as float
  for (std::int64_t t = 0; t < 37; ++t) keep.set({t, (5 * t + 2) % 29}, 0);
  for (const DType dt : {DType::float64, DType::float32})
    for (const std::int64_t Dv : {16, 7})
      for (int path = 0; path < 4; ++path) {  // plain, causal, bias + mask + dropout, causal + bias + mask
        INFO("Dv=" << Dv << " path " << path << " dtype " << (dt == DType::float64 ? "float64" : "float32"));
        Tensor grads[2][4];
        for (int kept = 0; kept < 2; ++kept) {
          Tensor q = randn64({2, 37, 2, 5}, 91).detach().to(dt).set_requires_grad();
          Tensor k = randn64({2, 29, 2, 5}, 92).detach().to(dt).set_requires_grad();
          Tensor v = randn64({2, 29, 2, Dv}, 93).detach().to(dt).set_requires_grad();
          Tensor bias = randn64({2, 1, 37, 29}, 94, 0.5).detach().to(dt).set_requires_grad();
          const Tensor r = randn64({2, 37, 2, Dv}, 95).detach().to(dt);
          Generator gen(3);
          AttentionOptions o;
          o.scale = 0.7;
          o.causal = path % 2 == 1;
          if (path >= 2) {
            o.bias = bias;
            o.mask = keep;
          }
          if (path == 2) {
            o.dropout = 0.2;
            o.training = true;
            o.generator = &gen;
          }
          o.return_scores = kept == 1;
          sum(attention(q, k, v, o).output * r).backward();
          const Tensor* leaves[4] = {&q, &k, &v, &bias};
          for (int i = 0; i < (path >= 2 ? 4 : 3); ++i) grads[kept][i] = leaves[i]->grad();
        }
        for (int i = 0; i < (path >= 2 ? 4 : 3); ++i) {
          INFO("gradient of input " << i);
          check_close(grads[0][i], grads[1][i], 0.0);
        }
      }
}
