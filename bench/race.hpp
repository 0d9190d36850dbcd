#pragma once
// The Tiny LM training race: one function per framework, each timing the same training step of the
// model defined in docs/benchmarks.md, and one printer comparing them.
#include <chrono>
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

/// Runs cfg.warmup_steps untimed then cfg.steps timed training steps, each `forward()` (zero_grad +
/// forward + loss; returns the loss), `backward(loss)`, `update()`, and fills r's medians, tokens/s,
/// CPU time, peak RSS and first/last loss (`value(loss)`). Every framework is timed by this one loop.
template <class Forward, class Backward, class Update, class Value>
void time_steps(const Config& cfg, Result& r, Forward forward, Backward backward, Update update, Value value) {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); };
  std::vector<double> step, fwd, bwd, opt;
  double cpu0 = 0;
  for (int i = 0; i < cfg.warmup_steps + cfg.steps; ++i) {
    if (i == cfg.warmup_steps) cpu0 = cpu_time_ms();
    const auto t0 = Clock::now();
    auto loss = forward();
    const double t_fwd = ms_since(t0);
    const auto t1 = Clock::now();
    backward(loss);
    const double t_bwd = ms_since(t1);
    const auto t2 = Clock::now();
    update();
    const double t_opt = ms_since(t2), t_step = ms_since(t0);
    const double l = value(loss);
    if (i == 0) r.first_loss = l;
    r.last_loss = l;
    if (i < cfg.warmup_steps) continue;
    step.push_back(t_step), fwd.push_back(t_fwd), bwd.push_back(t_bwd), opt.push_back(t_opt);
  }
  r.cpu_ms = (cpu_time_ms() - cpu0) / cfg.steps;
  r.step_ms = median(step), r.forward_ms = median(fwd), r.backward_ms = median(bwd), r.optimizer_ms = median(opt);
  r.tokens_per_s = double(cfg.batch) * cfg.context / (r.step_ms / 1000.0);
  r.peak_rss_mb = peak_rss_mb();
}

/// LibTorch 1.13's side of the race (bench/race_libtorch.cpp).
Result run_libtorch(const Config& cfg);

/// xgrad's side (bench/race_xgrad.cpp): the model of examples/char_lm.
Result run_xgrad(const Config& cfg);

/// Prints every result, then for each thread count the ratio of each framework to the first one.
void print(const std::vector<Result>& results);

}  // namespace race
