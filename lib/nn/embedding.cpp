#include "xgrad/nn/embedding.hpp"

#include <fmt/format.h>

#include "nn/penalties.hpp"
#include "xgrad/ops/nn.hpp"

namespace xgrad::nn {

Embedding::Embedding(EmbeddingOptions options)
    : Layer("Embedding"), options_(std::move(options)), gen_(options_.seed) {
  if (options_.input_dim <= 0 || options_.output_dim <= 0)
    throw ValueError(fmt::format("Embedding: input_dim and output_dim must be positive, got input_dim={} "
                                 "output_dim={}",
                                 options_.input_dim, options_.output_dim));
  if (!is_floating(options_.dtype))
    throw TypeError(fmt::format("Embedding: dtype must be float32 or float64, got {}", dtype_name(options_.dtype)));
  embeddings_ = register_parameter(
      "embeddings", options_.embeddings_initializer({options_.input_dim, options_.output_dim}, options_.dtype, gen_));
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
  Tensor mask = ids.to(Device{});
  for (std::int64_t *id = mask.host_data<std::int64_t>(), *end = id + mask.numel(); id != end; ++id)
    *id = *id != 0 ? 1 : 0;
  return mask.to(ids.device());
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
