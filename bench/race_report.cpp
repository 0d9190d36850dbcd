// The race's models, its FLOP count and its reports: the tables a person reads and the JSON lines
// bench/peers/run_race.py reads.
#include <fmt/core.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "race.hpp"

namespace race {

Model tiny_lm() { return {"tiny", 65, 64, 128, 4, 2, 512, 32, 421697}; }

Model large_lm() { return {"large", 256, 256, 512, 8, 8, 2048, 16, 25613568}; }

Model model_named(const std::string& name) {
  if (name == "tiny") return tiny_lm();
  if (name == "large") return large_lm();
  throw std::invalid_argument("race: unknown model '" + name + "' (valid: tiny, large)");
}

double flops_per_step(const Model& m) {
  const double tokens = double(m.batch) * m.context;
  const double block_weights = 4.0 * m.d_model * m.d_model + 2.0 * m.d_model * m.d_ff;  // Q, K, V, O; MLP in, out
  const double weights = m.layers * block_weights + double(m.d_model) * m.vocab;        // + the head
  const double attention = 2.0 * 2.0 * m.batch * double(m.context) * m.context * m.d_model;  // Q·Kᵀ, P·V: all heads
  return 3.0 * (2.0 * tokens * weights + m.layers * attention);  // backward: twice the forward's products
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

double cpu_time_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval& t) { return double(t.tv_sec) * 1e3 + double(t.tv_usec) / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // Linux reports KiB
}

namespace {

// Share of the FMA limit of the threads the run used.
double fma_share(const Config& cfg, const Result& r) {
  return flops_per_step(cfg.model) / (r.step_ms / 1e3) / (cfg.fma_limit_per_core * r.threads);
}

const char* condition(bool competitor) { return competitor ? "competitor" : "quiet"; }

}  // namespace

void print(const Config& cfg, const std::vector<Result>& results) {
  const Model& m = cfg.model;
  fmt::print("model {} ({} parameters, batch {} x context {}), {}{}{}, {:.2f} GFLOP per step; FMA limit {:.1f} GFLOP/s "
             "per core\n",
             m.name, m.parameters, m.batch, m.context, cfg.precision,
             cfg.recompute_mlp ? ", xgrad recomputes the MLP activation" : "",
             cfg.gradient_checkpointing ? ", xgrad checkpoints every block" : "", flops_per_step(m) / 1e9,
             cfg.fma_limit_per_core / 1e9);
  fmt::print("{:<14} {:>3} {:<10} {:>9} {:>8} {:>8} {:>8} {:>9} {:>9} {:>6} {:>7} {:>5} {:>13}\n", "framework", "thr",
             "condition", "step ms", "fwd ms", "bwd ms", "optim ms", "cpu ms", "tok/s", "FMA %", "RSS MB", "load", "loss first>last");
  for (const auto& r : results)
    fmt::print("{:<14} {:>3} {:<10} {:>9.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>9.1f} {:>9.0f} {:>6.1f} {:>7.0f} {:>5.1f} {:>6.3f}>{:.3f}\n",
               r.framework, r.threads, condition(r.competitor), r.step_ms, r.forward_ms, r.backward_ms, r.optimizer_ms,
               r.cpu_ms, r.tokens_per_s, 100 * fma_share(cfg, r), r.peak_rss_mb, r.load_average, r.first_loss, r.last_loss);
  // Against the first framework measured in the same configuration (> 1: faster than it).
  for (const auto& r : results) {
    auto base = std::find_if(results.begin(), results.end(),
                             [&](const Result& b) { return b.threads == r.threads && b.competitor == r.competitor; });
    if (&*base == &r) continue;
    fmt::print("{} / {} at {} thread(s), {}: tokens/s {:.2f}x (step {:.2f}x, fwd {:.2f}x, bwd {:.2f}x, optim {:.2f}x, "
               "cpu {:.2f}x, RSS {:.2f}x)\n",
               r.framework, base->framework, r.threads, condition(r.competitor), r.tokens_per_s / base->tokens_per_s,
               r.step_ms / base->step_ms, r.forward_ms / base->forward_ms, r.backward_ms / base->backward_ms,
               r.optimizer_ms / base->optimizer_ms, r.cpu_ms / base->cpu_ms, r.peak_rss_mb / base->peak_rss_mb);
  }
  // Each framework's larger thread counts against its own 1-thread run, quiet and with the competitor.
  for (const auto& r : results) {
    if (r.threads == 1) continue;
    auto one = std::find_if(results.begin(), results.end(), [&](const Result& b) {
      return b.framework == r.framework && b.threads == 1 && b.competitor == r.competitor;
    });
    if (one == results.end()) continue;
    fmt::print("{} {} threads / 1 thread, {}: tokens/s {:.2f}x, cpu per step {:.2f}x{}\n", r.framework, r.threads,
               condition(r.competitor), r.tokens_per_s / one->tokens_per_s, r.cpu_ms / one->cpu_ms,
               r.tokens_per_s < one->tokens_per_s ? "  <- SLOWER than 1 thread" : "");
  }
}

void print_json(const Config& cfg, const Result& r) {
  fmt::print(
      "{{\"framework\": \"{}\", \"model\": \"{}\", \"precision\": \"{}\", \"threads\": {}, \"competitor\": {}, "
      "\"parameters\": {}, \"step_ms\": {:.4f}, \"forward_ms\": {:.4f}, \"backward_ms\": {:.4f}, "
      "\"optimizer_ms\": {:.4f}, \"cpu_ms\": {:.4f}, \"tokens_per_s\": {:.2f}, \"peak_rss_mb\": {:.2f}, "
      "\"first_loss\": {:.6f}, \"last_loss\": {:.6f}, \"flops_per_step\": {:.6e}, \"fma_limit_per_core\": {:.6e}}}\n",
      r.framework, cfg.model.name, cfg.precision, r.threads, r.competitor ? "true" : "false", r.parameters, r.step_ms,
      r.forward_ms, r.backward_ms, r.optimizer_ms, r.cpu_ms, r.tokens_per_s, r.peak_rss_mb, r.first_loss, r.last_loss,
      flops_per_step(cfg.model), cfg.fma_limit_per_core);
  std::fflush(stdout);
}

}  // namespace race
