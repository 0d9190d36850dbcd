#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>

#include "xgrad/io/checkpoint.hpp"
#include "xgrad/io/safetensors.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

namespace {

// A two-level module with a parameter, a buffer and a child, built by hand.
struct Inner : nn::Module {
  Tensor w = register_parameter("w", from_vector({1, 2, 3, 4, 5, 6}, {2, 3}));
  Inner() : nn::Module("Inner") {}
};
struct Outer : nn::Module {
  Inner inner;
  Tensor scale = register_parameter("scale", from_vector({0.5}, {}, DType::float64));
  Tensor steps = register_buffer("steps", index_tensor({7}, {1}));
  Outer() : nn::Module("Outer") { register_module("inner", inner); }
};

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / fmt::format("xgrad_ckpt_{}_{}", ::getpid(), name)).string();
}

}  // namespace

TEST_CASE("checkpoint: a saved module loads into a fresh one, handles stay valid", "[io]") {
  Outer a, b;
  a.inner.w.set({1, 2}, 60.0);
  a.steps.set({0}, 9);
  const std::string path = temp_path("roundtrip.safetensors");
  io::save(a, path);
  Tensor held = b.inner.w;  // e.g. an optimizer's handle
  io::load(b, path);
  CHECK(held.at({1, 2}) == 60.0);
  CHECK(b.scale.item() == 0.5);
  CHECK(b.steps.at({0}) == 9.0);
  auto names = load_safetensors(path);
  REQUIRE(names.size() == 3);
  CHECK(load_safetensors_metadata(path).at("module") == "Outer");
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: a mismatched file is rejected by key and leaves the module unchanged", "[io]") {
  Outer target;
  const std::string path = temp_path("bad.safetensors");
  auto expect_unchanged = [&] {
    CHECK(target.inner.w.at({0, 0}) == 1.0);
    CHECK(target.scale.item() == 0.5);
  };
  SECTION("wrong shape") {
    save_safetensors(path, {{"inner.w", zeros({3, 2})}, {"scale", zeros({}, DType::float64)},
                            {"steps", index_tensor({0}, {1})}});
    CHECK_THROWS_AS(io::load(target, path), ShapeError);
    CHECK_THROWS_WITH(io::load(target, path), Catch::Matchers::Contains("'inner.w'") && Catch::Matchers::Contains("(3, 2)") &&
                             Catch::Matchers::Contains("(2, 3)"));
  }
  SECTION("wrong dtype") {
    save_safetensors(path, {{"scale", zeros({}, DType::float32)}, {"inner.w", zeros({2, 3})},
                            {"steps", index_tensor({0}, {1})}});
    CHECK_THROWS_AS(io::load(target, path), TypeError);
    CHECK_THROWS_WITH(io::load(target, path), Catch::Matchers::Contains("'scale'") && Catch::Matchers::Contains("float32"));
  }
  SECTION("missing key") {
    save_safetensors(path, {{"inner.w", zeros({2, 3})}, {"steps", index_tensor({0}, {1})}});
    CHECK_THROWS_AS(io::load(target, path), ValueError);
    CHECK_THROWS_WITH(io::load(target, path), Catch::Matchers::Contains("'scale'"));
  }
  SECTION("unexpected key only when strict") {
    save_safetensors(path, {{"inner.w", zeros({2, 3})}, {"scale", zeros({}, DType::float64)},
                            {"steps", index_tensor({0}, {1})}, {"extra", zeros({1})}});
    CHECK_THROWS_AS(io::load(target, path), ValueError);
    CHECK_THROWS_WITH(io::load(target, path), Catch::Matchers::Contains("'extra'"));
    expect_unchanged();
    io::load(target, path, /*strict=*/false);
    CHECK(target.inner.w.at({0, 0}) == 0.0);
    std::remove(path.c_str());
    return;
  }
  SECTION("truncated file") {
    io::save(target, path);
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
    CHECK_THROWS_AS(io::load(target, path), IOError);
  }
  expect_unchanged();
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: a resumed Adam continues exactly like the uninterrupted one", "[io]") {
  // Two identical parameters; one optimizer runs 4 steps, the other 2 steps, a save/load, then 2 more.
  auto make_param = [] { return from_vector({0.5, -1.0, 2.0}, {3}, DType::float64).set_requires_grad(); };
  auto set_grad = [](Tensor& p, int step) {
    p.set_grad(from_vector({0.1 * step, -0.2, 0.3 / step}, {3}, DType::float64));
  };
  Tensor straight = make_param(), resumed = make_param();
  optim::Adam a({{"w", straight}}, {.lr = 0.1});
  {
    optim::Adam b({{"w", resumed}}, {.lr = 0.1});
    for (int step = 1; step <= 2; ++step) {
      set_grad(resumed, step);
      b.step();
    }
    io::save(b, temp_path("adam.safetensors"));
  }
  optim::Adam c({{"w", resumed}}, {.lr = 0.1});
  io::load(c, temp_path("adam.safetensors"));
  for (int step = 1; step <= 4; ++step) {
    set_grad(straight, step);
    a.step();
  }
  for (int step = 3; step <= 4; ++step) {
    set_grad(resumed, step);
    c.step();
  }
  CHECK(resumed.to_vector() == straight.to_vector());
  optim::SGD sgd({{"w", resumed}}, {.lr = 0.1, .momentum = 0.9});
  CHECK_THROWS_AS(io::load(sgd, temp_path("adam.safetensors")), ValueError);
  std::remove(temp_path("adam.safetensors").c_str());
}
