// Random draws, layers, optimizers, the Tiny LM's training and checkpoints on the device under test,
// against the same work on the CPU.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "conformance.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/random.hpp"
#include "xgrad/io/checkpoint.hpp"
#include "xgrad/nn/nn.hpp"
#include "xgrad/nn/attention.hpp"
#include "xgrad/nn/flux_attention.hpp"
#include "xgrad/nn/multi_head_attention.hpp"
#include "xgrad/nn/transformer.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/optim/clip.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using namespace xgrad::conformance;

namespace {

Tensor normal(const Shape& shape, std::uint64_t seed, DType dtype = DType::float64) {
  Generator gen(seed);
  return randn(shape, gen, dtype);
}

// Runs `call` on a CPU module and on an identical one (same seed) moved to the device, then checks the
// outputs and every parameter's gradient after the same cotangent.
template <class Make, class Call>
void check_module(const std::string& name, Make&& make, Call&& call, DType dtype) {
  INFO(name << " in " << dtype_name(dtype));
  auto cpu = make(dtype);
  auto dev = make(dtype);
  dev->to(target());
  const Tensor want = call(*cpu, Device{});
  const Tensor got = call(*dev, target());
  check_matches(got, want, name + " output");
  Generator gen(31);
  const Tensor cotangent = randn(want.shape(), gen, dtype);
  want.backward(cotangent);
  got.backward(cotangent.to(target()));
  const auto cpu_params = cpu->named_parameters(), dev_params = dev->named_parameters();
  REQUIRE(cpu_params.size() == dev_params.size());
  for (std::size_t i = 0; i < cpu_params.size(); ++i)
    check_matches(dev_params[i].second.grad(), cpu_params[i].second.grad(), name + " gradient of " + cpu_params[i].first);
}

}  // namespace

TEST_CASE("conformance: random fills and dropout masks are the CPU's draws", "[conformance][random]") {
  for (DType dtype : {DType::float32, DType::float64}) {
    Generator a(9), b(9);
    check_matches(randn({257}, b, dtype, 0.5, 2.0, target()), randn({257}, a, dtype, 0.5, 2.0), "randn");
    check_matches(uniform({257}, b, -1.0, 3.0, dtype, target()), uniform({257}, a, -1.0, 3.0, dtype), "uniform");
    check_matches(truncated_normal({257}, b, dtype, 0.0, 1.0, target()), truncated_normal({257}, a, dtype, 0.0, 1.0),
                  "truncated_normal");
    // Masks are compared bit for bit on every device: the same draws keep the same elements.
    for (double rate : {0.1, 0.5}) {
      Tensor on_cpu = Tensor::empty({1031}, dtype), on_dev = Tensor::empty({1031}, dtype, target());
      const PhiloxKey key = a.reserve(dropout_blocks(1031));
      on_cpu.backend().random().dropout_mask(dtype, on_cpu.raw_data(), on_cpu.numel(), rate, key);
      on_dev.backend().random().dropout_mask(dtype, on_dev.raw_data(), on_dev.numel(), rate, key);
      CHECK(on_dev.to_vector() == on_cpu.to_vector());
    }
  }
}

