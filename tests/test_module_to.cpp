// Module::to(Device) and to(DType) convert in place: handles held elsewhere stay valid, optimizers follow.
#include <catch2/catch.hpp>

#include "testing.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/nn/nn.hpp"
#include "xgrad/nn/transformer.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

TEST_CASE("Module::to(DType) converts every weight in place and the layer then takes that dtype", "[nn][to]") {
  nn::Dense dense(nn::DenseOptions{.units = 3, .input_dim = 2, .seed = 1});
  const Tensor kernel = dense.kernel();  // a handle held outside the module
  const std::vector<double> before = kernel.to_vector();
  dense.to(DType::float64);
  CHECK(dense.dtype() == DType::float64);
  CHECK(kernel.dtype() == DType::float64);  // the outside handle sees the conversion
  CHECK(kernel.to_vector() == before);      // float32 values are exact in float64
  CHECK_THROWS_AS(dense(ones({1, 2}, DType::float32)), TypeError);
  CHECK(dense(ones({1, 2}, DType::float64)).dtype() == DType::float64);
  CHECK_THROWS_WITH(dense.to(DType::int64), Contains("float32 or float64"));
}

TEST_CASE("Module::to(DType): a float32 model gradchecks in float64", "[nn][to][gradcheck]") {
  nn::TransformerBlock block({.d_model = 4, .num_heads = 2, .seed = 3});
  block.to(DType::float64);
  const Tensor x = test::randn64({1, 3, 4}, 4);
  const GradcheckReport r =
      gradcheck([&](const std::vector<Tensor>& in) { return block(in[0]); }, {x, block.mlp_out.kernel()});
  INFO(r.to_string());
  CHECK(r.passed);
}

TEST_CASE("Module::to(Device) moves weights and gradients, a lazily built layer builds on the new device",
          "[nn][to][plugins]") {
  const Device dev{DeviceType::testdev, 0};
  nn::Sequential model;
  model.emplace<nn::Dense>(nn::DenseOptions{.units = 4, .input_dim = 3, .seed = 5});
  model.emplace<nn::Dense>(nn::DenseOptions{.units = 2, .seed = 6});  // built on the first call
  const Tensor x = ones({2, 3});
  sum(model(x)).backward();
  const Tensor first_kernel = model.named_parameters()[0].second;
  const std::vector<double> values = first_kernel.to_vector(), grad = first_kernel.grad().to_vector();
  model.to(dev);
  CHECK(model.device() == dev);
  CHECK(first_kernel.device() == dev);
  CHECK(first_kernel.grad().device() == dev);
  CHECK(first_kernel.to_vector() == values);
  CHECK(first_kernel.grad().to_vector() == grad);
  nn::Dense lazy(nn::DenseOptions{.units = 2, .seed = 7});
  lazy.to(dev);
  CHECK(lazy(ones({1, 5}, DType::float32, dev)).device() == dev);
  CHECK(lazy.kernel().device() == dev);
  CHECK_THROWS_WITH(model.to(Device{DeviceType::testdev, 9}), Contains("testdev:9 does not exist"));
}

TEST_CASE("Optimizer state follows its parameters to another device and dtype", "[optim][to][plugins]") {
  nn::Dense dense(nn::DenseOptions{.units = 2, .input_dim = 2, .seed = 8});
  optim::Adam opt(dense.named_trainable_parameters(), {.lr = 0.1});
  dense.to(Device{DeviceType::testdev, 0}).to(DType::float64);
  sum(dense(ones({1, 2}, DType::float64, Device{DeviceType::testdev, 0}))).backward();
  opt.step();
  for (const auto& [name, t] : opt.state()) {
    if (name == "step") {
      CHECK(t.device() == Device{});  // counts stay on the host
      continue;
    }
    INFO(name);
    CHECK(t.device() == Device{DeviceType::testdev, 0});
    CHECK(t.dtype() == DType::float64);
  }
  // Adam's first step moves each weight by lr * g / (|g| + eps) after bias correction; the bias gradient of
  // a sum over one row is 1, so the zero bias becomes -0.1 / (1 + 1e-8).
  for (double b : dense.bias().to_vector()) CHECK(b == Approx(-0.1 / (1 + 1e-8)).epsilon(1e-12));
}
