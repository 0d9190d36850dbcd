#include "xgrad/optim/schedule.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <numbers>

namespace xgrad::optim {

namespace {

void require(bool ok, const char* schedule, const char* what, double value) {
  if (!ok) throw ValueError(fmt::format("{}: {}, got {}", schedule, what, value));
}

void check_step(const char* schedule, std::int64_t step) {
  if (step < 0) throw ValueError(fmt::format("{}: step must be >= 0, got {}", schedule, step));
}

}  // namespace

LRSchedule constant_lr(double lr) {
  require(lr >= 0.0, "constant_lr", "lr must be >= 0", lr);
  return [lr](std::int64_t step) {
    check_step("constant_lr", step);
    return lr;
  };
}

LRSchedule step_lr(double lr, std::int64_t step_size, double gamma) {
  require(lr >= 0.0, "step_lr", "lr must be >= 0", lr);
  require(step_size >= 1, "step_lr", "step_size must be >= 1", static_cast<double>(step_size));
  require(gamma >= 0.0, "step_lr", "gamma must be >= 0", gamma);
  return [=](std::int64_t step) {
    check_step("step_lr", step);
    return lr * std::pow(gamma, static_cast<double>(step / step_size));
  };
}

LRSchedule warmup_cosine_lr(double lr, std::int64_t warmup_steps, std::int64_t total_steps, double min_lr) {
  require(lr >= 0.0, "warmup_cosine_lr", "lr must be >= 0", lr);
  require(warmup_steps >= 0, "warmup_cosine_lr", "warmup_steps must be >= 0", static_cast<double>(warmup_steps));
  if (total_steps < 1 || total_steps < warmup_steps)
    throw ValueError(fmt::format("warmup_cosine_lr: total_steps must be >= 1 and >= warmup_steps ({}), got {}",
                                 warmup_steps, total_steps));
  if (!(min_lr >= 0.0 && min_lr <= lr))
    throw ValueError(fmt::format("warmup_cosine_lr: min_lr must be in [0, lr = {}], got {}", lr, min_lr));
  return [=](std::int64_t step) {
    check_step("warmup_cosine_lr", step);
    if (step < warmup_steps) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    if (step >= total_steps) return min_lr;
    const double progress =
        static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  };
}

LRScheduler::LRScheduler(Optimizer& optimizer, LRSchedule schedule)
    : optimizer_(optimizer), schedule_(std::move(schedule)) {
  if (!schedule_) throw ValueError("LRScheduler: the schedule is empty");
  optimizer_.set_learning_rate(schedule_(0));
}

void LRScheduler::step() { set_step(step_ + 1); }

std::map<std::string, std::string> LRScheduler::state() const { return {{"step", std::to_string(step_)}}; }

void LRScheduler::load_state(const std::map<std::string, std::string>& state) {
  for (const auto& [key, value] : state)
    if (key != "step")
      throw ValueError(fmt::format("LRScheduler.load_state: unexpected key '{}'; the state holds only 'step'", key));
  const auto it = state.find("step");
  if (it == state.end()) throw ValueError("LRScheduler.load_state: missing key 'step'");
  const std::string& text = it->second;
  std::int64_t step = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), step);
  // Below 2^53, like the optimizers' step counts: step() can increment it and schedules take it as a double.
  if (error != std::errc() || end != text.data() + text.size() || step < 0 || step >= std::int64_t{1} << 53)
    throw ValueError(fmt::format("LRScheduler.load_state: key 'step' must be an integer in [0, 2^53), got '{}'",
                                 text.substr(0, 40)));
  set_step(step);
}

void LRScheduler::set_step(std::int64_t step) {
  const double lr = schedule_(step);  // validates step before anything changes
  optimizer_.set_learning_rate(lr);
  step_ = step;
}

}  // namespace xgrad::optim