TEST_CASE("conformance: layers match the CPU", "[conformance][nn]") {
  for (DType dtype : {DType::float64, DType::float32}) {
    const Tensor x = normal({2, 3, 4}, 1, dtype), y = normal({2, 5, 6}, 2, dtype), key = normal({2, 5, 4}, 14, dtype);
    check_module("Dense", [](DType d) { return std::make_unique<nn::Dense>(nn::DenseOptions{.units = 5, .activation = "gelu", .input_dim = 4, .dtype = d, .seed = 3}); },
                 [&](nn::Dense& m, Device dev) { return m(x.to(dev)); }, dtype);
    check_module("LayerNorm", [](DType d) { return std::make_unique<nn::LayerNorm>(nn::LayerNormOptions{.input_dim = 4, .dtype = d, .seed = 4}); },
                 [&](nn::LayerNorm& m, Device dev) { return m(x.to(dev)); }, dtype);
    check_module("Embedding", [](DType d) { return std::make_unique<nn::Embedding>(nn::EmbeddingOptions{.input_dim = 7, .output_dim = 3, .dtype = d, .seed = 5}); },
                 [&](nn::Embedding& m, Device dev) { return m(index_tensor({6, 0, 3, 3}, {2, 2}).to(dev)); }, dtype);
    check_module("Dropout + Dense", [](DType d) {
                   auto s = std::make_unique<nn::Sequential>();
                   s->emplace<nn::Dense>(nn::DenseOptions{.units = 6, .input_dim = 4, .dtype = d, .seed = 6});
                   s->emplace<nn::Dropout>(0.3, Shape{}, 7);
                   s->to(d);
                   return s;
                 },
                 [&](nn::Sequential& m, Device dev) { return m(x.to(dev)); }, dtype);
    check_module("Attention (Keras)", [](DType d) { return std::make_unique<nn::Attention>(nn::AttentionLayerOptions{.use_scale = true, .dropout = 0.2, .dtype = d, .seed = 8}); },
                 [&](nn::Attention& m, Device dev) { return m(x.to(dev), y.to(dev), {.key = key.to(dev), .training = true}).output; }, dtype);
    check_module("MultiHeadAttention", [](DType d) { return std::make_unique<nn::MultiHeadAttention>(nn::MultiHeadAttentionOptions{.num_heads = 2, .key_dim = 3, .dropout = 0.1, .dtype = d, .seed = 9}); },
                 [&](nn::MultiHeadAttention& m, Device dev) {
                   return m(x.to(dev), y.to(dev), {.training = true, .use_causal_mask = false}).output;
                 }, dtype);
    check_module("FluxMultiHeadAttention", [](DType d) { return std::make_unique<nn::FluxMultiHeadAttention>(4, nn::FluxAttentionOptions{.nheads = 2, .bias = true, .dropout_prob = 0.1, .dtype = d, .seed = 10}); },
                 [&](nn::FluxMultiHeadAttention& m, Device dev) { return m(x.to(dev)).output; }, dtype);
    check_module("TransformerBlock", [](DType d) { return std::make_unique<nn::TransformerBlock>(nn::TransformerBlockOptions{.d_model = 4, .num_heads = 2, .dropout = 0.1, .dtype = d, .seed = 11}); },
                 [&](nn::TransformerBlock& m, Device dev) { return m(x.to(dev)); }, dtype);
  }
}

TEST_CASE("conformance: optimizers and clipping match the CPU step for step", "[conformance][optim]") {
  using Make = std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::NamedTensor>)>;
  const std::vector<std::pair<std::string, Make>> rules = {
      {"SGD nesterov", [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true}); }},
      {"Adam amsgrad", [](auto p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true}); }},
      {"AdamW", [](auto p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 0.01}); }},
      {"RMSprop centered", [](auto p) { return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions{.lr = 0.01, .momentum = 0.5, .centered = true}); }},
  };
  for (DType dtype : {DType::float64, DType::float32})
    for (const auto& [name, make] : rules) {
      INFO(name << " in " << dtype_name(dtype));
      Tensor p_cpu = normal({5, 3}, 40, dtype).set_requires_grad();
      Tensor p_dev = p_cpu.to(target()).set_requires_grad();
      auto opt_cpu = make({{"w", p_cpu}});
      auto opt_dev = make({{"w", p_dev}});
      for (int step = 0; step < 4; ++step) {
        const Tensor g = normal({5, 3}, 50 + static_cast<std::uint64_t>(step), dtype) * 3.0;
        p_cpu.set_grad(g.clone());
        p_dev.set_grad(g.to(target()));
        const double n_cpu = optim::clip_grad_norm(std::vector<Tensor>{p_cpu}, 2.0);
        const double n_dev = optim::clip_grad_norm(std::vector<Tensor>{p_dev}, 2.0);
        CHECK(n_dev == Approx(n_cpu).epsilon(tolerance(dtype).exact ? 0.0 : 1e-5));
        optim::clip_grad_value(std::vector<Tensor>{p_cpu}, 0.5);
        optim::clip_grad_value(std::vector<Tensor>{p_dev}, 0.5);
        opt_cpu->step();
        opt_dev->step();
        check_matches(p_dev, p_cpu, name + " parameter after step " + std::to_string(step + 1));
      }
    }
}

