// The fused nn ops against PyTorch (fixtures written by tools/make_nn_fixtures.py) and against finite
// differences (gradcheck, float64). Edge cases and bad inputs are in test_ops_nn_edges.cpp.
#include <catch2/catch.hpp>

#include <cmath>

#include "fixtures.hpp"
#include "testing.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/nn.hpp"

using namespace xgrad;
using test::fixture_tensor;
using test::check_close;
using test::check_gradcheck;
using test::load_fixture;
using test::randn64;

namespace {

using Inputs = std::vector<Tensor>;

// Both dtypes: float64 must match torch to rounding, float32 to single precision.
struct Precision {
  DType dtype;
  double tol;
};
const Precision kPrecisions[] = {{DType::float64, 1e-12}, {DType::float32, 2e-5}};

Tensor input(const nlohmann::json& j, DType dtype) { return fixture_tensor(j, dtype).set_requires_grad(); }

}  // namespace

TEST_CASE("softmax and log_softmax: values and input gradients match torch on two axes each", "[nn]") {
  const auto fx = load_fixture("nn_softmax.json");
  struct Case {
    const char* key;
    bool log;
    std::int64_t axis;
  };
  for (const Case c : {Case{"softmax_-1", false, -1}, Case{"softmax_1", false, 1}, Case{"log_softmax_-1", true, -1},
                       Case{"log_softmax_0", true, 0}}) {
    for (const Precision p : kPrecisions) {
      INFO(c.key << " " << dtype_name(p.dtype));
      Tensor x = input(fx["x"], p.dtype);
      Tensor y = c.log ? log_softmax(x, c.axis) : softmax(x, c.axis);
      check_close(y, fixture_tensor(fx[c.key]["y"]), p.tol);
      y.backward(fixture_tensor(fx[c.key]["dy"], p.dtype));
      check_close(x.grad(), fixture_tensor(fx[c.key]["dx"]), p.tol);
    }
  }
}

TEST_CASE("layer_norm: values and gradients match torch with and without weight and bias", "[nn]") {
  const auto fx = load_fixture("nn_layer_norm.json");
  for (const Precision p : kPrecisions) {
    INFO(dtype_name(p.dtype));
    Tensor x = input(fx["x"], p.dtype), w = input(fx["weight"], p.dtype), b = input(fx["bias"], p.dtype);
    Tensor y = layer_norm(x, w, b, 1e-5);
    check_close(y, fixture_tensor(fx["affine"]["y"]), p.tol);
    y.backward(fixture_tensor(fx["affine"]["dy"], p.dtype));
    check_close(x.grad(), fixture_tensor(fx["affine"]["dx"]), p.tol);
    check_close(w.grad(), fixture_tensor(fx["affine"]["dweight"]), p.tol);
    check_close(b.grad(), fixture_tensor(fx["affine"]["dbias"]), p.tol);

    Tensor x2 = input(fx["x"], p.dtype);
    Tensor y2 = layer_norm(x2, Tensor(), Tensor(), 1e-3);
    check_close(y2, fixture_tensor(fx["plain"]["y"]), p.tol);
    y2.backward(fixture_tensor(fx["plain"]["dy"], p.dtype));
    check_close(x2.grad(), fixture_tensor(fx["plain"]["dx"]), p.tol);
  }
}

TEST_CASE("layer_norm: only the inputs that require grad receive one", "[nn]") {
  const auto fx = load_fixture("nn_layer_norm.json");
  Tensor x = fixture_tensor(fx["x"]);  // a constant input
  Tensor w = input(fx["weight"], DType::float64), b = fixture_tensor(fx["bias"]);
  layer_norm(x, w, b, 1e-5).backward(fixture_tensor(fx["affine"]["dy"]));
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(b.grad().defined());
  check_close(w.grad(), fixture_tensor(fx["affine"]["dweight"]), 1e-12);
}

TEST_CASE("cross_entropy: loss and logit gradients match torch with ignore_index and label smoothing", "[nn]") {
  const auto fx = load_fixture("nn_cross_entropy.json");
  const Tensor targets = fixture_tensor(fx["targets"], DType::int64);
  for (const char* key : {"mean", "mean_smooth", "sum_smooth"}) {
    for (const Precision p : kPrecisions) {
      INFO(key << " " << dtype_name(p.dtype));
      const auto& c = fx[key];
      Tensor logits = input(fx["logits"], p.dtype);
      CrossEntropyOptions opt;
      opt.label_smoothing = c["label_smoothing"].get<double>();
      opt.mean = std::string(key) != "sum_smooth";
      Tensor loss = cross_entropy(logits, targets, opt);
      check_close(loss, fixture_tensor(c["loss"]), p.tol);
      loss.backward(fixture_tensor(c["dy"], p.dtype));
      check_close(logits.grad(), fixture_tensor(c["dx"]), p.tol);
    }
  }
}

