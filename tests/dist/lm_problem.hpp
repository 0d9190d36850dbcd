#pragma once
// A small float64 Transformer LM problem shared by the data-parallel tests: the same global batches on
// every rank, and a single-process reference run to compare with.
#include <cstdint>
#include <functional>
#include <vector>

#include "xgrad/dist/shard.hpp"
#include "xgrad/nn/transformer.hpp"
#include "xgrad/optim/optimizers.hpp"

namespace xgrad::dist::test {

/// Rows of the global batch of every step.
constexpr std::int64_t kGlobalRows = 32;
/// Tokens per row.
constexpr std::int64_t kContext = 8;

/// A 2-block float64 TransformerLM, dropout 0 (vocabulary 11, width 16, 2 heads), initialised from `seed`.
nn::TransformerLMOptions small_lm(std::uint64_t seed);

/// Input ids and next-token targets of a global batch.
struct Batch {
  Tensor ids;      ///< (rows, context) int64
  Tensor targets;  ///< (rows, context) int64
};
/// The global batch of `step`: the same on every rank (it depends only on the step).
Batch global_batch(std::int64_t step, std::int64_t rows = kGlobalRows);
/// The rows of `shard` of `batch`.
Batch take(const Batch& batch, const Shard& shard);

/// Mean next-token cross-entropy of `model` on `batch`.
Tensor lm_loss(nn::TransformerLM& model, const Batch& batch);

/// Trains `model` alone for `steps` Adam steps (lr 1e-2) on the full global batches: the reference.
void train_single_process(nn::TransformerLM& model, int steps, std::int64_t rows = kGlobalRows);

/// Largest |a - b| over every parameter of two models with the same parameter names.
double max_parameter_difference(const nn::Module& a, const nn::Module& b);

/// A model with `options` whose parameters are copied from `source` (the reference starts where DDP started).
std::unique_ptr<nn::TransformerLM> copy_of(const nn::TransformerLM& source, const nn::TransformerLMOptions& options);

}  // namespace xgrad::dist::test
