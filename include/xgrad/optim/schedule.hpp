#pragma once
// Learning-rate schedules: plain callables lr(step), step counted from 0, plus LRScheduler, which
// writes schedule(step) into an optimizer each step.
//   optim::LRScheduler sched(opt, optim::warmup_cosine_lr(3e-4, 100, 5000, 3e-5));
//   for (...) { ...; opt.step(); sched.step(); }
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "xgrad/optim/optimizer.hpp"

namespace xgrad::optim {

/// A learning rate per step: lr(step) for step >= 0.
using LRSchedule = std::function<double(std::int64_t step)>;

/// lr at every step.
LRSchedule constant_lr(double lr);
/// lr * gamma^floor(step / step_size) (torch StepLR); ValueError for step_size < 1 or gamma < 0.
LRSchedule step_lr(double lr, std::int64_t step_size, double gamma = 0.1);
/// Linear warmup then cosine decay: lr * (step + 1) / warmup_steps for step < warmup_steps (so the
/// first step is not wasted at 0 and step warmup_steps - 1 reaches lr); then
/// min_lr + (lr - min_lr) * (1 + cos(pi * (step - warmup_steps) / (total_steps - warmup_steps))) / 2;
/// min_lr from total_steps on. ValueError unless 0 <= warmup_steps <= total_steps, 0 < total_steps and
/// 0 <= min_lr <= lr.
LRSchedule warmup_cosine_lr(double lr, std::int64_t warmup_steps, std::int64_t total_steps, double min_lr = 0.0);

/// Drives an optimizer's learning rate from a schedule: sets schedule(0) on construction and
/// schedule(n) on the n-th call of step() (call it after each optimizer step).
class LRScheduler {
 public:
  /// Binds `optimizer` (which must outlive this) and sets its learning rate to schedule(0).
  LRScheduler(Optimizer& optimizer, LRSchedule schedule);
  /// Advances one step and sets the optimizer's learning rate to schedule(step).
  void step();
  /// The current step (0 before the first step()).
  std::int64_t current_step() const { return step_; }
  /// Jumps to `step` (e.g. when resuming from a checkpoint) and sets schedule(step).
  void set_step(std::int64_t step);
  /// The learning rate of the current step.
  double learning_rate() const { return schedule_(step_); }

  /// What a checkpoint needs to continue the schedule exactly: {"step": "<current step>"} (the
  /// schedule itself is code, rebuilt by the program that resumes).
  std::map<std::string, std::string> state() const;
  /// Restores state(): jumps to its step and sets the optimizer's learning rate to schedule(step).
  /// ValueError naming the key for a missing, unexpected or malformed entry (the step must be a
  /// decimal integer in [0, 2^53), so that step() can increment it); nothing changes then.
  void load_state(const std::map<std::string, std::string>& state);

 private:
  Optimizer& optimizer_;
  LRSchedule schedule_;
  std::int64_t step_ = 0;
};

}  // namespace xgrad::optim
