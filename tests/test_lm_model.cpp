// char_lm model: the Tiny LM's size, output shape, causality and its errors.
#ifdef XGRAD_CHAR_LM_MODEL_TESTS  // defined where examples/CMakeLists.txt builds char_lm_model
#include <catch2/catch.hpp>
#include <cmath>

#include "char_lm/model.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/errors.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace char_lm;
using Catch::Matchers::Contains;

TEST_CASE("TinyLM: the default configuration has the 421,697 parameters of the LibTorch model", "[lm]") {
  // By hand: embeddings 65*128 + positions 64*128; per block 2 LayerNorms (2*256), q/k/v/out
  // (4 * (128*128 + 128)), fc1 (128*512 + 512), fc2 (512*128 + 128); final LayerNorm 256; head 128*65 + 65.
  const std::int64_t block = 2 * 256 + 4 * (128 * 128 + 128) + (128 * 512 + 512) + (512 * 128 + 128);
  TinyLM model(ModelConfig{});
  CHECK(model.num_parameters() == 65 * 128 + 64 * 128 + 2 * block + 256 + 128 * 65 + 65);
  CHECK(model.num_parameters() == 421697);
}

TEST_CASE("TinyLM: logits are (B, T, vocab), and position t never sees tokens after t", "[lm]") {
  TinyLM model({.vocab = 11, .context = 8, .d_model = 16, .heads = 2, .layers = 2, .d_ff = 32, .seed = 3});
  xgrad::NoGradGuard no_grad;
  std::vector<std::int64_t> a{1, 2, 3, 4, 5, 6, 7, 8}, b = a;
  b[5] = 0;  // change token 5 only
  const auto la = model.forward(xgrad::index_tensor(a, {1, 8})), lb = model.forward(xgrad::index_tensor(b, {1, 8}));
  REQUIRE(la.shape() == xgrad::Shape{1, 8, 11});
  const float *pa = la.data<float>(), *pb = lb.data<float>();
  for (int t = 0; t < 5; ++t)
    for (int v = 0; v < 11; ++v) CHECK(pa[t * 11 + v] == pb[t * 11 + v]);
  double moved = 0;
  for (int v = 0; v < 11; ++v) moved += std::abs(pa[5 * 11 + v] - pb[5 * 11 + v]);
  CHECK(moved > 0);
  // A shorter window uses the first T positions: its logits equal the full window's first T.
  const auto l3 = model.forward(xgrad::index_tensor({1, 2, 3}, {1, 3}));
  for (int i = 0; i < 3 * 11; ++i) CHECK(l3.data<float>()[i] == Approx(pa[i]).margin(1e-5));
}

TEST_CASE("TinyLM: bad ids and configurations are named", "[lm]") {
  TinyLM model({.vocab = 5, .context = 4, .d_model = 8, .heads = 2, .layers = 1, .d_ff = 16});
  CHECK_THROWS_AS(model.forward(xgrad::index_tensor({0, 1, 2, 3, 4}, {1, 5})), xgrad::ShapeError);
  CHECK_THROWS_WITH(model.forward(xgrad::index_tensor({0, 1, 2, 3, 4}, {1, 5})), Contains("(1, 5)") && Contains("context 4"));
  CHECK_THROWS_WITH(model.forward(xgrad::index_tensor({0, 1}, {2})), Contains("(2,)"));
  CHECK_THROWS_AS(TinyLM({.d_model = 10, .heads = 4}), xgrad::ValueError);
}
#endif
