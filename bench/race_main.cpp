// bench_race: the Transformer LM training step, LibTorch vs xgrad, at 1 and 2 threads, quiet and with a
// competing CPU-bound process on one core.
//   ./build/bench/race/bench_race --threads 1,2 --steps 20 --competitor both
// Each (framework, configuration) runs in its own process, so its peak RSS is its own and no thread pool
// of one run outlives it into the next: LibTorch in a forked child (the parent never touches it before
// forking: forking after OpenMP started is unsafe), xgrad in bench_race_xgrad, a program that never
// loads LibTorch. Built without LibTorch, bench_race_xgrad alone times xgrad the same way.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "race.hpp"

namespace race {
namespace {

// The numbers travel through a pipe as plain doubles; the name stays with the parent.
constexpr int kFields = 11;

bool write_result(int fd, const Result& r) {
  const double v[kFields] = {double(r.threads), double(r.parameters), r.step_ms,     r.forward_ms, r.backward_ms,
                             r.optimizer_ms,    r.cpu_ms,             r.tokens_per_s, r.peak_rss_mb, r.first_loss,
                             r.last_loss};
  return write(fd, v, sizeof v) == sizeof v;
}

double load_average() {
  double load = 0;
  return getloadavg(&load, 1) == 1 ? load : -1;
}

// Forks a child that runs `child(fd)` (which writes the result to fd and returns an exit code), then reads the
// result and reaps the child; nothing when it failed.
template <class Child>
std::optional<Result> run_child(const std::string& name, const Config& cfg, Child child) {
  const double load = load_average();
  int fd[2];
  if (pipe(fd) != 0) return std::nullopt;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    _exit(child(fd[1]));
  }
  close(fd[1]);
  double v[kFields];
  const bool ok = read(fd[0], v, sizeof v) == sizeof v;
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return Result{name, int(v[0]), long(v[1]), v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], cfg.competitor, load};
}

// Runs fn in a forked child of this process.
[[maybe_unused]] std::optional<Result> run_isolated(const std::string& name, const Config& cfg,
                                                    const std::function<Result()>& fn) {
  return run_child(name, cfg, [&](int fd) {
    try {
      return write_result(fd, fn()) ? 0 : 1;
    } catch (const std::exception& e) {
      fmt::print(stderr, "{}: {}\n", name, e.what());
      return 1;
    }
  });
}

// Runs xgrad's side in bench_race_xgrad, a separate program beside this one that never loads LibTorch, so
// its peak RSS is xgrad's own (a forked child would count the ~130 MB of LibTorch libraries mapped here).
[[maybe_unused]] std::optional<Result> run_program(const std::string& name, const std::string& program,
                                                   const Config& cfg) {
  return run_child(name, cfg, [&](int fd) {
    dup2(fd, STDOUT_FILENO);  // the worker writes its result to stdout
    const std::string t = std::to_string(cfg.threads), s = std::to_string(cfg.steps),
                      w = std::to_string(cfg.warmup_steps);
    execl(program.c_str(), program.c_str(), "--worker", "--threads", t.c_str(), "--steps", s.c_str(), "--warmup",
          w.c_str(), "--model", cfg.model.name.c_str(), "--precision", cfg.precision.c_str(), "--recompute-mlp",
          cfg.recompute_mlp ? "on" : "off", "--gradient-checkpointing", cfg.gradient_checkpointing ? "on" : "off",
          static_cast<char*>(nullptr));
    fmt::print(stderr, "{}: cannot run {}: {}\n", name, program, std::strerror(errno));
    return 1;
  });
}

// bench_race_xgrad's path: beside this executable.
[[maybe_unused]] std::string sibling(const char* program) {
  std::string self(4096, '\0');
  const ssize_t n = readlink("/proc/self/exe", self.data(), self.size());
  self.resize(n > 0 ? std::size_t(n) : 0);
  return self.substr(0, self.rfind('/') + 1) + program;
}

// The frameworks this program races, those of `only` in one configuration; false when one of them failed.
bool run_frameworks(const Config& cfg, const std::vector<std::string>& only, std::vector<Result>& results) {
  bool ok = true;
  auto wanted = [&](const char* name) { return std::find(only.begin(), only.end(), name) != only.end(); };
  auto keep = [&](std::optional<Result> r) {
    if (r) results.push_back(*r);
    ok = ok && r;
  };
#ifdef XGRAD_RACE_HAS_LIBTORCH
  if (wanted("libtorch")) keep(run_isolated("LibTorch 1.13", cfg, [&] { return run_libtorch(cfg); }));
  if (wanted("xgrad")) keep(run_program("xgrad", sibling("bench_race_xgrad"), cfg));
#else
  if (wanted("xgrad")) keep(run_isolated("xgrad", cfg, [&] { return run_xgrad(cfg); }));
#endif
  return ok;
}

}  // namespace
}  // namespace race

