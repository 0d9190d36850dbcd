#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace char_lm {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

Progress::Progress(FILE* out, long total_steps, long first_step, long log_every)
    : Progress(out, total_steps, first_step, log_every, isatty(fileno(out)) != 0) {}

Progress::Progress(FILE* out, long total_steps, long first_step, long log_every, bool tty)
    : out_(out), total_(total_steps), first_(first_step), log_every_(std::max(1L, log_every)), tty_(tty),
      start_(std::chrono::steady_clock::now()) {}

std::string Progress::status(long step, long total, double loss, double tokens_per_s, double eta_s) {
  const std::string rate = tokens_per_s >= 1000 ? fmt::format("{:.1f}k", tokens_per_s / 1000) : fmt::format("{:.0f}", tokens_per_s);
  return fmt::format("step {}/{} loss {:.4f} {} tok/s ETA {}", step, total, loss, rate, format_duration(eta_s));
}

void Progress::update(long step, double loss, double tokens) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const long done = step - first_;
  const double eta = done > 0 ? elapsed / double(done) * double(total_ - step) : NAN;
  const std::string line = status(step, total_, loss, elapsed > 0 ? tokens / elapsed : 0.0, eta);
  if (tty_) {
    constexpr int kWidth = 24;
    const int filled = total_ > 0 ? int(kWidth * std::clamp(double(step) / double(total_), 0.0, 1.0)) : kWidth;
    // \r returns to the line start, \x1b[K clears what a longer previous line left behind.
    fmt::print(out_, "\r[{}{}] {}\x1b[K", std::string(std::size_t(filled), '#'), std::string(std::size_t(kWidth - filled), '.'), line);
    bar_open_ = true;
  } else if (step % log_every_ == 0 || step == total_) {
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
}

void Progress::note(const std::string& line) {
  if (bar_open_) fmt::print(out_, "\r\x1b[K");
  fmt::print(out_, "{}\n", line);
  bar_open_ = false;
  std::fflush(out_);
}

void Progress::finish() {
  if (bar_open_) fmt::print(out_, "\n");
  bar_open_ = false;
  std::fflush(out_);
}

}  // namespace char_lm
