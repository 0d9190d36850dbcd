// Parity with torch.optim: a 4 -> 8 tanh -> 3 MLP trained 5 steps on cross-entropy from the initial
// weights in each fixture (tools/make_optim_fixtures.py); every step's loss and every final weight
// must match PyTorch's run.
#include <catch2/catch.hpp>

#include <memory>

#include "fixtures.hpp"
#include "test_optim_helpers.hpp"
#include "xgrad/nn/losses.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/optim/optim.hpp"

using namespace xgrad;

namespace {

const char* const kNames[] = {"w1", "b1", "w2", "b2"};

/// The optimizer the fixture names, configured from the options it recorded.
std::unique_ptr<optim::Optimizer> make_optimizer(const nlohmann::json& j, std::vector<optim::NamedTensor> params) {
  const std::string kind = j.at("optimizer");
  const nlohmann::json& o = j.at("options");
  if (kind == "SGD")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = o.at("lr"),
                                                                  .momentum = o.value("momentum", 0.0),
                                                                  .dampening = o.value("dampening", 0.0),
                                                                  .weight_decay = o.value("weight_decay", 0.0),
                                                                  .nesterov = o.value("nesterov", false)});
  if (kind == "Adam" || kind == "AdamW") {
    const optim::AdamOptions a{.lr = o.at("lr"),
                               .beta1 = o.at("betas")[0],
                               .beta2 = o.at("betas")[1],
                               .eps = o.at("eps"),
                               .weight_decay = o.at("weight_decay"),
                               .amsgrad = o.value("amsgrad", false)};
    if (kind == "Adam") return std::make_unique<optim::Adam>(params, a);
    return std::make_unique<optim::AdamW>(
        params, optim::AdamWOptions{a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.amsgrad});
  }
  if (kind == "RMSprop")
    return std::make_unique<optim::RMSprop>(params, optim::RMSpropOptions{.lr = o.at("lr"),
                                                                          .alpha = o.at("alpha"),
                                                                          .eps = o.at("eps"),
                                                                          .weight_decay = o.at("weight_decay"),
                                                                          .momentum = o.at("momentum"),
                                                                          .centered = o.at("centered")});
  throw std::runtime_error("unknown optimizer in fixture: " + kind);
}

void check_against_torch(const std::string& fixture) {
  INFO(fixture);
  const nlohmann::json j = test::load_fixture(fixture);
  const DType dtype = j.at("dtype") == "float32" ? DType::float32 : DType::float64;
  const double tol = dtype == DType::float32 ? 1e-5 : 1e-10;
  const Tensor x = test::fixture_tensor(j.at("x"), dtype);
  const Tensor y = test::fixture_tensor(j.at("y"), DType::int64);
  std::vector<optim::NamedTensor> params;
  for (const char* name : kNames)
    params.emplace_back(name, test::fixture_tensor(j.at("initial").at(name), dtype).set_requires_grad());
  const Tensor &w1 = params[0].second, &b1 = params[1].second, &w2 = params[2].second, &b2 = params[3].second;
  auto opt = make_optimizer(j, params);
  const auto losses = j.at("losses").get<std::vector<double>>();
  for (std::size_t step = 0; step < losses.size(); ++step) {
    INFO("step " << step);
    opt->zero_grad();
    const Tensor logits = matmul(tanh(matmul(x, w1) + b1), w2) + b2;
    const Tensor loss = nn::cross_entropy(logits, y);
    CHECK(loss.item() == Approx(losses[step]).margin(tol).epsilon(tol));
    loss.backward();
    opt->step();
  }
  for (const auto& [name, p] : params) {
    INFO("final " << name);
    const Tensor want = test::fixture_tensor(j.at("final").at(name), dtype);
    REQUIRE(p.shape() == want.shape());
    test::check_values(p, want.to_vector(), tol);
  }
}

}  // namespace

TEST_CASE("Optimizer parity: 5 MLP steps match torch.optim in float64 and float32", "[optim]") {
  for (const char* name : {"sgd_momentum", "sgd_nesterov", "adamw", "adam_amsgrad", "rmsprop"}) {
    for (const char* dtype : {"float64", "float32"}) {
      SECTION(std::string(name) + " " + dtype) {
        check_against_torch(std::string("optim_") + name + "_" + dtype + ".json");
      }
    }
  }
}
