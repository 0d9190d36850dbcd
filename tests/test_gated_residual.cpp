// "Gradcheck your layer" in docs/tutorial.md: a user's Catch2 test of the tutorial's GatedResidual.
#include <catch2/catch.hpp>

#include "gated_residual.hpp"

using namespace xgrad;

TEST_CASE("GatedResidual: the tape's gradients match finite differences", "[tutorial]") {
  GatedResidual layer(4, /*seed=*/1);
  layer.to(DType::float64);  // finite differences need float64
  Generator gen(2);
  Tensor x = randn({3, 4}, gen, DType::float64).set_requires_grad();
  std::vector<Tensor> inputs{x};
  for (const auto& [name, p] : layer.named_parameters()) inputs.push_back(p);  // and every weight
  const GradcheckReport report =
      gradcheck([&](const std::vector<Tensor>& in) { return layer(in[0]); }, inputs);
  INFO(report);  // on failure: the worst input and index, analytic and numeric values, both errors
  CHECK(report.passed);
}

TEST_CASE("GatedResidual: a zero scale makes it the identity", "[tutorial]") {
  GatedResidual layer(2, /*seed=*/3);
  layer.find("scale").fill_(0.0);
  const Tensor x = from_vector({1.0, -2.0, 0.5, 4.0}, {2, 2});
  CHECK(layer(x).to_vector() == x.to_vector());  // x + 0 * gate * candidate, exactly
}
