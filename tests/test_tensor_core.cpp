#include <catch2/catch.hpp>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/tensor/creation.hpp"
#include "xgrad/tensor/format.hpp"

using namespace xgrad;

TEST_CASE("Tensor: zeros has the requested shape and dtype", "[tensor]") {
  Tensor t = zeros({2, 3}, DType::float64);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.numel() == 6);
  CHECK(t.dtype() == DType::float64);
  CHECK(t.at({1, 2}) == 0.0);
}

TEST_CASE("Tensor: a recorded op's gradient reaches the leaf", "[autograd]") {
  Tensor x = from_vector({1, 2, 3}, {3}, DType::float64).set_requires_grad();
  // y = 3x, recorded by hand through the public record() API.
  Tensor y = Tensor::empty({3}, DType::float64);
  for (int i = 0; i < 3; ++i) y.host_data<double>()[i] = 3 * x.host_data<double>()[i];
  record("times3", {&x}, y, [](BackwardContext& ctx) {
    Tensor g = ctx.grad_output().clone();
    for (int i = 0; i < 3; ++i) g.host_data<double>()[i] *= 3;
    ctx.accumulate(0, g);
  });
  y.backward(ones({3}, DType::float64));
  CHECK(x.grad().to_vector() == std::vector<double>{3, 3, 3});
  CHECK(to_string(x) == "[1. 2. 3.], dtype=float64, requires_grad=True");
}
