// char_lm command line: defaults, every flag, and rejected values.
#ifdef XGRAD_CHAR_LM_TESTS  // defined where examples/CMakeLists.txt links char_lm_support
#include <catch2/catch.hpp>
#include <vector>

#include "char_lm/options.hpp"
#include "xgrad/nn/transformer.hpp"

using namespace char_lm;

namespace {
int parse(std::vector<const char*> args, Options& o) {
  args.insert(args.begin(), "char_lm");
  return parse_options(int(args.size()), args.data(), o);
}
}  // namespace

TEST_CASE("parse_options: no flags give the Tiny LM defaults", "[lm]") {
  Options o;
  REQUIRE(parse({}, o) == 0);
  CHECK(o.layers == 2);
  CHECK(o.d_model == 128);
  CHECK(o.heads == 4);
  CHECK(o.context == 64);
  CHECK(o.batch == 32);
  CHECK(o.lr == 3e-4);
  CHECK(o.dropout == 0.0);
  CHECK(o.precision == "f32");
  CHECK(!o.recompute_mlp);
  CHECK(!o.gradient_checkpointing);
  CHECK(!o.resume);
}

TEST_CASE("parse_options: every flag reaches its field", "[lm]") {
  Options o;
  REQUIRE(parse({"--layers", "3", "--d-model", "96", "--heads", "6", "--context", "32", "--batch", "8", "--steps",
                 "10", "--lr", "1e-3", "--warmup", "5", "--dropout", "0.1", "--seed", "9", "--threads", "2",
                 "--precision", "bf16", "--checkpoint-dir", "/tmp/run", "--resume", "--eval-every", "7", "--checkpoint-every", "11",
                 "--no-progress", "--recompute-mlp", "--gradient-checkpointing"},
                o) == 0);
  CHECK(o.layers == 3);
  CHECK(o.d_model == 96);
  CHECK(o.heads == 6);
  CHECK(o.context == 32);
  CHECK(o.batch == 8);
  CHECK(o.steps == 10);
  CHECK(o.lr == 1e-3);
  CHECK(o.warmup == 5);
  CHECK(o.dropout == 0.1);
  CHECK(o.seed == 9);
  CHECK(o.threads == 2);
  CHECK(o.precision == "bf16");
  CHECK(o.checkpoint_dir == "/tmp/run");
  CHECK(o.resume);
  CHECK(o.eval_every == 7);
  CHECK(o.checkpoint_every == 11);
  CHECK(!o.progress);
  CHECK(o.recompute_mlp);
  CHECK(o.gradient_checkpointing);
}

TEST_CASE("parse_options: inconsistent or out-of-range values are errors", "[lm]") {
  Options o;
  CHECK(parse({"--heads", "5"}, o) > 0);  // 5 does not divide 128
  CHECK(parse({"--batch", "0"}, o) > 0);
  CHECK(parse({"--dropout", "1.5"}, o) > 0);
  CHECK(parse({"--data", "/nonexistent/file.txt"}, o) > 0);
  CHECK(parse({"--no-such-flag"}, o) > 0);
  CHECK(parse({"--precision", "f16"}, o) > 0);  // f32 and bf16 only
  // Numbers are the whole argument and fit the option: no partial parses, no wrap-around.
  CHECK(parse({"--steps", "abc"}, o) > 0);
  CHECK(parse({"--steps", "12x"}, o) > 0);
  CHECK(parse({"--layers", "99999999999"}, o) > 0);  // beyond int
  CHECK(parse({"--seed", "-1"}, o) > 0);  // refused, not 2^64 - 1
  CHECK(parse({"--lr", "nan"}, o) > 0);
  CHECK(parse({"--lr", "1e999"}, o) > 0);
  CHECK(parse({"--warmup", "-3"}, o) > 0);
  Options edge;
  REQUIRE(parse({"--seed", "18446744073709551615", "--warmup", "0", "--lr", "1e30"}, edge) == 0);
  CHECK(edge.seed == 18446744073709551615UL);
  CHECK(edge.warmup == 0);
  CHECK(edge.lr == 1e30);  // finite: the run itself stops when its loss is not
}
TEST_CASE("model_options: the model flags reach nn::TransformerLM, the defaults are the 421,697-parameter Tiny LM",
          "[lm]") {
  Options o;
  REQUIRE(parse({"--layers", "3", "--d-model", "96", "--heads", "6", "--context", "32", "--dropout", "0.1", "--seed",
                 "9", "--recompute-mlp", "--gradient-checkpointing"},
                o) == 0);
  const auto m = model_options(o, 70);
  CHECK(m.vocab_size == 70);
  CHECK(m.num_layers == 3);
  CHECK(m.d_model == 96);
  CHECK(m.num_heads == 6);
  CHECK(m.context_length == 32);
  CHECK(m.mlp_ratio == 4);
  CHECK(m.dropout == 0.1);
  CHECK(m.seed == 9);
  CHECK(m.recompute_mlp_activation);
  CHECK(m.gradient_checkpointing);
  // The defaults with the race's 65-character vocabulary are the model bench/race times against LibTorch
  // (its parameter count is derived by hand in tests/test_nn_transformer.cpp).
  Options d;
  REQUIRE(parse({}, d) == 0);
  CHECK(xgrad::nn::TransformerLM(model_options(d, 65)).num_parameters() == 421697);
}
#endif
