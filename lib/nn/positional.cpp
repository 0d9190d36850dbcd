// Positional tables: both add a slice of a (max_len, d_model) table, so the learned one's gradient is the
// slice op's (the rows the chunk used) and the fixed one has none.
#include "xgrad/nn/positional.hpp"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"
#include "xgrad/tensor/generator.hpp"

namespace xgrad::nn {

namespace {

void check_sizes(const char* layer, std::int64_t max_len, std::int64_t d_model) {
  if (max_len <= 0 || d_model <= 0)
    throw ValueError(fmt::format("{}: max_len and d_model must be positive, got {} and {}", layer, max_len, d_model));
}

// x + table[offset : offset + T], broadcast over the batch.
Tensor add_positions(const char* layer, const Tensor& x, const Tensor& table, std::int64_t offset) {
  require_defined(x, layer, "x");
  const std::int64_t max_len = table.size(0), d = table.size(1);
  if (x.dim() != 3 || x.size(2) != d)
    throw ShapeError(fmt::format("{}: x must be (batch, time, {}), got {}", layer, d, shape_str(x.shape())));
  const std::int64_t T = x.size(1);
  if (offset < 0 || offset + T > max_len)
    throw ShapeError(fmt::format("{}: positions {} … {} of x {} (offset {}) exceed max_len {}", layer, offset,
                                 offset + T - 1, shape_str(x.shape()), offset, max_len));
  return add(x, slice(table, 0, offset, offset + T));
}

}  // namespace

PositionalEmbedding::PositionalEmbedding(std::int64_t max_len, std::int64_t d_model, DType dtype,
                                         std::optional<std::uint64_t> seed)
    : Layer("PositionalEmbedding", dtype) {
  check_sizes("PositionalEmbedding", max_len, d_model);
  Generator gen(seed_or_next(seed));
  embeddings_ = register_parameter("embeddings", randn({max_len, d_model}, gen, dtype, 0.0, 0.02));
}

Tensor PositionalEmbedding::forward(const Tensor& x, std::int64_t offset) {
  return add_positions("PositionalEmbedding", x, embeddings_, offset);
}

std::string PositionalEmbedding::describe() const {
  return fmt::format("max_len={}, d_model={}", embeddings_.size(0), embeddings_.size(1));
}

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(std::int64_t max_len, std::int64_t d_model, DType dtype)
    : Layer("SinusoidalPositionalEncoding", dtype) {
  check_sizes("SinusoidalPositionalEncoding", max_len, d_model);
  std::vector<double> pe(static_cast<std::size_t>(max_len * d_model));
  for (std::int64_t p = 0; p < max_len; ++p)
    for (std::int64_t j = 0; j < d_model; ++j) {
      // columns 2i and 2i+1 share the frequency 10000^(-2i/d)
      const double angle = static_cast<double>(p) / std::pow(10000.0, static_cast<double>(j - j % 2) / d_model);
      pe[static_cast<std::size_t>(p * d_model + j)] = j % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  encodings_ = register_buffer("encodings", from_vector(pe, {max_len, d_model}, dtype));
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x, std::int64_t offset) {
  return add_positions("SinusoidalPositionalEncoding", x, encodings_, offset);
}

std::string SinusoidalPositionalEncoding::describe() const {
  return fmt::format("max_len={}, d_model={}", encodings_.size(0), encodings_.size(1));
}

}  // namespace xgrad::nn
