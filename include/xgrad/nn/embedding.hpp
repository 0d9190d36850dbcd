#pragma once
// Embedding: Keras's lookup table from integer ids to dense vectors.
#include <cstdint>
#include <optional>

#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/regularizers.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::nn {

/// Embedding's arguments, named as in Keras.
struct EmbeddingOptions {
  std::int64_t input_dim = 0;                  ///< vocabulary size: ids lie in [0, input_dim)
  std::int64_t output_dim = 0;                 ///< length of each vector
  Initializer embeddings_initializer = "uniform";  ///< Keras's default: uniform in [-0.05, 0.05)
  Regularizer embeddings_regularizer = {};     ///< penalty on `embeddings`
  Constraint embeddings_constraint = {};       ///< projection of `embeddings`
  bool mask_zero = false;                      ///< id 0 is padding: compute_mask() gives ids != 0
  DType dtype = DType::float32;                ///< dtype of the table
  std::optional<std::uint64_t> seed = {};      ///< seed of the initializer (default: next_seed())
};

/// Keras Embedding (torch.nn.Embedding): int64 ids of any shape -> ids.shape + (output_dim,), rows of
/// the `embeddings` table (input_dim, output_dim), built at construction.
class Embedding : public Layer {
 public:
  /// A table with `options`; throws ValueError unless input_dim and output_dim are positive.
  explicit Embedding(EmbeddingOptions options);
  /// Embedding({.input_dim = input_dim, .output_dim = output_dim, ...}).
  Embedding(std::int64_t input_dim, std::int64_t output_dim, Initializer embeddings_initializer = "uniform",
            bool mask_zero = false);

  /// The rows picked by `ids` (int64); throws TypeError for other dtypes, IndexError for an id
  /// outside [0, input_dim).
  Tensor forward(const Tensor& ids) override;
  /// With mask_zero, an int64 tensor shaped like `ids` holding 1 where ids != 0 and 0 at padding;
  /// without it, an undefined tensor (Keras's None).
  Tensor compute_mask(const Tensor& ids) const;
  /// The (input_dim, output_dim) table.
  const Tensor& embeddings() const { return embeddings_; }

 protected:
  /// embeddings_regularizer(embeddings).
  Tensor own_regularization_loss() const override;
  /// Projects the table onto its constraint.
  void apply_own_constraints() override;

 private:
  void check_ids(const Tensor& ids) const;

  EmbeddingOptions options_;
  Generator gen_;
  Tensor embeddings_;
};

}  // namespace xgrad::nn
