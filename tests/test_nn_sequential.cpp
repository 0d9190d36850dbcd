// Layers inside modules: dotted parameter names, mode propagation, summary text, and the recursive
// regularization and constraint passes.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "nn_helpers.hpp"
#include "xgrad/nn/nn.hpp"

using namespace xgrad;
using namespace xgrad::nn;
using Catch::Matchers::Contains;

namespace {

std::vector<std::string> names_of(const std::vector<NamedTensor>& entries) {
  std::vector<std::string> names;
  for (const auto& [name, t] : entries) names.push_back(name);
  return names;
}

// A model with a nested block, as a user would write one: sub-modules are plain members.
class Block : public Layer {
 public:
  Block() : Layer("Block") {
    register_module("dense", dense_);
    register_module("drop", drop_);
  }
  Tensor forward(const Tensor& x) override { return drop_(dense_(x)); }
  Dense dense_{DenseOptions{.units = 3, .input_dim = 3}};
  Dropout drop_{0.5};
};

}  // namespace

TEST_CASE("Sequential of Dense layers: dotted parameter names and counts", "[layers]") {
  Sequential model;
  model.emplace<Dense>(DenseOptions{.units = 4, .activation = "relu", .input_dim = 3});
  model.emplace<Dense>(2);
  // The second layer is built on the first call.
  CHECK(names_of(model.named_parameters()) == std::vector<std::string>{"0.kernel", "0.bias"});
  Tensor y = model(zeros({5, 3}));
  CHECK(y.shape() == Shape{5, 2});
  CHECK(names_of(model.named_parameters()) == std::vector<std::string>{"0.kernel", "0.bias", "1.kernel", "1.bias"});
  CHECK(model.find("1.kernel").shape() == Shape{4, 2});
  CHECK(model.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2);
  CHECK(names_of(model.named_trainable_parameters()).size() == 4);
}

TEST_CASE("Module: train() and eval() reach layers nested in blocks", "[layers]") {
  Sequential model;
  auto& block = model.emplace<Block>();
  model.emplace<LayerNorm>(LayerNormOptions{.input_dim = 3});
  CHECK(names_of(model.named_parameters()) ==
        std::vector<std::string>{"0.dense.kernel", "0.dense.bias", "1.gamma", "1.beta"});
  CHECK(block.drop_.is_training());
  model.eval();
  CHECK_FALSE(block.drop_.is_training());
  CHECK_FALSE(block.dense_.is_training());
  // In eval mode the dropout is the identity: the block equals its dense layer.
  Tensor x = ones({2, 3});
  CHECK(block(x).to_vector() == block.dense_(x).to_vector());
  model.train();
  CHECK(block.drop_.is_training());
}

TEST_CASE("Module: summary() shows the layer tree, parameter shapes and counts", "[layers]") {
  Sequential model;
  model.emplace<Embedding>(10, 4);
  model.emplace<Dense>(DenseOptions{.units = 6, .input_dim = 4});
  model.emplace<Dropout>(0.1);
  model.emplace<Dense>(DenseOptions{.units = 2, .activation = "softmax"});
  const std::string text = model.summary();
  INFO(text);
  CHECK_THAT(text, Contains("model (Sequential)"));
  CHECK_THAT(text, Contains("  0 (Embedding)") && Contains("embeddings(10, 4)"));
  CHECK_THAT(text, Contains("  1 (Dense)") && Contains("kernel(4, 6) bias(6,)"));
  CHECK_THAT(text, Contains("  2 (Dropout)") && Contains("rate=0.1"));
  CHECK_THAT(text, Contains("  3 (Dense)") && Contains("units=2, softmax (unbuilt)"));
  CHECK_THAT(text, Contains("Total params: 70"));  // 40 + 24 + 6
  CHECK_THAT(text, Contains("Trainable params: 70") && Contains("Non-trainable params: 0"));
  CHECK(fmt::format("{}", model) == text);
  model(index_tensor({1, 2}, {2}));
  CHECK_THAT(model.summary(), Contains("kernel(6, 2) bias(2,)") && Contains("Total params: 84"));
}

TEST_CASE("Module: regularization_loss and apply_constraints recurse into every layer", "[layers]") {
  Sequential model;
  model.emplace<Dense>(DenseOptions{.units = 2, .kernel_initializer = "ones", .kernel_regularizer = L1(0.5),
                                    .kernel_constraint = MaxNorm(1.0), .input_dim = 2, .dtype = DType::float64});
  model.emplace<Embedding>(EmbeddingOptions{.input_dim = 2, .output_dim = 2,
                                            .embeddings_initializer = initializers::constant(-1.0),
                                            .embeddings_regularizer = L2(0.25),
                                            .embeddings_constraint = NonNeg(),
                                            .dtype = DType::float64});
  // L1 of the ones kernel: 0.5 * 4 = 2; L2 of the -1 table: 0.25 * 4 = 1.
  CHECK(model.regularization_loss().item() == Approx(3.0));
  model.apply_constraints();
  // Kernel columns (1, 1) have norm sqrt 2 > 1: scaled to 1/sqrt 2 each; the table becomes 0.
  for (double v : model.find("0.kernel").to_vector()) CHECK(v == Approx(1 / std::sqrt(2.0)).margin(1e-6));
  for (double v : model.find("1.embeddings").to_vector()) CHECK(v == 0.0);
  CHECK(model.regularization_loss().item() == Approx(0.5 * 4 / std::sqrt(2.0)).margin(1e-6));
}
