// Edge cases and bad inputs of the fused nn ops; every expected value here is worked out by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

TEST_CASE("softmax: logits of 1e4 stay finite on both the row and the strided path", "[nn]") {
  for (const DType dt : {DType::float32, DType::float64}) {
    const Tensor x = from_vector({1e4, 0, -1e4}, {3}, dt);
    const auto y = softmax(x).to_vector();
    CHECK(y == std::vector<double>{1, 0, 0});
    const auto ly = log_softmax(x).to_vector();
    CHECK(ly == std::vector<double>{0, -1e4, -2e4});
    // The same logits down a column: softmax over axis 0 of a (3, 2) tensor.
    const auto col = softmax(from_vector({1e4, 1, 0, 1, -1e4, 1}, {3, 2}, dt), 0).to_vector();
    CHECK(col[0] == 1.0);
    CHECK(col[2] == 0.0);
    CHECK(col[1] == Approx(1.0 / 3));
  }
}

TEST_CASE("softmax: -inf entries get weight 0 and an all -inf row gives zeros and zero gradient", "[nn]") {
  for (const bool log : {false, true}) {
    INFO((log ? "log_softmax" : "softmax"));
    // Row 0 is fully masked; row 1 masks its middle entry.
    Tensor x = from_vector({-kInf, -kInf, -kInf, 0, -kInf, 0}, {2, 3}, DType::float64).set_requires_grad();
    Tensor y = log ? log_softmax(x) : softmax(x);
    const auto v = y.to_vector();
    CHECK(std::vector<double>(v.begin(), v.begin() + 3) == std::vector<double>{0, 0, 0});
    if (log) {
      CHECK(v[3] == Approx(-std::log(2.0)));
      CHECK(v[4] == -kInf);
    } else {
      CHECK(v[3] == 0.5);
      CHECK(v[4] == 0.0);
    }
    y.backward(from_vector({1, 2, 3, 1, 2, 5}, {2, 3}, DType::float64));
    const auto g = x.grad().to_vector();
    CHECK(std::vector<double>(g.begin(), g.begin() + 3) == std::vector<double>{0, 0, 0});
    // Row 1: softmax p = (.5, 0, .5): dx = p * (dy - p.dy) = (-1, 0, 1); log_softmax: dx = dy - p * sum(dy)
    // = (1 - 4, 2, 5 - 4).
    const std::vector<double> row1 = log ? std::vector<double>{-3, 2, 1} : std::vector<double>{-1, 0, 1};
    CHECK(std::vector<double>(g.begin() + 3, g.end()) == row1);
  }
}

TEST_CASE("softmax: an all -inf column on the strided path gives zeros, never NaN", "[nn]") {
  for (const bool log : {false, true}) {
    Tensor x = from_vector({-kInf, 1, -kInf, 1}, {2, 2}, DType::float32).set_requires_grad();
    Tensor y = log ? log_softmax(x, 0) : softmax(x, 0);
    const auto v = y.to_vector();
    CHECK(v[0] == 0.0);
    CHECK(v[2] == 0.0);
    CHECK(v[1] == Approx(log ? -std::log(2.0) : 0.5));
    y.backward(ones({2, 2}));
    CHECK(all_finite(x.grad()));
    CHECK(x.grad().at({0, 0}) == 0.0);
    CHECK(x.grad().at({1, 0}) == 0.0);
  }
}

TEST_CASE("softmax: the strided path over 130 inner columns equals the row path on the transpose", "[nn]") {
  // 130 columns cross the 128-column strip boundary of the strided kernel.
  Generator gen(11);
  const Tensor x = randn({2, 7, 130}, gen, DType::float64, 0.0, 3.0);
  Tensor xt = Tensor::empty({2, 130, 7}, DType::float64);
  for (std::int64_t o = 0; o < 2; ++o)
    for (std::int64_t k = 0; k < 7; ++k)
      for (std::int64_t j = 0; j < 130; ++j) xt.set({o, j, k}, x.at({o, k, j}));
  for (const bool log : {false, true}) {
    const Tensor y = log ? log_softmax(x, 1) : softmax(x, 1);
    const Tensor yt = log ? log_softmax(xt, -1) : softmax(xt, -1);
    for (std::int64_t o = 0; o < 2; ++o)
      for (std::int64_t k = 0; k < 7; ++k)
        for (std::int64_t j = 0; j < 130; j += 43) CHECK(y.at({o, k, j}) == Approx(yt.at({o, j, k})).epsilon(1e-14));
  }
}

