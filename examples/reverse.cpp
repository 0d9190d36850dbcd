// A tiny TransformerLM learns to reverse sequences, with no data to download: each example is
// `x1 … xL SEP xL … x1` over `symbols` symbols, trained as next-token prediction on the reversed half only.
// Exits non-zero unless greedy decoding of fresh sequences reaches --target token accuracy.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <xgrad/xgrad.hpp>

#include <chrono>
#include <vector>

using namespace xgrad;

namespace {

// `batch` random sequences followed by SEP and their reverse: (batch, 2 * length + 1) int64.
Tensor make_batch(std::int64_t batch, std::int64_t length, std::int64_t symbols, Generator& gen) {
  const std::int64_t T = 2 * length + 1;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(batch * T));
  for (std::int64_t b = 0; b < batch; ++b) {
    std::int64_t* row = ids.data() + b * T;
    for (std::int64_t i = 0; i < length; ++i) row[i] =
        static_cast<std::int64_t>(gen.next() % static_cast<std::uint64_t>(symbols));
    row[length] = symbols;  // SEP
    for (std::int64_t i = 0; i < length; ++i) row[length + 1 + i] = row[length - 1 - i];
  }
  return index_tensor(ids, {batch, T});
}

// Fraction of reversed tokens that greedy generation from `x1 … xL SEP` gets right.
double accuracy(nn::TransformerLM& model, const Tensor& batch, std::int64_t length, Generator& gen) {
  const Tensor prompt = slice(batch, 1, 0, length + 1);
  const auto got = slice(model.generate(prompt, length, 0.0, gen), 1, length + 1, 2 * length + 1).to_vector();
  const auto want = slice(batch, 1, length + 1, 2 * length + 1).to_vector();
  std::size_t right = 0;
  for (std::size_t i = 0; i < got.size(); ++i) right += got[i] == want[i];
  return static_cast<double>(right) / static_cast<double>(got.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a tiny Transformer to reverse sequences"};
  std::int64_t length = 8, symbols = 10, batch = 64, steps = 400, d_model = 64, heads = 4, layers = 2;
  double lr = 3e-3, target = 0.99;
  std::uint64_t seed = 0;
  app.add_option("--length", length, "sequence length")->capture_default_str();
  app.add_option("--symbols", symbols, "alphabet size")->capture_default_str();
  app.add_option("--batch", batch, "sequences per step")->capture_default_str();
  app.add_option("--steps", steps, "optimizer steps")->capture_default_str();
  app.add_option("--d-model", d_model, "model width")->capture_default_str();
  app.add_option("--heads", heads, "attention heads")->capture_default_str();
  app.add_option("--layers", layers, "transformer blocks")->capture_default_str();
  app.add_option("--lr", lr, "peak learning rate")->capture_default_str();
  app.add_option("--target", target, "token accuracy required for exit status 0")->capture_default_str();
  app.add_option("--seed", seed, "seed of data and weights")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::int64_t T = 2 * length + 1;
  nn::TransformerLM model({.vocab_size = symbols + 1, .context_length = T, .d_model = d_model,
                           .num_heads = heads, .num_layers = layers, .seed = seed});
  fmt::print("{} parameters\n", model.num_parameters());
  optim::AdamW optimizer(model.named_trainable_parameters(), {.lr = lr, .weight_decay = 0.0});
  optim::LRScheduler schedule(optimizer, optim::warmup_cosine_lr(lr, steps / 20, steps, lr / 20));
  Generator data(seed + 1), sample(seed + 2);
  const Tensor held_out = make_batch(256, length, symbols, data);
  const auto start = std::chrono::steady_clock::now();

  for (std::int64_t step = 1; step <= steps; ++step) {
    model.train();
    const Tensor seq = make_batch(batch, length, symbols, data);
    // positions length … 2·length see SEP and the reversed prefix, and predict the next reversed token
    const Tensor logits = slice(model(slice(seq, 1, 0, T - 1)), 1, length, T - 1);
    const Tensor targets = slice(seq, 1, length + 1, T);
    optimizer.zero_grad();
    Tensor loss = nn::cross_entropy(reshape(logits, {-1, symbols + 1}), reshape(targets, {-1}));
    loss.backward();
    optim::clip_grad_norm(model.parameters(), 1.0);
    optimizer.step();
    schedule.step();
    if (step % 100 == 0 || step == steps)
      fmt::print("step {:5d}  loss {:.4f}  held-out token accuracy {:.4f}  {:.1f} s\n", step, loss.item(),
                 accuracy(model, held_out, length, sample),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const double final_accuracy = accuracy(model, held_out, length, sample);
  fmt::print("final held-out token accuracy {:.4f} (target {:.2f})\n", final_accuracy, target);
  return final_accuracy >= target ? 0 : 1;
}
