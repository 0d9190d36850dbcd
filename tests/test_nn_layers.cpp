// Layers' forward values on tiny inputs computed by hand, their modes, and every bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <vector>

#include "nn_helpers.hpp"
#include "xgrad/nn/nn.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"

using namespace xgrad;
using namespace xgrad::nn;
using Catch::Matchers::Contains;
using xgrad::test::check_values;
using xgrad::test::message_of;

namespace {

// kernel (3, 2) = [[1, 2], [3, 4], [5, 6]] (row-major), whatever shape is asked for.
Initializer kernel_123456() {
  return {[](const Shape& s, DType d, Generator&) { return from_vector({1, 2, 3, 4, 5, 6}, s, d); }, "k"};
}

Dense tiny_dense(Activation activation = {}) {
  return Dense({.units = 2,
                .activation = std::move(activation),
                .kernel_initializer = kernel_123456(),
                .bias_initializer = initializers::constant(0.5),
                .dtype = DType::float64});
}

}  // namespace

TEST_CASE("Dense: x @ kernel + bias on a tiny input, by hand", "[layers]") {
  Dense dense = tiny_dense();
  CHECK_FALSE(dense.built());
  // [1, -1, 2] @ [[1, 2], [3, 4], [5, 6]] = [8, 10]; [-1, 0, -1] @ ... = [-6, -8]; + 0.5.
  Tensor y = dense(from_vector({1, -1, 2, -1, 0, -1}, {2, 3}, DType::float64));
  CHECK(dense.built());
  CHECK(dense.kernel().shape() == Shape{3, 2});
  CHECK(dense.bias().shape() == Shape{2});
  CHECK(y.shape() == Shape{2, 2});
  check_values(y, {8.5, 10.5, -5.5, -7.5});
}

TEST_CASE("Dense: activations by name and as a callable", "[layers]") {
  Tensor x = from_vector({1, -1, 2, -1, 0, -1}, {2, 3}, DType::float64);
  const double e1 = std::exp(-2.0);  // softmax of [8.5, 10.5]: [e^-2, 1] / (1 + e^-2)
  check_values(tiny_dense("relu")(x), {8.5, 10.5, 0, 0});
  check_values(tiny_dense("softmax")(x), {e1 / (1 + e1), 1 / (1 + e1), 1 / (1 + e1), e1 / (1 + e1)});
  Dense twice = tiny_dense(Activation([](const Tensor& h) { return mul(h, 2.0); }, "twice"));
  check_values(twice(x), {17, 21, -11, -15});
  Dense linear({.units = 2, .activation = nullptr, .use_bias = false, .kernel_initializer = kernel_123456(),
                .dtype = DType::float64});
  check_values(linear(x), {8, 10, -6, -8});
  CHECK_FALSE(linear.bias().defined());
  CHECK(linear.named_parameters().size() == 1);
}

TEST_CASE("Dense: acts on the last axis of rank-1 and rank-3 inputs", "[layers]") {
  Dense dense = tiny_dense();
  Tensor y3 = dense(from_vector({1, -1, 2, -1, 0, -1}, {2, 1, 3}, DType::float64));
  CHECK(y3.shape() == Shape{2, 1, 2});
  check_values(y3, {8.5, 10.5, -5.5, -7.5});
  Tensor y1 = dense(from_vector({1, -1, 2}, {3}, DType::float64));
  CHECK(y1.shape() == Shape{2});
  check_values(y1, {8.5, 10.5});
}

TEST_CASE("Dense: input_dim builds the weights up front, default options follow Keras", "[layers]") {
  Dense dense({.units = 4, .input_dim = 3});
  CHECK(dense.built());
  CHECK(dense.kernel().shape() == Shape{3, 4});
  CHECK(dense.kernel().dtype() == DType::float32);
  CHECK(dense.bias().to_vector() == std::vector<double>(4, 0.0));  // bias_initializer "zeros"
  const double limit = std::sqrt(6.0 / 7);                          // glorot_uniform, fans 3 and 4
  for (double v : dense.kernel().to_vector()) CHECK(std::abs(v) <= limit);
  CHECK(dense.kernel().requires_grad());
  // The same seed gives the same kernel.
  CHECK(Dense({.units = 4, .input_dim = 3, .seed = 7}).kernel().to_vector() ==
        Dense({.units = 4, .input_dim = 3, .seed = 7}).kernel().to_vector());
  CHECK(Dense(5, "relu").options().activation.name() == "relu");
}