TEST_CASE("embedding: rows and weight gradient match torch, repeated ids accumulate", "[nn]") {
  const auto fx = load_fixture("nn_embedding.json");
  for (const Precision p : kPrecisions) {
    INFO(dtype_name(p.dtype));
    Tensor w = input(fx["weight"], p.dtype);
    Tensor y = embedding(fixture_tensor(fx["ids"], DType::int64), w);
    CHECK(y.shape() == Shape{2, 3, 3});
    check_close(y, fixture_tensor(fx["y"]), p.tol);
    y.backward(fixture_tensor(fx["dy"], p.dtype));
    check_close(w.grad(), fixture_tensor(fx["dweight"]), p.tol);
  }
}

TEST_CASE("mse: loss and gradients for both sides match torch", "[nn]") {
  const auto fx = load_fixture("nn_mse.json");
  for (const Precision p : kPrecisions) {
    INFO(dtype_name(p.dtype));
    Tensor a = input(fx["a"], p.dtype), b = input(fx["b"], p.dtype);
    Tensor loss = mse(a, b);
    CHECK(loss.shape() == Shape{});
    check_close(loss, fixture_tensor(fx["loss"]), p.tol);
    loss.backward(fixture_tensor(fx["dy"], p.dtype));
    check_close(a.grad(), fixture_tensor(fx["da"]), p.tol);
    check_close(b.grad(), fixture_tensor(fx["db"]), p.tol);
  }
}

TEST_CASE("softmax and log_softmax: gradcheck on the last axis and on middle axes", "[nn]") {
  // 37 columns: two full AVX-512 float64 batches of 8 plus a scalar tail.
  const Tensor x = randn64({3, 37}, 1, 2.0), x3 = randn64({2, 5, 3}, 2, 2.0);
  check_gradcheck([](const Inputs& in) { return softmax(in[0], -1); }, {x});
  check_gradcheck([](const Inputs& in) { return log_softmax(in[0], -1); }, {x});
  check_gradcheck([](const Inputs& in) { return softmax(in[0], 1); }, {x3});
  check_gradcheck([](const Inputs& in) { return log_softmax(in[0], 0); }, {x3});
}

TEST_CASE("layer_norm: gradcheck with weight and bias, weight only, and neither", "[nn]") {
  const Tensor x = randn64({4, 19}, 3, 1.5), w = randn64({19}, 4), b = randn64({19}, 5);
  check_gradcheck([](const Inputs& in) { return layer_norm(in[0], in[1], in[2]); }, {x, w, b});
  check_gradcheck([](const Inputs& in) { return layer_norm(in[0], in[1], Tensor()); }, {x, w});
  check_gradcheck([](const Inputs& in) { return layer_norm(in[0], Tensor(), Tensor(), 1e-3); }, {x});
}

TEST_CASE("embedding, cross_entropy and mse: gradcheck", "[nn]") {
  const Tensor ids = index_tensor({2, 0, 2, 3, 2, 1}, {2, 3});
  check_gradcheck([&](const Inputs& in) { return embedding(ids, in[0]); }, {randn64({4, 5}, 6)});

  const Tensor logits = randn64({3, 2, 6}, 7, 2.0);
  const Tensor targets = index_tensor({5, -1, 0, 3, 3, 1}, {3, 2});
  for (const bool mean : {true, false}) {
    INFO("mean " << mean);
    const CrossEntropyOptions opt{-1, 0.3, mean};
    check_gradcheck([&](const Inputs& in) { return cross_entropy(in[0], targets, opt); }, {logits});
  }
  check_gradcheck([](const Inputs& in) { return mse(in[0], in[1]); }, {randn64({3, 5}, 8), randn64({3, 5}, 9)});
}

TEST_CASE("dropout: gradcheck with a generator reseeded on every call", "[nn]") {
  Generator gen;
  check_gradcheck(
      [&](const Inputs& in) {
        gen.seed(42);
        return dropout(in[0], 0.4, gen);
      },
      {randn64({4, 9}, 10)});
}
