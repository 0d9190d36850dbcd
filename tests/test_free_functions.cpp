// docs/tutorial.md promises that the ops, being free functions rather than Tensor members, are found by
// argument-dependent lookup: this file has no `using namespace xgrad`, and must still compile and pass.
#include <catch2/catch.hpp>

#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

TEST_CASE("ops are found by argument-dependent lookup, without using namespace xgrad", "[reduction]") {
  const xgrad::Tensor x = xgrad::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, xgrad::DType::float64);
  CHECK(sum(x).item() == 21);                                        // x.sum()
  CHECK(mean(x, {1}, true).to_vector() == std::vector<double>{2, 5});  // x.mean(1, keepdim=True)
  CHECK(reshape(x, {3, -1}).shape() == xgrad::Shape{3, 2});          // x.reshape(3, -1)
  CHECK(transpose(x).at({2, 1}) == 6);                                // x.t()
}