TEST_CASE("Dense: regularizers add weight and activity penalties to regularization_loss", "[layers]") {
  Dense dense({.units = 2, .activation = "relu", .kernel_initializer = kernel_123456(),
               .bias_initializer = initializers::constant(0.5), .kernel_regularizer = L2(0.1),
               .bias_regularizer = L1(0.01), .activity_regularizer = L1(0.1), .dtype = DType::float64});
  CHECK_FALSE(dense.regularization_loss().defined());  // not built yet, no activity recorded
  dense(from_vector({1, -1, 2, -1, 0, -1}, {2, 3}, DType::float64));
  // kernel: 0.1 * (1 + 4 + 9 + 16 + 25 + 36) = 9.1; bias: 0.01 * 1 = 0.01;
  // activity: 0.1 * (8.5 + 10.5 + 0 + 0) / batch 2 = 0.95.
  CHECK(dense.regularization_loss().item() == Approx(9.1 + 0.01 + 0.95));
  // A later call replaces the activity term instead of adding to it.
  dense(from_vector({1, -1, 2}, {1, 3}, DType::float64));
  CHECK(dense.regularization_loss().item() == Approx(9.1 + 0.01 + 0.1 * 19));
  Dense plain = tiny_dense();
  plain(from_vector({1, -1, 2}, {1, 3}, DType::float64));
  CHECK_FALSE(plain.regularization_loss().defined());
}

TEST_CASE("Dense: bad arguments and inputs throw typed errors naming the shapes", "[layers]") {
  CHECK_THAT(message_of<ValueError>([] { Dense(0); }), Contains("units") && Contains("0"));
  CHECK_THAT(message_of<ValueError>([] { Dense({.units = -3}); }), Contains("-3"));
  CHECK_THAT(message_of<ValueError>([] { Dense({.units = 2, .input_dim = -1}); }), Contains("input_dim"));
  CHECK_THAT(message_of<TypeError>([] { Dense({.units = 2, .dtype = DType::int64}); }), Contains("int64"));
  CHECK_THAT(message_of<ValueError>([] { Dense(2, "relu6"); }), Contains("'relu6'") && Contains("gelu"));
  CHECK_THAT(message_of<ValueError>([] { Dense({.units = 2, .kernel_initializer = "glorot"}); }),
             Contains("glorot_uniform"));
  Dense dense = tiny_dense();
  dense(zeros({4, 3}, DType::float64));
  CHECK_THAT(message_of<ShapeError>([&] { dense(zeros({2, 5}, DType::float64)); }),
             Contains("(2, 5)") && Contains("5") && Contains("input_dim 3") && Contains("(3, 2)"));
  CHECK_THAT(message_of<ShapeError>([&] { dense(scalar(1.0, DType::float64)); }), Contains("()"));
  CHECK_THAT(message_of<TypeError>([&] { dense(zeros({2, 3})); }), Contains("float32") && Contains("float64"));
  CHECK_THAT(message_of<TypeError>([&] { dense(index_tensor({1, 2, 3}, {1, 3})); }), Contains("int64"));
  CHECK_THAT(message_of<ShapeError>([&] { dense.build(4); }), Contains("3") && Contains("4"));
  CHECK_THAT(message_of<ValueError>([&] { dense(Tensor()); }), Contains("Dense") && Contains("'x'"));
  Dense lazy(2);
  CHECK_THAT(message_of<ShapeError>([&] { lazy(zeros({2, 0})); }), Contains("(2, 0)"));
}

TEST_CASE("Activation layers compute relu, tanh, sigmoid, gelu and softmax", "[layers]") {
  Tensor x = from_vector({-1, 0, 2}, {1, 3}, DType::float64);
  check_values(ReLU()(x), {0, 0, 2});
  check_values(Tanh()(x), {std::tanh(-1.0), 0, std::tanh(2.0)});
  check_values(Sigmoid()(x), {1 / (1 + std::exp(1.0)), 0.5, 1 / (1 + std::exp(-2.0))});
  // Exact GELU: x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2)).
  auto gelu_exact = [](double v) { return v / 2 * (1 + std::erf(v / std::sqrt(2.0))); };
  check_values(GELU()(x), {gelu_exact(-1), 0, gelu_exact(2)});
  auto gelu_tanh = [](double v) { return v / 2 * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (v + 0.044715 * v * v * v))); };
  check_values(GELU(true)(x), {gelu_tanh(-1), 0, gelu_tanh(2)});
  const double z = std::exp(-1.0) + 1 + std::exp(2.0);
  check_values(Softmax()(x), {std::exp(-1.0) / z, 1 / z, std::exp(2.0) / z});
  // Softmax over axis 0 of a (2, 1) input: each column sums to 1.
  check_values(Softmax(0)(from_vector({0, std::log(3.0)}, {2, 1}, DType::float64)), {0.25, 0.75});
  check_values(ActivationLayer("sigmoid")(x), Sigmoid()(x).to_vector());
  check_values(ActivationLayer("linear")(x), {-1, 0, 2});
  CHECK(Activation().is_linear());
  CHECK(Activation(nullptr).name() == "linear");
  CHECK_THROWS_AS(Softmax(2)(x), IndexError);
  CHECK_THAT(message_of<ValueError>([] { Activation("swish"); }), Contains("'swish'") && Contains("softmax"));
}

