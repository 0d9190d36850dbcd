#pragma once
// The Tiny LM training race: one function per framework, each timing the same training step of the
// model defined in docs/benchmarks.md, and one printer comparing them.
#include <string>
#include <vector>

namespace race {

/// The Tiny LM and how long to time it.
struct Config {
  int vocab = 65, context = 64, d_model = 128, heads = 4, layers = 2, d_ff = 512, batch = 32;
  double lr = 3e-4;
  int warmup_steps = 3;  ///< untimed steps first (allocator and thread pools warm up)
  int steps = 20;        ///< timed steps; the median is reported
  int threads = 1;
};

/// Medians of one framework's timed steps at one thread count.
struct Result {
  std::string framework;
  int threads = 0;
  long parameters = 0;
  double step_ms = 0, forward_ms = 0, backward_ms = 0, optimizer_ms = 0;  ///< medians
  double cpu_ms = 0;        ///< process CPU time (all threads) per timed step, mean: less hurt by a busy machine than wall time
  double tokens_per_s = 0;  ///< batch * context / median step
  double peak_rss_mb = 0;   ///< getrusage(RUSAGE_SELF).ru_maxrss of the process that ran it
  double first_loss = 0, last_loss = 0;  ///< sanity: the loss must fall
};

/// Median of a non-empty sample.
double median(std::vector<double> v);
/// CPU time (user + system, all threads) this process has used so far, in ms.
double cpu_time_ms();
/// Peak resident set size of this process so far, in MB.
double peak_rss_mb();
/// Sets OpenBLAS's own thread count (the frameworks' thread settings do not reach it).
void set_blas_threads(int n);

/// LibTorch 1.13's side of the race (bench/race_libtorch.cpp).
Result run_libtorch(const Config& cfg);

/// xgrad's side (bench/race_xgrad.cpp): the model of examples/char_lm.
Result run_xgrad(const Config& cfg);

/// Prints every result, then for each thread count the ratio of each framework to the first one.
void print(const std::vector<Result>& results);

}  // namespace race
