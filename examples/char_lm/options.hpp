#pragma once
// The char_lm command line (CLI11): model shape, training schedule, data and checkpoints.
#include <cstdint>
#include <string>
#include <vector>

#include "xgrad/nn/transformer.hpp"

namespace char_lm {

/// Everything a training run is configured by; defaults give the Tiny LM of docs/benchmarks.md.
struct Options {
  int layers = 2;            ///< Transformer blocks
  int d_model = 128;         ///< embedding width
  int heads = 4;             ///< attention heads (must divide d_model)
  int context = 64;          ///< tokens per training window
  int batch = 32;            ///< windows per step
  long steps = 2000;         ///< optimizer steps in total (a resumed run continues up to this)
  double lr = 3e-4;          ///< peak learning rate
  long warmup = 100;         ///< linear warm-up steps before the peak
  double dropout = 0.0;      ///< dropout probability in the blocks
  bool recompute_mlp = false;  ///< keep only the MLP pre-activations for the backward (recompute_mlp_activation)
  bool gradient_checkpointing = false;  ///< keep only each block's input and run the block again in the backward
  unsigned long seed = 1234; ///< seeds initialisation and batch sampling
  int threads = 1;           ///< CPU threads (xgrad::set_num_threads)
  std::string device = "cpu";  ///< where the model trains: cpu, cuda, cuda:1 ... (xgrad::parse_device)
  std::string precision = "f32";  ///< products: "f32", or "bf16" (xgrad::PrecisionScope, mixed precision)
  std::string data;          ///< UTF-8 text, plain or .gz; empty: the shipped Jargon File
  std::string checkpoint_dir = "char_lm_run";  ///< checkpoints, metrics.csv and loss.svg go here
  bool resume = false;       ///< continue from the latest checkpoint in checkpoint_dir
  long eval_every = 100;     ///< steps between validation-loss evaluations
  long checkpoint_every = 500;  ///< steps between checkpoints
  long stop_after = 0;       ///< stop after this step as if interrupted (0: never); tests --resume
  bool progress = true;      ///< a progress bar when stderr is a terminal
};

/// Parses argv into Options. Returns 0 to train, -1 after printing --help (exit successfully), or a
/// positive exit code after CLI11 printed the error; inconsistent values (heads not dividing
/// d_model, a non-positive size) are errors too.
int parse_options(int argc, const char* const* argv, Options& opt);

/// The nn::TransformerLM that `opt` describes over a vocabulary of `vocab_size` characters (MLP width
/// 4 * d_model, dropout, seed, recompute_mlp_activation and gradient_checkpointing from the flags).
xgrad::nn::TransformerLMOptions model_options(const Options& opt, std::int64_t vocab_size);

}  // namespace char_lm
