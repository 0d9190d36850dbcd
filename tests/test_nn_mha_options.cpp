// MultiHeadAttention takes the same initializer, regularizer and constraint arguments as Dense (Keras names).
#include <catch2/catch.hpp>

#include "xgrad/nn/multi_head_attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

TEST_CASE("MultiHeadAttention: Keras-named initializer, regularizer and constraint apply to all four kernels",
          "[attention]") {
  nn::MultiHeadAttention layer({.num_heads = 2, .key_dim = 3, .kernel_initializer = "ones",
                                .bias_initializer = "zeros", .kernel_regularizer = "l2",
                                .kernel_constraint = "non_neg", .dtype = DType::float64});
  Generator gen(5);
  Tensor x = randn({2, 4, 6}, gen, DType::float64);
  layer(x, x);
  const auto weights = layer.get_weights();  // Keras order: kernel, bias for query, key, value, output
  REQUIRE(weights.size() == 8);
  double expected_penalty = 0.0;
  for (std::size_t i = 0; i < weights.size(); i += 2) {
    CHECK(sum(weights[i]).item() == static_cast<double>(weights[i].numel()));  // "ones"
    expected_penalty += 0.01 * static_cast<double>(weights[i].numel());        // L2(0.01) of ones
  }
  CHECK(layer.regularization_loss().item() == Approx(expected_penalty));

  // A negative entry written into the query kernel is clipped to 0 by non_neg.
  Tensor query_kernel = weights[0];
  query_kernel.set({0, 0, 0}, -2.0);
  layer.apply_constraints();
  CHECK(query_kernel.at({0, 0, 0}) == 0.0);
  CHECK(query_kernel.at({0, 0, 1}) == 1.0);
}

TEST_CASE("MultiHeadAttention: an unknown initializer name is a ValueError naming it", "[attention]") {
  CHECK_THROWS_AS(nn::MultiHeadAttention({.num_heads = 2, .key_dim = 3, .kernel_initializer = "glorot_unifrom"}),
                  ValueError);
  CHECK_THROWS_WITH(nn::MultiHeadAttention({.num_heads = 2, .key_dim = 3, .kernel_initializer = "glorot_unifrom"}),
                    Catch::Matchers::Contains("glorot_unifrom"));
}
