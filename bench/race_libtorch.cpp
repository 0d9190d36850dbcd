// LibTorch's side of the Tiny LM race. All LibTorch code lives in this one translation unit: it
// takes ~30 s and 1.3 GB of compiler memory to build.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <stdexcept>

#include "race.hpp"

extern "C" void openblas_set_num_threads(int);

namespace race {
namespace {

// Pre-LN block: x + MHA(LN(x)), then x + MLP(LN(x)).
struct BlockImpl : torch::nn::Module {
  BlockImpl(const Model& c)
      : ln1(register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model})))),
        attn(register_module("attn", torch::nn::MultiheadAttention(
                                         torch::nn::MultiheadAttentionOptions(c.d_model, c.heads)))),
        ln2(register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model})))),
        fc1(register_module("fc1", torch::nn::Linear(c.d_model, c.d_ff))),
        fc2(register_module("fc2", torch::nn::Linear(c.d_ff, c.d_model))) {}

  // x: (S, B, E), the layout LibTorch 1.13's C++ MultiheadAttention takes.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& causal) {
    auto h = ln1(x);
    x = x + std::get<0>(attn->forward(h, h, h, /*key_padding_mask=*/{}, /*need_weights=*/false, causal));
    return x + fc2(torch::gelu(fc1(ln2(x))));
  }
  torch::nn::LayerNorm ln1;
  torch::nn::MultiheadAttention attn;
  torch::nn::LayerNorm ln2;
  torch::nn::Linear fc1, fc2;
};
TORCH_MODULE(Block);

struct TinyLMImpl : torch::nn::Module {
  explicit TinyLMImpl(const Model& c)
      : tok(register_module("tok", torch::nn::Embedding(c.vocab, c.d_model))),
        pos(register_parameter("pos", torch::randn({c.context, c.d_model}) * 0.02)),
        ln_f(register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model})))),
        head(register_module("head", torch::nn::Linear(c.d_model, c.vocab))) {
    for (int i = 0; i < c.layers; ++i) blocks.push_back(register_module("block" + std::to_string(i), Block(c)));
    // true above the diagonal = position j > i may not be attended to.
    causal = torch::triu(torch::ones({c.context, c.context}, torch::kBool), 1);
  }

  // tokens: (B, S) int64 -> logits (B, S, V).
  torch::Tensor forward(const torch::Tensor& tokens) {
    auto x = (tok(tokens) + pos).transpose(0, 1);  // (S, B, E)
    for (auto& b : blocks) x = b->forward(x, causal);
    return head(ln_f(x)).transpose(0, 1);
  }
  torch::nn::Embedding tok;
  torch::Tensor pos;
  std::vector<Block> blocks;
  torch::nn::LayerNorm ln_f;
  torch::nn::Linear head;
  torch::Tensor causal;
};
TORCH_MODULE(TinyLM);

/// LibTorch's CPU autocast to bfloat16 (torch.autocast("cpu", torch.bfloat16) in Python) for one scope,
/// when `on`: linear layers and products compute in bfloat16, layer norm and the loss in float32.
class BFloat16Autocast {
 public:
  explicit BFloat16Autocast(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  ~BFloat16Autocast() {
    if (!on_) return;
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();  // the casts of the weights are per step, as when Python leaves the scope
  }
  BFloat16Autocast(const BFloat16Autocast&) = delete;
  BFloat16Autocast& operator=(const BFloat16Autocast&) = delete;

 private:
  bool on_;
};

}  // namespace

Result run_libtorch(const Config& cfg) {
  torch::set_num_threads(cfg.threads);
  openblas_set_num_threads(cfg.threads);  // torch::set_num_threads does not reach OpenBLAS's own pool
  torch::manual_seed(0);

  const Model& m = cfg.model;
  if (cfg.precision != "f32" && cfg.precision != "bf16")
    throw std::runtime_error("LibTorch race: precision " + cfg.precision + " is not supported (f32 or bf16)");
  const bool bf16 = cfg.precision == "bf16";
  TinyLM model(m);
  long n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  if (n != m.parameters)
    throw std::runtime_error("LibTorch " + m.name + " model has " + std::to_string(n) + " parameters, expected " +
                             std::to_string(m.parameters));
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(cfg.lr));

  // A fixed random batch: the race times the step, not the data pipeline.
  auto x = torch::randint(m.vocab, {m.batch, m.context}, torch::kLong);
  auto y = torch::randint(m.vocab, {m.batch, m.context}, torch::kLong);

  Result r{"LibTorch 1.13", cfg.threads, n};
  time_steps(
      cfg, r,
      [&] {
        adam.zero_grad();
        const BFloat16Autocast precision(bf16);
        return torch::nn::functional::cross_entropy(model->forward(x).reshape({-1, m.vocab}), y.reshape({-1}));
      },
      [](torch::Tensor& loss) { loss.backward(); }, [&] { adam.step(); },
      [](torch::Tensor& loss) { return loss.item<double>(); });
  return r;
}

}  // namespace race