int main(int argc, char** argv) {
  race::Config cfg;
  std::vector<int> threads{1, 2};
  std::vector<std::string> frameworks{"libtorch", "xgrad"};
  std::string model = "tiny", competitor = "off", recompute_mlp = "off", checkpointing = "off";
  int rounds = 1, competitor_cpu = race::last_allowed_cpu(), competitor_seconds = 1800, burn = 0;
  bool worker = false, json = false, fma_only = false;
  CLI::App app{"Transformer LM training step: xgrad (and LibTorch where built), quiet and with a competing process"};
  app.add_option("--threads", threads, "thread counts to run")->delimiter(',');
  app.add_option("--frameworks", frameworks, "which of libtorch, xgrad to run (where built)")
      ->delimiter(',')
      ->check(CLI::IsMember({"libtorch", "xgrad"}));
  app.add_option("--steps", cfg.steps, "timed steps (median reported)");
  app.add_option("--warmup", cfg.warmup_steps, "untimed steps first");
  app.add_option("--model", model, "tiny (421,697 parameters) or large (8 x 512, context 256)")
      ->check(CLI::IsMember({"tiny", "large"}));
  app.add_option("--precision", cfg.precision,
                 "arithmetic of the products: f32, or bf16 (each framework's own mixed precision)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  app.add_option("--recompute-mlp", recompute_mlp,
                 "on: xgrad keeps only the MLP's pre-activation for the backward and computes its GELU again there "
                 "(recompute_mlp_activation)")
      ->check(CLI::IsMember({"off", "on"}));
  app.add_option("--gradient-checkpointing", checkpointing,
                 "on: xgrad keeps only each block's input for the backward and runs the block again there "
                 "(gradient_checkpointing)")
      ->check(CLI::IsMember({"off", "on"}));
  app.add_option("--competitor", competitor,
                 "off, on (every run with a CPU-bound process on one core) or both (each configuration quiet, then "
                 "with it, side by side)")
      ->check(CLI::IsMember({"off", "on", "both"}));
  app.add_option("--competitor-cpu", competitor_cpu, "the core the competing process is pinned to (default: the last)");
  app.add_option("--competitor-seconds", competitor_seconds, "the competing process ends after this long at most");
  app.add_option("--rounds", rounds, "repeat every configuration this many times, interleaved")->check(CLI::PositiveNumber);
  app.add_flag("--json", json, "print one JSON line per result instead of the tables (for bench/peers/run_race.py)");
  app.add_option("--burn", burn, "only be the competing process for this many seconds (for bench/peers/run_race.py)")
      ->check(CLI::PositiveNumber);
  app.add_option("--fma-limit", cfg.fma_limit_per_core,
                 "FLOP/s of one core that the FMA % column divides by (default: measured at start, ~0.2 s)");
  app.add_flag("--measure-fma", fma_only,
               "only measure and print the FMA limit of one core, and its bf16 dot-product rate, in GFLOP/s");
  app.add_flag("--worker", worker, "run one configuration and write the raw result to stdout (used by bench_race)")
      ->group("");
  CLI11_PARSE(app, argc, argv);
  if (burn > 0) race::Competitor::spin(competitor_cpu, burn);
  cfg.model = race::model_named(model);
  cfg.recompute_mlp = recompute_mlp == "on";
  cfg.gradient_checkpointing = checkpointing == "on";
  if (fma_only) {
    fmt::print("fma_limit_per_core_gflops: {:.2f}\n", race::measure_fma_limit_per_core() / 1e9);
    if (const double bf16 = race::measure_bf16_dot_limit_per_core(); bf16 > 0)
      fmt::print("bf16_dot_limit_per_core_gflops: {:.2f}\n", bf16 / 1e9);
    else
      fmt::print("bf16_dot_limit_per_core_gflops: none (this CPU, or this build, has no AVX512-BF16)\n");
    return 0;
  }
#ifdef XGRAD_RACE_HAS_XGRAD
  if (worker) {
    cfg.threads = threads.front();
    return race::write_result(STDOUT_FILENO, race::run_xgrad(cfg)) ? 0 : 1;
  }
#endif
#ifdef XGRAD_RACE_HAS_LIBTORCH
  // LibTorch's OpenMP pool spins while OpenBLAS works; spinning threads fighting over two cores made
  // its step 2.2x (here up to 12x) slower. Give the peer its best configuration. libgomp reads the
  // variable in a constructor before main, so setting it means starting again.
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
    std::perror("bench_race: re-exec with OMP_WAIT_POLICY=PASSIVE failed");
    return 1;
  }
#endif

  if (cfg.fma_limit_per_core <= 0) cfg.fma_limit_per_core = race::measure_fma_limit_per_core();

  std::vector<bool> conditions;
  if (competitor != "on") conditions.push_back(false);
  if (competitor != "off") conditions.push_back(true);
  bool all_ok = true;
  for (int round = 1; round <= rounds; ++round) {
    std::vector<race::Result> results;
    for (bool busy : conditions) {
      // One competitor for all the thread counts of a condition; it is gone before the quiet runs.
      std::unique_ptr<race::Competitor> other;
      if (busy) other = std::make_unique<race::Competitor>(competitor_cpu, competitor_seconds);
      for (int t : threads) {
        cfg.threads = t, cfg.competitor = busy;
        const std::size_t before = results.size();
        all_ok = race::run_frameworks(cfg, frameworks, results) && all_ok;
        if (json)
          for (std::size_t i = before; i < results.size(); ++i) race::print_json(cfg, results[i]);
      }
    }
    if (json) continue;
    if (rounds > 1) fmt::print("\nround {} of {}\n", round, rounds);
    race::print(cfg, results);
  }
  return all_ok ? 0 : 1;
}
