// Float64 finite-difference checks of every layer, for its input and every parameter. The layers'
// parameter handles are passed to gradcheck, which perturbs them in place, so each check runs the
// layer exactly as training does.
#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "nn_helpers.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/nn/nn.hpp"
#include "xgrad/ops/elementwise.hpp"

using namespace xgrad;
using namespace xgrad::nn;
using xgrad::test::randn64;

namespace {

void check_gradients(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs) {
  auto r = gradcheck(fn, inputs);
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.max_rel_error <= 1e-6);
  CHECK(r.checked > 0);
}

}  // namespace

TEST_CASE("Dense: gradcheck for input, kernel and bias, every activation, rank 2 and 3, with penalties",
          "[layers]") {
  const char* activation = GENERATE("linear", "relu", "tanh", "sigmoid", "gelu", "softmax");
  const int rank = GENERATE(2, 3);
  INFO(activation << ", rank " << rank);
  Dense dense({.units = 4,
               .activation = activation,
               .bias_initializer = "random_normal",
               .kernel_regularizer = L2(0.1),
               .bias_regularizer = L1(0.05),
               .activity_regularizer = L2(0.01),
               .input_dim = 3,
               .dtype = DType::float64,
               .seed = 2});
  Tensor x = randn64(rank == 2 ? Shape{5, 3} : Shape{2, 3, 3}, 3).set_requires_grad();
  // The output plus every penalty, so the regularizers' gradients are checked too. The forward must
  // run first: it records the activity penalty that regularization_loss() then reads.
  check_gradients(
      [&](const std::vector<Tensor>& in) {
        Tensor y = dense(in[0]);
        return add(y, dense.regularization_loss());
      },
      {x, dense.kernel(), dense.bias()});
}

TEST_CASE("Dense: gradcheck without bias on a rank-1 input", "[layers]") {
  Dense dense({.units = 3, .activation = "tanh", .use_bias = false, .input_dim = 4, .dtype = DType::float64});
  check_gradients([&](const std::vector<Tensor>& in) { return dense(in[0]); },
                  {randn64({4}, 5).set_requires_grad(), dense.kernel()});
}

TEST_CASE("Activation layers: gradcheck", "[layers]") {
  std::vector<std::unique_ptr<Layer>> layers;
  layers.push_back(std::make_unique<ReLU>());
  layers.push_back(std::make_unique<Tanh>());
  layers.push_back(std::make_unique<Sigmoid>());
  layers.push_back(std::make_unique<GELU>());
  layers.push_back(std::make_unique<GELU>(true));
  layers.push_back(std::make_unique<Softmax>());
  layers.push_back(std::make_unique<Softmax>(0));
  for (auto& layer : layers) {
    INFO(layer->type_name());
    check_gradients([&](const std::vector<Tensor>& in) { return (*layer)(in[0]); },
                    {randn64({3, 4}, 8).set_requires_grad()});
  }
}

TEST_CASE("Dropout: gradcheck with a fixed seed, with and without noise_shape", "[layers]") {
  Dropout plain(0.4, {}, 5);
  check_gradients(
      [&](const std::vector<Tensor>& in) {
        plain.reseed(5);  // the same mask at every evaluation
        return plain(in[0]);
      },
      {randn64({4, 6}, 1).set_requires_grad()});
  Dropout shared(0.5, {Dropout::kFromInput, 1, Dropout::kFromInput}, 6);
  check_gradients(
      [&](const std::vector<Tensor>& in) {
        shared.reseed(6);
        return shared(in[0]);
      },
      {randn64({2, 3, 4}, 2).set_requires_grad()});
}

TEST_CASE("LayerNorm: gradcheck for input, gamma and beta, with a gamma penalty", "[layers]") {
  LayerNorm norm({.beta_initializer = initializers::random_normal(0.0, 0.3),
                  .gamma_initializer = initializers::random_normal(1.0, 0.3),
                  .gamma_regularizer = L2(0.1),
                  .input_dim = 4,
                  .dtype = DType::float64});
  check_gradients(
      [&](const std::vector<Tensor>& in) {
        Tensor y = norm(in[0]);
        return add(y, norm.regularization_loss());
      },
                  {randn64({2, 3, 4}, 4).set_requires_grad(), norm.gamma(), norm.beta()});
}

TEST_CASE("Embedding: gradcheck of the table with repeated ids and a penalty", "[layers]") {
  Embedding table({.input_dim = 5, .output_dim = 3, .embeddings_regularizer = L2(0.1), .dtype = DType::float64});
  Tensor ids = index_tensor({1, 3, 1, 0, 4, 1}, {2, 3});
  check_gradients(
      [&](const std::vector<Tensor>&) {
        Tensor y = table(ids);
        return add(y, table.regularization_loss());
      },
                  {table.embeddings()});
}

TEST_CASE("Sequential: gradcheck through Dense, LayerNorm, GELU, Dropout and Dense for every parameter",
          "[layers]") {
  Sequential model;
  model.emplace<Dense>(DenseOptions{.units = 5, .input_dim = 3, .dtype = DType::float64, .seed = 1});
  model.emplace<LayerNorm>(LayerNormOptions{.input_dim = 5, .dtype = DType::float64});
  model.emplace<GELU>();
  auto& drop = model.emplace<Dropout>(0.3, Shape{}, 9);
  model.emplace<Dense>(DenseOptions{.units = 2, .bias_initializer = "random_normal", .kernel_regularizer = L2(0.01),
                                    .input_dim = 5, .dtype = DType::float64, .seed = 2});
  std::vector<Tensor> inputs = {randn64({4, 3}, 7).set_requires_grad()};
  for (const Tensor& p : model.parameters()) inputs.push_back(p);
  REQUIRE(inputs.size() == 7);  // x, two kernels, two biases, gamma, beta
  check_gradients(
      [&](const std::vector<Tensor>& in) {
        drop.reseed(9);
        Tensor y = model(in[0]);
        return add(y, model.regularization_loss());
      },
      inputs);
}
