#pragma once
// The Transformer LM training race: one function per framework, each timing the same training step of the
// models defined in docs/benchmarks.md, a competing process for the "busy machine" rows, and one printer
// comparing them.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace race {

/// The raced model's sizes: a GPT-2-shaped LM (see docs/benchmarks.md), trained on a fixed random batch.
struct Model {
  std::string name;
  int vocab = 0, context = 0, d_model = 0, heads = 0, layers = 0, d_ff = 0, batch = 0;
  long parameters = 0;  ///< every side asserts its model has exactly this many
};

/// The Tiny LM: 2 layers of width 128, batch 32 x context 64, 421,697 parameters.
Model tiny_lm();
/// The larger model: 8 layers of width 512, 8 heads, batch 16 x context 256, vocabulary 256.
Model large_lm();
/// "tiny" or "large"; throws std::invalid_argument naming the valid names otherwise.
Model model_named(const std::string& name);

/// Floating-point operations of one training step, counted as the products do them: 2 per multiply-add of
/// every weight product (forward, and both backward products: 6 x weights x tokens) and of the attention
/// products Q·Kᵀ and P·V over the full T x T square (forward 2, backward 4), causal or not. Embedding
/// lookups, elementwise work and the optimizer are not counted.
double flops_per_step(const Model& m);
/// The FMA limit the "FMA %" column is taken against: the fp32 multiply-add FLOP/s one core of this machine
/// sustains, measured on the calling thread (the best of 40 runs of ~5 ms of independent FMA chains at the
/// build's widest vector width; bench/race_fma.cpp).
double measure_fma_limit_per_core();
/// The FLOP/s of one core's bfloat16 dot products (vdpbf16ps chains, 2 FLOP per product pair), measured like
/// measure_fma_limit_per_core(); 0 where the build does not target AVX512-BF16.
double measure_bf16_dot_limit_per_core();

/// One timed run: a model, a precision, a thread count, with or without the competing process.
struct Config {
  Model model = tiny_lm();
  std::string precision = "f32";  ///< arithmetic of the products: "f32", or "bf16", each side's own mixed precision
  /// xgrad only: TransformerLMOptions::recompute_mlp_activation (the GELU output not kept for the backward)
  bool recompute_mlp = false;
  /// xgrad only: TransformerLMOptions::gradient_checkpointing (each block run again in the backward)
  bool gradient_checkpointing = false;
  double lr = 3e-4;
  int warmup_steps = 3;  ///< untimed steps first (allocator and thread pools warm up)
  int steps = 20;        ///< timed steps; the median is reported
  int threads = 1;
  bool competitor = false;  ///< run while a Competitor holds one core
  double fma_limit_per_core = 0;  ///< FLOP/s the "FMA %" column divides by (measure_fma_limit_per_core())
};

/// Medians of one framework's timed steps in one configuration.
struct Result {
  std::string framework;
  int threads = 0;
  long parameters = 0;
  double step_ms = 0, forward_ms = 0, backward_ms = 0, optimizer_ms = 0;  ///< medians
  double cpu_ms = 0;        ///< process CPU time (all threads) per timed step, mean: less hurt by a busy machine than wall time
  double tokens_per_s = 0;  ///< batch * context / median step
  double peak_rss_mb = 0;   ///< getrusage(RUSAGE_SELF).ru_maxrss of the process that ran it
  double first_loss = 0, last_loss = 0;  ///< sanity: the loss must fall
  bool competitor = false;  ///< measured while the Competitor ran
  double load_average = 0;  ///< 1-minute load average when the run started
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
  r.tokens_per_s = double(cfg.model.batch) * cfg.model.context / (r.step_ms / 1000.0);
  r.peak_rss_mb = peak_rss_mb();
}

/// LibTorch 1.13's side of the race (bench/race_libtorch.cpp).
Result run_libtorch(const Config& cfg);

/// xgrad's side (bench/race_xgrad.cpp): nn::TransformerLM, the model of examples/char_lm.
Result run_xgrad(const Config& cfg);

/// A CPU-bound process of the race's own, pinned to one core: the "busy machine" of the competitor rows
/// (bench/race_competitor.cpp). It ends when this object goes (SIGKILL, then reaped), when the process that
/// started it dies, or after `seconds`, whichever comes first, so a failing bench never leaves it behind.
class Competitor {
 public:
  /// Forks the competing process onto `cpu`; throws std::runtime_error when fork() fails.
  Competitor(int cpu, int seconds);
  ~Competitor();
  Competitor(const Competitor&) = delete;
  Competitor& operator=(const Competitor&) = delete;

  /// What the competing process runs: pins the calling process to `cpu`, arranges to die with its parent
  /// and after `seconds`, then spins on arithmetic; never returns. Also the body of `bench_race_xgrad --burn`.
  [[noreturn]] static void spin(int cpu, int seconds);

 private:
  pid_t pid_ = -1;
};

/// The last CPU this process may run on: where the competitor goes unless told otherwise.
int last_allowed_cpu();

/// Prints every result with its share of the FMA limit, then the ratios: each framework against the first
/// one in the same configuration, and each framework's 2-thread (or larger) run against its 1-thread run,
/// quiet and with the competitor side by side.
void print(const Config& cfg, const std::vector<Result>& results);

/// One result as one line of JSON (bench/peers/run_race.py reads it).
void print_json(const Config& cfg, const Result& r);

}  // namespace race