TEST_CASE("cross_entropy: all targets ignored gives 0 loss and zero gradient (torch gives NaN)", "[nn]") {
  Tensor logits = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64).set_requires_grad();
  Tensor loss = cross_entropy(logits, index_tensor({-100, -100}, {2}));
  CHECK(loss.item() == 0.0);
  loss.backward();
  CHECK(logits.grad().to_vector() == std::vector<double>(6, 0.0));
}

TEST_CASE("cross_entropy: logits of 1e4 give a finite loss", "[nn]") {
  // Target 1 scores 1e4 below the winner: nll = logsumexp - x_t = 1e4 - 0 = 1e4.
  const Tensor logits = from_vector({1e4, 0, -1e4}, {1, 3}, DType::float32);
  CHECK(cross_entropy(logits, index_tensor({1}, {1})).item() == Approx(1e4));
  CHECK(cross_entropy(logits, index_tensor({0}, {1})).item() == 0.0);
}

TEST_CASE("cross_entropy: one sample by hand, with label smoothing", "[nn]") {
  // Logits (0, 0): log p = -log 2 for both classes, so nll = mean(-log p) = log 2 for any smoothing.
  const Tensor logits = from_vector({0, 0}, {2}, DType::float64);
  const CrossEntropyOptions opt{-100, 0.5, true};
  CHECK(cross_entropy(logits, index_tensor({1}, {}), opt).item() == Approx(std::log(2.0)));
}

TEST_CASE("mse: a gradient reaches only the side that requires one", "[nn]") {
  // mean of (1-0)^2, (2-4)^2 = 2.5; d/db = 2 (b - a) / 2 = (-1, 2).
  Tensor a = from_vector({1, 2}, {2}, DType::float64);
  Tensor b = from_vector({0, 4}, {2}, DType::float64).set_requires_grad();
  Tensor loss = mse(a, b);
  CHECK(loss.item() == 2.5);
  loss.backward();
  CHECK_FALSE(a.grad().defined());
  CHECK(b.grad().to_vector() == std::vector<double>{-1, 2});
}

TEST_CASE("dropout: rate 1 gives zeros and a zero gradient", "[nn]") {
  Generator gen(3);
  Tensor x = from_vector({1, -2, 3}, {3}).set_requires_grad();
  Tensor y = dropout(x, 1.0, gen);
  CHECK(y.to_vector() == std::vector<double>{0, 0, 0});
  y.backward(ones({3}));
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0});
}

TEST_CASE("dropout: eval mode and rate 0 return the input itself without recording", "[nn]") {
  Generator gen(3);
  Tensor x = from_vector({1, -2, 3}, {3}).set_requires_grad();
  const std::size_t before = tape_size();
  CHECK(dropout(x, 0.5, gen, false).is_same(x));
  CHECK(dropout(x, 0.0, gen).is_same(x));
  CHECK(tape_size() == before);
}

TEST_CASE("dropout: the same seed gives the same mask, and the backward reuses it", "[nn]") {
  const Tensor x = ones({64});
  Generator g1(99), g2(99), g3(100);
  const auto a = dropout(x, 0.5, g1).to_vector();
  CHECK(dropout(x, 0.5, g2).to_vector() == a);
  CHECK(dropout(x, 0.5, g3).to_vector() != a);
  for (double v : a) CHECK((v == 0.0 || v == 2.0));  // kept entries scaled by 1 / (1 - 0.5)

  Generator g4(99);
  Tensor xg = ones({64}).set_requires_grad();
  Tensor y = dropout(xg, 0.5, g4);
  y.backward(ones({64}));
  CHECK(xg.grad().to_vector() == a);  // d(x * mask)/dx = mask
}

