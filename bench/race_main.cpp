// bench_race: the Tiny LM training step, LibTorch vs xgrad, at 1 and 2 threads.
//   ./build/bench/race/bench_race --threads 1,2 --steps 20
// Each (framework, threads) pair runs in its own process, so its peak RSS is its own and no thread pool
// of one run outlives it into the next: LibTorch in a forked child (the parent never touches it before
// forking: forking after OpenMP started is unsafe), xgrad in bench_race_xgrad, a program that never
// loads LibTorch. Built without LibTorch, bench_race_xgrad alone times xgrad the same way.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <string>

#include "race.hpp"

namespace race {

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

void print(const std::vector<Result>& results) {
  fmt::print("{:<14} {:>3} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>13}\n", "framework", "thr", "params",
             "step ms", "fwd ms", "bwd ms", "optim ms", "cpu ms", "tok/s", "RSS MB", "loss first>last");
  for (const auto& r : results)
    fmt::print("{:<14} {:>3} {:>9} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.0f} {:>8.0f} {:>6.3f}>{:.3f}\n",
               r.framework, r.threads, r.parameters, r.step_ms, r.forward_ms, r.backward_ms, r.optimizer_ms, r.cpu_ms, r.tokens_per_s,
               r.peak_rss_mb, r.first_loss, r.last_loss);
  // Ratios against the first framework measured at the same thread count (> 1: slower than it).
  for (const auto& r : results) {
    auto base = std::find_if(results.begin(), results.end(), [&](const Result& b) { return b.threads == r.threads; });
    if (&*base == &r) continue;
    fmt::print("{} / {} at {} thread(s): step {:.2f}x, fwd {:.2f}x, bwd {:.2f}x, optim {:.2f}x, cpu {:.2f}x, RSS {:.2f}x\n",
               r.framework, base->framework, r.threads, r.step_ms / base->step_ms, r.forward_ms / base->forward_ms,
               r.backward_ms / base->backward_ms, r.optimizer_ms / base->optimizer_ms, r.cpu_ms / base->cpu_ms,
               r.peak_rss_mb / base->peak_rss_mb);
  }
}

namespace {

// The numbers travel through a pipe as plain doubles; the name stays with the parent.
constexpr int kFields = 11;

bool write_result(int fd, const Result& r) {
  const double v[kFields] = {double(r.threads), double(r.parameters), r.step_ms,     r.forward_ms, r.backward_ms,
                             r.optimizer_ms,    r.cpu_ms,             r.tokens_per_s, r.peak_rss_mb, r.first_loss,
                             r.last_loss};
  return write(fd, v, sizeof v) == sizeof v;
}

// Forks a child that runs `child(fd)` (which writes the result to fd and returns an exit code), then reads the
// result and reaps the child; nothing when it failed.
template <class Child>
std::optional<Result> run_child(const std::string& name, Child child) {
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
  return Result{name, int(v[0]), long(v[1]), v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]};
}

// Runs fn in a forked child of this process.
[[maybe_unused]] std::optional<Result> run_isolated(const std::string& name, const std::function<Result()>& fn) {
  return run_child(name, [&](int fd) {
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
  return run_child(name, [&](int fd) {
    dup2(fd, STDOUT_FILENO);  // the worker writes its result to stdout
    const std::string t = std::to_string(cfg.threads), s = std::to_string(cfg.steps),
                      w = std::to_string(cfg.warmup_steps);
    execl(program.c_str(), program.c_str(), "--worker", "--threads", t.c_str(), "--steps", s.c_str(), "--warmup",
          w.c_str(), static_cast<char*>(nullptr));
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

}  // namespace
}  // namespace race

int main(int argc, char** argv) {
  race::Config cfg;
  std::vector<int> threads{1, 2};
  bool worker = false;
  CLI::App app{"Tiny LM training step: LibTorch vs xgrad"};
  app.add_option("--threads", threads, "thread counts to run")->delimiter(',');
  app.add_option("--steps", cfg.steps, "timed steps (median reported)");
  app.add_option("--warmup", cfg.warmup_steps, "untimed steps first");
  app.add_flag("--worker", worker, "run one thread count and write the raw result to stdout (used by bench_race)")
      ->group("");
  CLI11_PARSE(app, argc, argv);
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

  std::vector<race::Result> results;
  for (int t : threads) {
    cfg.threads = t;
#ifdef XGRAD_RACE_HAS_LIBTORCH
    if (auto r = race::run_isolated("LibTorch 1.13", [&] { return race::run_libtorch(cfg); })) results.push_back(*r);
    if (auto r = race::run_program("xgrad", race::sibling("bench_race_xgrad"), cfg)) results.push_back(*r);
#else
    if (auto r = race::run_isolated("xgrad", [&] { return race::run_xgrad(cfg); })) results.push_back(*r);
#endif
  }
  race::print(results);
  return results.empty() ? 1 : 0;
}
