#pragma once
// A small training run for the training-state tests: a module with two parameters and an integer
// buffer, trained by Adam under a warm-up/cosine schedule on a deterministic
// quadratic pull, so any two runs through the same states agree to the bit.
#include <string>
#include <vector>

#include "xgrad/io/checkpoint.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/optim/schedule.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::test {

/// Two parameters and a buffer, initial values from `start` so that two nets can differ.
struct TinyNet : nn::Module {
  Tensor w, b, seen;
  explicit TinyNet(double start = 0.5)
      : nn::Module("TinyNet"),
        w(register_parameter("w", from_vector({start, -1.0, 2.0, 0.25, -0.75, 1.5}, {2, 3}))),
        b(register_parameter("b", from_vector({0.1, -start}, {2}, DType::float64))),
        seen(register_buffer("seen", index_tensor({0}, {1}))) {}
};

/// A net, its Adam and its schedule: one training run.
struct TinyRun {
  TinyNet net;
  optim::Adam opt;
  optim::LRScheduler sched;
  explicit TinyRun(double start = 0.5)
      : net(start), opt(net.named_trainable_parameters(), {.lr = 0.1}),
        sched(opt, optim::warmup_cosine_lr(0.1, 2, 10, 0.01)) {}

  /// One step: grad = p - 1 (the pull of 0.5 |p - 1|^2), Adam, schedule, buffer count.
  void step() {
    for (auto [name, p] : opt.parameters()) {  // handle copies: set_grad reaches the same tensor
      std::vector<double> g = p.to_vector();
      for (double& v : g) v -= 1.0;
      p.set_grad(from_vector(g, p.shape(), p.dtype()));
    }
    opt.step();
    sched.step();
    net.seen.set({0}, net.seen.at({0}) + 1);
  }
  /// The training state of this run.
  io::TrainingState state() { return {net, opt, &sched, {}}; }
  /// Every value of the run: parameters, buffer, optimizer state, learning rate, schedule step.
  std::vector<std::vector<double>> snapshot() const {
    std::vector<std::vector<double>> out;
    for (const auto& [name, t] : net.state()) out.push_back(t.to_vector());
    for (const auto& [key, t] : opt.state()) out.push_back(t.to_vector());
    out.push_back({opt.learning_rate(), double(sched.current_step())});
    return out;
  }
};

}  // namespace xgrad::test
