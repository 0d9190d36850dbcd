// xgrad's side of the Tiny LM race: the model of examples/char_lm, timed exactly as race_libtorch.cpp
// times LibTorch's (same phases, same fixed random batch shape, Adam lr 3e-4).
#include <stdexcept>

#include "char_lm/model.hpp"
#include "race.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

namespace race {

Result run_xgrad(const Config& cfg) {
  set_blas_threads(cfg.threads);

  char_lm::TinyLM model({.vocab = cfg.vocab, .context = cfg.context, .d_model = cfg.d_model, .heads = cfg.heads,
                         .layers = cfg.layers, .d_ff = cfg.d_ff, .dropout = 0.0, .seed = 0});
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
