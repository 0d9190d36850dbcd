// Misuse of DistributedDataParallel is a clear error on every rank, never a hang or a silent divergence.
#include <catch2/catch.hpp>

#include "nn_helpers.hpp"
#include "world.hpp"
#include "xgrad/dist/ddp.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using namespace xgrad::dist;
using xgrad::dist::test::world;
using xgrad::test::message_of;

namespace {

// A two-layer MLP 3 -> units -> 2 (float64 unless told), built up front.
struct Mlp {
  nn::Sequential model;
  Mlp(std::int64_t units, bool bias = true, DType dtype = DType::float64) {
    model.emplace<nn::Dense>(nn::DenseOptions{.units = units, .use_bias = bias, .input_dim = 3, .dtype = dtype});
    model.emplace<nn::Dense>(nn::DenseOptions{.units = 2, .input_dim = units, .dtype = dtype});
  }
};

bool last_rank() { return world().rank() == world().size() - 1; }

std::string wrap_error(nn::Module& model) {
  return message_of<ValueError>([&] { DistributedDataParallel ddp(model, world()); });
}

}  // namespace

TEST_CASE("DDP: a parameter of another shape on one rank is named on every rank", "[errors]") {
  Mlp mlp(last_rank() ? 5 : 4);
  const std::string expected = fmt::format(
      "DistributedDataParallel: the model differs between ranks: '0.kernel' is parameter float64 (3, 5) on rank {} "
      "but parameter float64 (3, 4) on rank 0; every rank must build the same model", world().size() - 1);
  CHECK(wrap_error(mlp.model) == expected);
}

TEST_CASE("DDP: a parameter missing on one rank is named on every rank", "[errors]") {
  Mlp mlp(4, /*bias=*/!last_rank());
  CHECK_THAT(wrap_error(mlp.model),
             Catch::Contains(fmt::format("rank {} lacks parameter '0.bias' (float64 (4,)) that rank 0 has",
                                         world().size() - 1)));
}

TEST_CASE("DDP: another dtype on one rank is named on every rank", "[errors]") {
  Mlp mlp(4, true, last_rank() ? DType::float32 : DType::float64);
  CHECK_THAT(wrap_error(mlp.model), Catch::Contains("'0.kernel' is parameter float32 (3, 4) on rank"));
}

TEST_CASE("DDP: a model whose layers are not built yet is refused on every rank", "[errors]") {
  nn::Sequential model;
  model.emplace<nn::Dense>(4);  // builds its weights on the first call
  model.emplace<nn::Dense>(2);
  CHECK_THAT(wrap_error(model), Catch::StartsWith("DistributedDataParallel: cannot wrap the model: "
                                                  "named_trainable_parameters: 2 modules are not built") &&
                                    Catch::Contains("Dense '0' is not built") && Catch::Contains("Dense '1' is not built"));
}

TEST_CASE("DDP: a frozen model is refused on every rank", "[errors]") {
  Mlp mlp(4);
  for (auto& [name, p] : mlp.model.named_parameters()) p.set_requires_grad(false);
  CHECK_THAT(wrap_error(mlp.model), Catch::Contains("DistributedDataParallel: the model has no trainable parameters "
                                                    "(every parameter is frozen)"));
}

TEST_CASE("DDP: a layer added after wrapping stops synchronize() on every rank", "[errors]") {
  Mlp mlp(4);
  DistributedDataParallel ddp(mlp.model, world());
  mlp.model.emplace<nn::Dense>(nn::DenseOptions{.units = 2, .input_dim = 2, .dtype = DType::float64});
  sum(mlp.model(ones({5, 3}, DType::float64))).backward();
  CHECK_THAT(message_of<ValueError>([&] { ddp.synchronize(); }),
             Catch::Contains("the model's trainable parameters changed: '2.kernel' (float64 (2, 2)) appeared after "
                             "it was wrapped"));
}

TEST_CASE("DDP: a share outside (0, 1] is a ValueError", "[errors]") {
  Mlp mlp(4);
  DistributedDataParallel ddp(mlp.model, world());
  CHECK_THAT(message_of<ValueError>([&] { ddp.set_share(0.0); }), Catch::Contains("must be in (0, 1], got 0"));
  CHECK_THROWS_AS(ddp.set_share(1.5), ValueError);
}

TEST_CASE("on_rank0_then_barrier: runs on rank 0 only, its failure is an IOError on every rank", "[errors]") {
  int calls = 0;
  on_rank0_then_barrier(world(), [&] { ++calls; });
  CHECK(calls == (world().rank() == 0 ? 1 : 0));
  CHECK(world().allreduce_sum(double(calls)) == 1.0);
  const std::string message = message_of<IOError>([&] {
    on_rank0_then_barrier(world(), [] { throw IOError("cannot write ckpt/model.safetensors: disk full"); });
  });
  CHECK(message == "rank 0 failed to write: cannot write ckpt/model.safetensors: disk full");
}
