// xgrad's side of the Tiny LM race: nn::TransformerLM with the Tiny LM sizes (the model of
// examples/char_lm), timed exactly as race_libtorch.cpp times LibTorch's (same phases, same fixed random
// batch shape, Adam lr 3e-4).
#include <stdexcept>

#include "race.hpp"
#include "xgrad/backend/threads.hpp"
#include "xgrad/nn/transformer.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

namespace race {

Result run_xgrad(const Config& cfg) {
  xgrad::set_num_threads(cfg.threads);  // xgrad's pool; OpenBLAS then runs single-threaded inside it
  if (cfg.d_ff % cfg.d_model != 0)
    throw std::runtime_error("xgrad Tiny LM: d_ff " + std::to_string(cfg.d_ff) + " must be a multiple of d_model " +
                             std::to_string(cfg.d_model));
  xgrad::nn::TransformerLM model({.vocab_size = cfg.vocab, .context_length = cfg.context, .d_model = cfg.d_model,
                                  .num_heads = cfg.heads, .num_layers = cfg.layers, .mlp_ratio = cfg.d_ff / cfg.d_model,
                                  .dropout = 0.0, .seed = 0});
  const long n = long(model.num_parameters());
  if (n != 421697 && cfg.d_model == 128 && cfg.layers == 2 && cfg.vocab == 65)
    throw std::runtime_error("xgrad Tiny LM has " + std::to_string(n) + " parameters, expected 421,697");
  xgrad::optim::Adam adam(model.named_trainable_parameters(), {.lr = cfg.lr});

  xgrad::Generator gen(0);
  const std::int64_t tokens = std::int64_t(cfg.batch) * cfg.context;
  std::vector<std::int64_t> xs(static_cast<std::size_t>(tokens)), ys(static_cast<std::size_t>(tokens));
  for (auto& v : xs) v = std::int64_t(gen.next() % std::uint64_t(cfg.vocab));
  for (auto& v : ys) v = std::int64_t(gen.next() % std::uint64_t(cfg.vocab));
  const xgrad::Tensor x = xgrad::index_tensor(xs, {cfg.batch, cfg.context}), y = xgrad::index_tensor(ys, {tokens});

  Result r{"xgrad", cfg.threads, n};
  time_steps(
      cfg, r,
      [&] {
        adam.zero_grad();
        return xgrad::cross_entropy(xgrad::reshape(model.forward(x), {tokens, cfg.vocab}), y);
      },
      [](xgrad::Tensor& loss) { loss.backward(); }, [&] { adam.step(); },
      [](xgrad::Tensor& loss) { return loss.item(); });
  return r;
}

}  // namespace race