TEST_CASE("dropout: the fraction kept on a large tensor is 1 - rate within six standard deviations", "[nn]") {
  const std::int64_t n = 200000;
  const double rate = 0.3;
  Generator gen(5);
  const auto y = dropout(ones({n}), rate, gen).to_vector();
  std::int64_t kept = 0;
  for (double v : y) kept += v != 0.0;
  // kept ~ Binomial(n, 0.7): sd = sqrt(n * 0.7 * 0.3) ~ 205; a false failure has probability ~ 2e-9.
  const double sd = std::sqrt(n * rate * (1 - rate));
  CHECK(std::abs(static_cast<double>(kept) - n * (1 - rate)) < 6 * sd);
  CHECK(y[0] == Approx(1.0 / 0.7).epsilon(1e-6));
}

TEST_CASE("nn ops: bad inputs throw typed errors that name the shapes", "[nn]") {
  const Tensor x = zeros({2, 3});
  const Tensor ids = index_tensor({0, 1}, {2});

  CHECK_THROWS_AS(softmax(x, 2), IndexError);
  CHECK_THROWS_AS(log_softmax(x, -3), IndexError);
  CHECK_THROWS_AS(softmax(ids), TypeError);
  CHECK_THROWS_AS(softmax(Tensor()), Error);

  CHECK_THROWS_WITH(layer_norm(x, ones({2}), Tensor()), Contains("weight") && Contains("(2,)") && Contains("(2, 3)"));
  CHECK_THROWS_AS(layer_norm(x, ones({2}), Tensor()), ShapeError);
  CHECK_THROWS_WITH(layer_norm(x, Tensor(), ones({4})), Contains("bias") && Contains("(4,)"));
  CHECK_THROWS_AS(layer_norm(x, ones({3}, DType::float64), Tensor()), TypeError);
  CHECK_THROWS_AS(layer_norm(x, Tensor(), Tensor(), 0.0), ValueError);
  CHECK_THROWS_AS(layer_norm(x, Tensor(), Tensor(), -1e-5), ValueError);
  CHECK_THROWS_AS(layer_norm(scalar(1.0), Tensor(), Tensor()), ShapeError);

  const Tensor table = zeros({4, 3});
  CHECK_THROWS_AS(embedding(index_tensor({0, 4}, {2}), table), IndexError);
  CHECK_THROWS_WITH(embedding(index_tensor({0, 4}, {2}), table), Contains("index 4") && Contains("4 rows"));
  CHECK_THROWS_WITH(embedding(index_tensor({-1}, {1}), table), Contains("index -1"));
  CHECK_THROWS_AS(embedding(x, table), TypeError);
  CHECK_THROWS_WITH(embedding(ids, zeros({12})), Contains("(12,)"));

  CHECK_THROWS_AS(cross_entropy(x, index_tensor({0, 3}, {2})), IndexError);
  CHECK_THROWS_WITH(cross_entropy(x, index_tensor({0, 3}, {2})), Contains("target 3") && Contains("[0, 3)"));
  CHECK_THROWS_AS(cross_entropy(x, index_tensor({0, 1, 2}, {3})), ShapeError);
  CHECK_THROWS_WITH(cross_entropy(x, index_tensor({0, 1, 2}, {3})), Contains("(3,)") && Contains("(2, 3)"));
  CHECK_THROWS_AS(cross_entropy(x, zeros({2})), TypeError);
  CHECK_THROWS_AS(cross_entropy(x, ids, {-100, 1.5, true}), ValueError);

  CHECK_THROWS_AS(mse(x, zeros({3, 2})), ShapeError);
  CHECK_THROWS_WITH(mse(x, zeros({3})), Contains("(2, 3)") && Contains("(3,)"));
  CHECK_THROWS_AS(mse(x, zeros({2, 3}, DType::float64)), TypeError);

  Generator gen;
  CHECK_THROWS_AS(dropout(x, -0.1, gen), ValueError);
  CHECK_THROWS_WITH(dropout(x, 1.5, gen), Contains("rate") && Contains("1.5"));
  CHECK_THROWS_AS(dropout(ids, 0.5, gen), TypeError);
}