TEST_CASE("Dropout: inverted scaling in training, identity in eval and with training=false", "[layers]") {
  Tensor x = ones({4000}, DType::float64);
  Dropout drop(0.25, {}, 3);
  Tensor y = drop(x);
  int zeros_seen = 0;
  for (double v : y.to_vector()) {
    if (v == 0.0) ++zeros_seen;
    else CHECK(v == Approx(1 / 0.75));
  }
  // Binomial(4000, 0.25): mean 1000, stddev 27.4; allow 6 of them.
  CHECK(std::abs(zeros_seen - 1000) <= 165);
  drop.reseed(3);
  CHECK(drop(x).to_vector() == y.to_vector());
  CHECK(drop(x, false).to_vector() == x.to_vector());
  drop.eval();
  CHECK_FALSE(drop.is_training());
  CHECK(drop(x).is_same(x));
  CHECK(drop(x, true).to_vector() != x.to_vector());  // the call argument overrides the mode
  CHECK(Dropout(0.0)(x).is_same(x));
}

TEST_CASE("Dropout: rate 1 gives zeros and a zero gradient", "[layers]") {
  Tensor x = from_vector({1, -2, 3}, {3}, DType::float64).set_requires_grad();
  Tensor y = Dropout(1.0)(x);
  CHECK(y.to_vector() == std::vector<double>{0, 0, 0});
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0});
}

TEST_CASE("Dropout: noise_shape shares one mask along broadcast axes", "[layers]") {
  // (batch 30, time 5, features 8) with noise (batch, 1, features): each (b, f) is kept or dropped
  // at every time step together.
  Tensor x = ones({30, 5, 8}, DType::float64);
  Dropout drop(0.5, {Dropout::kFromInput, 1, Dropout::kFromInput}, 11);
  const std::vector<double> y = drop(x).to_vector();
  int dropped = 0;
  for (int b = 0; b < 30; ++b)
    for (int f = 0; f < 8; ++f) {
      const double first = y[static_cast<std::size_t>(b * 40 + f)];
      CHECK((first == 0.0 || first == 2.0));
      dropped += first == 0.0;
      for (int t = 1; t < 5; ++t) CHECK(y[static_cast<std::size_t>(b * 40 + t * 8 + f)] == first);
    }
  // Binomial(240, 0.5): stddev 7.7.
  CHECK(std::abs(dropped - 120) <= 47);
  CHECK(Dropout(0.5, {30, 1, 8}).noise_shape() == Shape{30, 1, 8});
}

TEST_CASE("Dropout: bad rates, noise shapes and inputs throw typed errors", "[layers]") {
  CHECK_THAT(message_of<ValueError>([] { Dropout(1.5); }), Contains("rate") && Contains("1.5"));
  CHECK_THAT(message_of<ValueError>([] { Dropout(-0.1); }), Contains("-0.1"));
  CHECK_THROWS_AS(Dropout(NAN), ValueError);
  CHECK_THAT(message_of<ValueError>([] { Dropout(0.5, {2, 0}); }), Contains("(2, 0)"));
  Dropout drop(0.5, {2, 5});
  CHECK_THAT(message_of<ShapeError>([&] { drop(ones({2, 3})); }), Contains("(2, 5)") && Contains("(2, 3)"));
  CHECK_THAT(message_of<ShapeError>([&] { drop(ones({2, 5, 1})); }), Contains("(2, 5)") && Contains("(2, 5, 1)"));
  CHECK_THAT(message_of<TypeError>([&] { Dropout(0.5)(index_tensor({1}, {1})); }), Contains("int64"));
}

