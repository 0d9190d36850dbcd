// xgrad's side of the race: nn::TransformerLM with the raced sizes (the model of examples/char_lm), timed
// exactly as race_libtorch.cpp times LibTorch's (same phases, same fixed random batch shape, Adam lr 3e-4).
#include <stdexcept>

#include "race.hpp"
#include "xgrad/backend/threads.hpp"
#include "xgrad/nn/transformer.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/precision.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

namespace race {

Result run_xgrad(const Config& cfg) {
  const Model& m = cfg.model;
  xgrad::set_num_threads(cfg.threads);  // xgrad's pool; OpenBLAS then runs single-threaded inside it
  // bf16: xgrad's mixed precision (products with bfloat16 operands, everything else float32).
  const xgrad::PrecisionScope precision(cfg.precision == "bf16" ? xgrad::ProductPrecision::bfloat16
                                                                : xgrad::ProductPrecision::float32);
  if (m.d_ff % m.d_model != 0)
    throw std::runtime_error("xgrad race: d_ff " + std::to_string(m.d_ff) + " must be a multiple of d_model " +
                             std::to_string(m.d_model));
  xgrad::nn::TransformerLM model({.vocab_size = m.vocab, .context_length = m.context, .d_model = m.d_model,
                                  .num_heads = m.heads, .num_layers = m.layers, .mlp_ratio = m.d_ff / m.d_model,
                                  .dropout = 0.0, .seed = 0, .recompute_mlp_activation = cfg.recompute_mlp,
                                  .gradient_checkpointing = cfg.gradient_checkpointing});
  const long n = long(model.num_parameters());
  if (n != m.parameters)
    throw std::runtime_error("xgrad " + m.name + " model has " + std::to_string(n) + " parameters, expected " +
                             std::to_string(m.parameters));
  xgrad::optim::Adam adam(model.named_trainable_parameters(), {.lr = cfg.lr});

  xgrad::Generator gen(0);
  const std::int64_t tokens = std::int64_t(m.batch) * m.context;
  std::vector<std::int64_t> xs(static_cast<std::size_t>(tokens)), ys(static_cast<std::size_t>(tokens));
  for (auto& v : xs) v = std::int64_t(gen.next() % std::uint64_t(m.vocab));
  for (auto& v : ys) v = std::int64_t(gen.next() % std::uint64_t(m.vocab));
  const xgrad::Tensor x = xgrad::index_tensor(xs, {m.batch, m.context}), y = xgrad::index_tensor(ys, {tokens});

  Result r{"xgrad", cfg.threads, n};
  time_steps(
      cfg, r,
      [&] {
        adam.zero_grad();
        return xgrad::cross_entropy(xgrad::reshape(model.forward(x), {tokens, m.vocab}), y);
      },
      [](xgrad::Tensor& loss) { loss.backward(); }, [&] { adam.step(); },
      [](xgrad::Tensor& loss) { return loss.item(); });
  return r;
}

}  // namespace race
