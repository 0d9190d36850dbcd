#include "options.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "xgrad/backend/backend.hpp"

namespace char_lm {

namespace {

// CLI11's number checks print their full double range on a typo; these say what the flag takes. The whole
// text must be the number, and it must fit the option's type T (the seed's unsigned type refuses "-1").
template <class T>
CLI::Validator integer(T lowest, const std::string& what) {
  return CLI::Validator(
      [lowest, what](std::string& text) -> std::string {
        T value{};
        const char* end = text.data() + text.size();
        const auto [stop, ec] = std::from_chars(text.data(), end, value);
        if (ec == std::errc::result_out_of_range) return "'" + text + "' is too large";
        if (ec != std::errc{} || stop != end || value < lowest) return "expected " + what + ", got '" + text + "'";
        return {};
      },
      lowest > 0 ? "INT>0" : "INT>=0");
}

const CLI::Validator positive_real(
    [](std::string& text) -> std::string {
      char* stop = nullptr;
      const double value = std::strtod(text.c_str(), &stop);
      if (stop == text.c_str() || *stop != '\0' || !(value > 0) || !std::isfinite(value))
        return "expected a positive finite number, got '" + text + "'";
      return {};
    },
    "NUM>0");

}  // namespace

int parse_options(int argc, const char* const* argv, Options& o) {
  CLI::App app{"Train a character-level Transformer language model with xgrad"};
  const auto positive = integer(1, "a positive integer");
  const auto positive_long = integer(1L, "a positive integer");
  const auto count = integer(0L, "a non-negative integer");
  app.add_option("--layers", o.layers, "Transformer blocks")->check(positive)->capture_default_str();
  app.add_option("--d-model", o.d_model, "embedding width")->check(positive)->capture_default_str();
  app.add_option("--heads", o.heads, "attention heads (must divide --d-model)")->check(positive)->capture_default_str();
  app.add_option("--context", o.context, "tokens per training window")->check(positive)->capture_default_str();
  app.add_option("--batch", o.batch, "windows per step")->check(positive)->capture_default_str();
  app.add_option("--steps", o.steps, "optimizer steps in total")->check(positive_long)->capture_default_str();
  app.add_option("--lr", o.lr, "peak learning rate")->check(positive_real)->capture_default_str();
  app.add_option("--warmup", o.warmup, "linear warm-up steps")->check(count)->capture_default_str();
  app.add_option("--dropout", o.dropout, "dropout probability")->check(CLI::Range(0.0, 0.99))->capture_default_str();
  app.add_flag("--recompute-mlp", o.recompute_mlp,
               "keep only each MLP's pre-activation for the backward and compute its GELU again there: less memory "
               "for large models, the same results, a little slower at the default sizes");
  app.add_flag("--gradient-checkpointing", o.gradient_checkpointing,
               "keep only each block's input for the backward and run the block again there: far less memory for "
               "large models, the same results, about 15 % more time per step at the default sizes");
  app.add_option("--seed", o.seed, "seed of initialisation and batch sampling (0 to 2^64 - 1)")
      ->check(integer(0UL, "an integer from 0 to 2^64 - 1"))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (xgrad::set_num_threads)")->check(positive)->capture_default_str();
  app.add_option("--device", o.device, "where the model trains: cpu, cuda or cuda:N (a GPU needs the CUDA plugin)")
      ->check([](const std::string& text) -> std::string {
        try {
          (void)xgrad::parse_device(text);
          return {};
        } catch (const std::exception& e) {
          return e.what();
        }
      })
      ->capture_default_str();
  app.add_option("--precision", o.precision,
                 "f32, or bf16: matrix products with bfloat16 operands and float32 accumulation; weights, "
                 "optimizer state, softmax, layer norm and the loss stay float32")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
  app.add_option("--data", o.data, "UTF-8 text file, plain or gzip (default: the shipped Jargon File)")
      ->check(CLI::ExistingFile);
  app.add_option("--checkpoint-dir", o.checkpoint_dir, "where checkpoints, metrics.csv and loss.svg go")
      ->capture_default_str();
  app.add_flag("--resume", o.resume, "continue from the latest checkpoint in --checkpoint-dir");
  app.add_option("--eval-every", o.eval_every, "steps between validation evaluations")->check(positive_long)->capture_default_str();
  app.add_option("--checkpoint-every", o.checkpoint_every, "steps between checkpoints")->check(positive_long)->capture_default_str();
  app.add_flag("!--no-progress", o.progress, "plain log lines even on a terminal");
  app.add_option("--stop-after", o.stop_after, "stop after this step as if interrupted (to test --resume)")
      ->check(count);
  try {
    app.parse(argc, argv);
    if (o.d_model % o.heads != 0)
      throw CLI::ValidationError("--heads", "--heads " + std::to_string(o.heads) + " does not divide --d-model " +
                                                std::to_string(o.d_model));
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? -1 : rc;  // -1: help was printed, the caller exits successfully without training
  }
  return 0;
}

xgrad::nn::TransformerLMOptions model_options(const Options& o, std::int64_t vocab_size) {
  return {.vocab_size = vocab_size, .context_length = o.context, .d_model = o.d_model, .num_heads = o.heads,
          .num_layers = o.layers, .mlp_ratio = 4, .dropout = o.dropout, .seed = o.seed,
          .recompute_mlp_activation = o.recompute_mlp, .gradient_checkpointing = o.gradient_checkpointing};
}

}  // namespace char_lm
