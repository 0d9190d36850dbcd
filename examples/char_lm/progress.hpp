#pragma once
// Training progress: a redrawn one-line bar on a terminal, plain log lines otherwise (CI logs, files).
#include <chrono>
#include <cstdio>
#include <string>

namespace char_lm {

/// "1h02m", "3m05s", "42s": a duration for people.
std::string format_duration(double seconds);

/// Reports step, loss, tokens/s and ETA; on a terminal it redraws one line, elsewhere it logs every `log_every` steps.
class Progress {
 public:
  /// A reporter to `out` for steps [first_step, total_steps]; `tty` defaults to isatty(out).
  Progress(FILE* out, long total_steps, long first_step = 0, long log_every = 50);
  /// As above with an explicit choice of terminal (tests, --no-progress).
  Progress(FILE* out, long total_steps, long first_step, long log_every, bool tty);

  /// Records that `step` finished with training loss `loss` after processing `tokens` tokens in total since construction.
  void update(long step, double loss, double tokens);
  /// Prints a line that must not be overwritten (validation loss, checkpoint saved), keeping the bar below it.
  void note(const std::string& line);
  /// Ends the bar's line (call once after the last step).
  void finish();
  /// Whether the reporter redraws a bar.
  bool tty() const { return tty_; }
  /// The text of one status line: "step 120/2000 loss 2.3140 18.2k tok/s ETA 1m32s" (the bar adds a gauge in front).
  static std::string status(long step, long total, double loss, double tokens_per_s, double eta_s);

 private:
  FILE* out_;
  long total_, first_, log_every_;
  bool tty_, bar_open_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace char_lm