TEST_CASE("LayerNorm: normalises the last axis with Keras's epsilon, gamma and beta", "[layers]") {
  LayerNorm norm({.dtype = DType::float64});
  Tensor y = norm(from_vector({1, 2, 3, 10, 10, 16}, {2, 3}, DType::float64));
  // Row 0: mean 2, biased variance 2/3. Row 1: mean 12, variance 8. epsilon 1e-3.
  const double s0 = std::sqrt(2.0 / 3 + 1e-3), s1 = std::sqrt(8 + 1e-3);
  check_values(y, {-1 / s0, 0, 1 / s0, -2 / s1, -2 / s1, 4 / s1});
  CHECK(norm.named_parameters()[0].first == "gamma");
  CHECK(norm.named_parameters()[1].first == "beta");
  // Learned scale and offset apply per feature.
  LayerNorm affine({.beta_initializer = initializers::constant(1.0), .gamma_initializer = initializers::constant(2.0),
                    .dtype = DType::float64});
  check_values(affine(from_vector({1, 2, 3}, {3}, DType::float64)), {1 - 2 / s0, 1, 1 + 2 / s0});
}

TEST_CASE("LayerNorm: center and scale switch beta and gamma off", "[layers]") {
  LayerNorm bare({.center = false, .scale = false, .input_dim = 4});
  CHECK(bare.named_parameters().empty());
  LayerNorm scale_only(1e-5, false, true);
  scale_only(zeros({2, 4}));
  REQUIRE(scale_only.named_parameters().size() == 1);
  CHECK(scale_only.named_parameters()[0].first == "gamma");
  CHECK_FALSE(scale_only.beta().defined());
}

TEST_CASE("LayerNorm: bad arguments and inputs throw typed errors naming the shapes", "[layers]") {
  CHECK_THAT(message_of<ValueError>([] { LayerNorm(-1.0); }), Contains("epsilon"));
  CHECK_THAT(message_of<ValueError>([] { LayerNorm({.input_dim = -2}); }), Contains("-2"));
  LayerNorm norm({.input_dim = 4});
  CHECK_THAT(message_of<ShapeError>([&] { norm(zeros({2, 3})); }), Contains("(2, 3)") && Contains("4"));
  CHECK_THAT(message_of<ShapeError>([&] { norm(scalar(1.0)); }), Contains("()"));
  CHECK_THAT(message_of<TypeError>([&] { norm(zeros({2, 4}, DType::float64)); }), Contains("float64"));
}

TEST_CASE("Embedding: rows of the table by id, with Keras's uniform default", "[layers]") {
  Embedding table({.input_dim = 3, .output_dim = 2,
                   .embeddings_initializer = Initializer(
                       [](const Shape& s, DType d, Generator&) { return from_vector({0, 1, 10, 11, 20, 21}, s, d); }),
                   .dtype = DType::float64});
  Tensor y = table(index_tensor({1, 0, 2, 1}, {2, 2}));
  CHECK(y.shape() == Shape{2, 2, 2});
  check_values(y, {10, 11, 0, 1, 20, 21, 10, 11});
  CHECK(table.named_parameters()[0].first == "embeddings");
  Embedding keras_default(50, 8);
  CHECK(keras_default.embeddings().shape() == Shape{50, 8});
  for (double v : keras_default.embeddings().to_vector()) CHECK(std::abs(v) <= 0.05);
}

TEST_CASE("Embedding: compute_mask marks padding id 0 only with mask_zero", "[layers]") {
  Tensor ids = index_tensor({3, 0, 1, 0, 0, 2}, {2, 3});
  Embedding masked(4, 2, "uniform", true);
  Tensor mask = masked.compute_mask(ids);
  CHECK(mask.shape() == Shape{2, 3});
  CHECK(mask.dtype() == DType::int64);
  CHECK(mask.to_vector() == std::vector<double>{1, 0, 1, 0, 0, 1});
  CHECK(ids.to_vector() == std::vector<double>{3, 0, 1, 0, 0, 2});  // ids untouched
  CHECK_FALSE(Embedding(4, 2).compute_mask(ids).defined());
}

TEST_CASE("Embedding: bad sizes, ids and dtypes throw typed errors", "[layers]") {
  CHECK_THAT(message_of<ValueError>([] { Embedding(0, 4); }), Contains("input_dim=0"));
  CHECK_THAT(message_of<ValueError>([] { Embedding(4, -1); }), Contains("output_dim=-1"));
  Embedding table(4, 2);
  CHECK_THAT(message_of<TypeError>([&] { table(zeros({2, 3})); }), Contains("int64") && Contains("(2, 3)"));
  CHECK_THAT(message_of<TypeError>([&] { table.compute_mask(zeros({2})); }), Contains("float32"));
  CHECK_THROWS_AS(table(index_tensor({1, 4}, {2})), IndexError);
  CHECK_THROWS_AS(table(index_tensor({-1}, {1})), IndexError);
}