// The Tiny LM (the benchmark model: 2 pre-LN blocks, d_model 128, 4 heads, context 64, vocabulary 65) with
// dropout 0.1 for 20 Adam steps: the device must give the CPU's losses (testdev:0 bit for bit).
TEST_CASE("conformance: 20 Tiny LM training steps with dropout give the CPU's losses", "[conformance][model]") {
  const nn::TransformerLMOptions options{.vocab_size = 65, .context_length = 64, .d_model = 128, .num_heads = 4,
                                         .num_layers = 2, .dropout = 0.1, .seed = 2024};
  nn::TransformerLM cpu(options), dev(options);
  dev.to(target());
  optim::Adam opt_cpu(cpu.named_trainable_parameters(), {.lr = 3e-4});
  optim::Adam opt_dev(dev.named_trainable_parameters(), {.lr = 3e-4});
  const std::int64_t B = 8, T = 64;
  for (int step = 0; step < 20; ++step) {
    Generator data(100 + static_cast<std::uint64_t>(step));
    std::vector<std::int64_t> ids(static_cast<std::size_t>(B * (T + 1)));
    for (auto& id : ids) id = static_cast<std::int64_t>(data.next() % 65);
    const Tensor all = index_tensor(ids, {B, T + 1});
    const Tensor inputs = narrow(all, 1, 0, T), targets = narrow(all, 1, 1, T).clone();
    auto loss_of = [&](nn::TransformerLM& m, optim::Adam& opt, Device d) {
      m.reseed(7 + static_cast<std::uint64_t>(step));
      opt.zero_grad();
      Tensor loss = cross_entropy(reshape(m(inputs.clone().to(d)), {B * T, 65}), reshape(targets, {B * T}).to(d));
      loss.backward();
      opt.step();
      return loss.item();
    };
    const double want = loss_of(cpu, opt_cpu, Device{});
    const double got = loss_of(dev, opt_dev, target());
    INFO("step " << step + 1 << ": device " << got << ", cpu " << want);
    if (tolerance(DType::float32).exact)
      CHECK(got == want);
    else
      CHECK(got == Approx(want).epsilon(1e-4));
  }
}

TEST_CASE("conformance: checkpoints saved on one device load on the other", "[conformance][io]") {
  const auto dir = std::filesystem::temp_directory_path() / ("xgrad_conformance_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string from_device = (dir / "from_device.safetensors").string();
  const std::string from_cpu = (dir / "from_cpu.safetensors").string();
  nn::TransformerBlock on_dev({.d_model = 8, .num_heads = 2, .seed = 1});
  on_dev.to(target());
  io::save(on_dev, from_device);
  nn::TransformerBlock on_cpu({.d_model = 8, .num_heads = 2, .seed = 2});
  io::load(on_cpu, from_device);
  for (const auto& [name, t] : on_dev.state()) check_matches(t, on_cpu.find(name), "loaded " + name);

  nn::TransformerBlock source({.d_model = 8, .num_heads = 2, .seed = 3});
  io::save(source, from_cpu);
  io::load(on_dev, from_cpu);
  for (const auto& [name, t] : source.state()) check_matches(on_dev.find(name), t, "loaded on the device " + name);
  std::filesystem::remove_all(dir);
}

TEST_CASE("conformance: generation on the device picks the CPU's tokens", "[conformance][model]") {
  const nn::TransformerLMOptions options{.vocab_size = 11, .context_length = 8, .d_model = 8, .num_heads = 2,
                                         .num_layers = 1, .seed = 21};
  nn::TransformerLM cpu(options), dev(options);
  dev.to(target());
  const Tensor prompt = index_tensor({1, 2, 3}, {1, 3});
  for (bool use_cache : {true, false}) {
    Generator a(3), b(3);
    const Tensor want = cpu.generate(prompt, 6, 0.0, a, use_cache);  // greedy: argmax of each step's logits
    const Tensor got = dev.generate(prompt.to(target()), 6, 0.0, b, use_cache);
    CHECK(got.device() == target());
    CHECK(got.to_vector() == want.to_vector());
  }
}

TEST_CASE("conformance: a float32 model converted to float64 gradchecks on the device", "[conformance][gradcheck]") {
  nn::TransformerBlock block({.d_model = 4, .num_heads = 2, .seed = 12});
  block.to(DType::float64).to(target());
  REQUIRE(block.dtype() == DType::float64);
  const Tensor x = normal({1, 3, 4}, 13).to(target()).set_requires_grad();
  const Tensor w = block.mlp_in.kernel();
  const GradcheckReport r = gradcheck([&](const std::vector<Tensor>& in) { return block(in[0]); }, {x, w});
  INFO(r.to_string());
  CHECK(r.passed);
}
