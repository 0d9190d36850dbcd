#include "lm_problem.hpp"

#include <algorithm>
#include <cmath>

#include "xgrad/io/checkpoint.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::dist::test {

namespace {
constexpr std::int64_t kVocab = 11;
}

nn::TransformerLMOptions small_lm(std::uint64_t seed) {
  return {.vocab_size = kVocab, .context_length = kContext, .d_model = 16, .num_heads = 2, .num_layers = 2,
          .dropout = 0.0, .dtype = DType::float64, .seed = seed};
}

Batch global_batch(std::int64_t step, std::int64_t rows) {
  Generator gen(1000 + std::uint64_t(step));
  const auto u = uniform({rows, kContext + 1}, gen, 0.0, double(kVocab), DType::float64).to_vector();
  std::vector<std::int64_t> ids, targets;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t t = 0; t < kContext; ++t) {
      auto token = [&](std::int64_t k) {
        return std::min(kVocab - 1, std::int64_t(u[std::size_t(r * (kContext + 1) + k)]));
      };
      ids.push_back(token(t));
      targets.push_back(token(t + 1));
    }
  return {index_tensor(ids, {rows, kContext}), index_tensor(targets, {rows, kContext})};
}

Batch take(const Batch& batch, const Shard& shard) {
  return {take_rows(batch.ids, shard), take_rows(batch.targets, shard)};
}

Tensor lm_loss(nn::TransformerLM& model, const Batch& batch) {
  const Tensor logits = model(batch.ids);
  const std::int64_t n = batch.ids.numel();
  return cross_entropy(reshape(logits, {n, model.options().vocab_size}), reshape(batch.targets, {n}));
}

void train_single_process(nn::TransformerLM& model, int steps, std::int64_t rows) {
  optim::Adam adam(model.named_trainable_parameters(), {.lr = 1e-2});
  for (int s = 0; s < steps; ++s) {
    adam.zero_grad();
    lm_loss(model, global_batch(s, rows)).backward();
    adam.step();
  }
}

double max_parameter_difference(const nn::Module& a, const nn::Module& b) {
  double worst = 0;
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const auto va = pa[i].second.to_vector(), vb = pb[i].second.to_vector();
    for (std::size_t k = 0; k < va.size(); ++k) worst = std::max(worst, std::abs(va[k] - vb[k]));
  }
  return worst;
}

std::unique_ptr<nn::TransformerLM> copy_of(const nn::TransformerLM& source, const nn::TransformerLMOptions& options) {
  auto copy = std::make_unique<nn::TransformerLM>(options);
  io::copy_state(copy->state(), source.state(), /*strict=*/true, "the reference model");
  return copy;
}

}  // namespace xgrad::dist::test
