// xgrad's side of the Tiny LM race: the model of examples/char_lm, timed exactly as race_libtorch.cpp
// times LibTorch's (same phases, same fixed random batch shape, Adam lr 3e-4).
#include <chrono>
#include <stdexcept>

#include "char_lm/model.hpp"
#include "race.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

namespace race {

Result run_xgrad(const Config& cfg) {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
  set_blas_threads(cfg.threads);

  char_lm::TinyLM model({.vocab = cfg.vocab, .context = cfg.context, .d_model = cfg.d_model, .heads = cfg.heads,
                         .layers = cfg.layers, .d_ff = cfg.d_ff, .dropout = 0.0, .seed = 0});
  const long n = long(model.num_parameters());
  if (n != 421697 && cfg.d_model == 128 && cfg.layers == 2 && cfg.vocab == 65)
    throw std::runtime_error("xgrad Tiny LM has " + std::to_string(n) + " parameters, expected 421,697");
  xgrad::optim::Adam adam(model.named_trainable_parameters(), {.lr = cfg.lr});

  xgrad::Generator gen(0);
  const std::int64_t tokens = std::int64_t(cfg.batch) * cfg.context;
  std::vector<std::int64_t> xs(std::size_t(tokens)), ys(std::size_t(tokens));
  for (auto& v : xs) v = std::int64_t(gen.next() % std::uint64_t(cfg.vocab));
  for (auto& v : ys) v = std::int64_t(gen.next() % std::uint64_t(cfg.vocab));
  const xgrad::Tensor x = xgrad::index_tensor(xs, {cfg.batch, cfg.context}), y = xgrad::index_tensor(ys, {tokens});

  Result r{"xgrad", cfg.threads, n};
  std::vector<double> step, fwd, bwd, opt;
  double cpu0 = 0;
  for (int i = 0; i < cfg.warmup_steps + cfg.steps; ++i) {
    if (i == cfg.warmup_steps) cpu0 = cpu_time_ms();
    auto t0 = Clock::now();
    adam.zero_grad();
    xgrad::Tensor loss = xgrad::cross_entropy(xgrad::reshape(model.forward(x), {tokens, cfg.vocab}), y);
    const double t_fwd = ms_since(t0);
    auto t1 = Clock::now();
    loss.backward();
    const double t_bwd = ms_since(t1);
    auto t2 = Clock::now();
    adam.step();
    const double t_opt = ms_since(t2), t_step = ms_since(t0);
    const double l = loss.item();
    if (i == 0) r.first_loss = l;
    r.last_loss = l;
    if (i < cfg.warmup_steps) continue;
    step.push_back(t_step), fwd.push_back(t_fwd), bwd.push_back(t_bwd), opt.push_back(t_opt);
  }
  r.cpu_ms = (cpu_time_ms() - cpu0) / cfg.steps;
  r.step_ms = median(step), r.forward_ms = median(fwd), r.backward_ms = median(bwd), r.optimizer_ms = median(opt);
  r.tokens_per_s = double(tokens) / (r.step_ms / 1000.0);
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

}  // namespace race
