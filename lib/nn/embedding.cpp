#include "xgrad/nn/embedding.hpp"

#include <fmt/format.h>

#include "nn/penalties.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

Embedding::Embedding(EmbeddingOptions options)
    : Layer("Embedding", options.dtype), options_(std::move(options)), gen_(seed_or_next(options_.seed)) {
  options_.seed = gen_.initial_seed();
  if (options_.input_dim <= 0 || options_.output_dim <= 0)
    throw ValueError(fmt::format("Embedding: input_dim and output_dim must be positive, got input_dim={} "
                                 "output_dim={}",
                                 options_.input_dim, options_.output_dim));
  embeddings_ = register_parameter(
      "embeddings", options_.embeddings_initializer({options_.input_dim, options_.output_dim}, dtype(), gen_));
}

Embedding::Embedding(std::int64_t input_dim, std::int64_t output_dim, Initializer embeddings_initializer,
                     bool mask_zero)
    : Embedding(EmbeddingOptions{.input_dim = input_dim,
                                 .output_dim = output_dim,
                                 .embeddings_initializer = std::move(embeddings_initializer),
                                 .mask_zero = mask_zero}) {}

void Embedding::check_ids(const Tensor& ids) const {
  require_defined(ids, "Embedding", "ids");
  if (ids.dtype() != DType::int64)
    throw TypeError(fmt::format("Embedding: ids must be an int64 tensor, got {} of shape {}",
                                dtype_name(ids.dtype()), shape_str(ids.shape())));
}

Tensor Embedding::forward(const Tensor& ids) {
  check_ids(ids);
  return embedding(ids, embeddings_);
}

Tensor Embedding::compute_mask(const Tensor& ids) const {
  check_ids(ids);
  if (!options_.mask_zero) return {};
  return where(ids, ones({}, DType::float64, ids.device()), zeros({}, DType::float64, ids.device())).to(DType::int64);
}

Tensor Embedding::own_regularization_loss() const {
  Tensor total;
  detail::add_penalty(total, options_.embeddings_regularizer, embeddings_);
  return total;
}

void Embedding::apply_own_constraints() {
  if (options_.embeddings_constraint) options_.embeddings_constraint.apply_(embeddings_);
}

}  // namespace xgrad::nn
