#include "xgrad/tensor/creation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "xgrad/backend/random.hpp"

namespace xgrad {

namespace {

// Random and literal data are produced on the host, then copied to the target device.
template <class Fill>
Tensor from_host(const Shape& shape, DType dtype, Device device, Fill&& fill) {
  Tensor host = Tensor::empty(shape, dtype);
  dispatch_any(dtype, [&](auto t) { fill(host.host_data<decltype(t)>(), host.numel()); });
  return device.type == DeviceType::cpu ? host : host.to(device);
}

}  // namespace

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& like) { return zeros(like.shape(), like.dtype(), like.device()); }
Tensor ones_like(const Tensor& like) { return ones(like.shape(), like.dtype(), like.device()); }
Tensor scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor arange(double start, double stop, double step, DType dtype, Device device) {
  if (step == 0.0) throw ValueError("arange: step must not be zero");
  const double span = std::ceil((stop - start) / step);
  if (!std::isfinite(span) || span > 1e15)
    throw ValueError(fmt::format("arange: cannot make a range from {} to {} in steps of {}", start, stop, step));
  const auto n = static_cast<std::int64_t>(span > 0 ? span : 0);
  return from_host({n}, dtype, device, [&](auto* dst, std::int64_t count) {
    using T = std::remove_pointer_t<decltype(dst)>;
    for (std::int64_t i = 0; i < count; ++i)
      dst[i] = element_from_double<T>(start + static_cast<double>(i) * step, "arange");
  });
}

Tensor arange(std::int64_t n, DType dtype, Device device) {
  return arange(0.0, static_cast<double>(n), 1.0, dtype, device);
}

namespace {

// A random tensor drawn on its own device from the next fill_blocks(n) blocks of `gen`.
Tensor random_tensor(const char* op, Distribution dist, const Shape& shape, Generator& gen, DType dtype, double a,
                     double b, Device device) {
  if (!is_floating(dtype)) throw TypeError(fmt::format("{}: dtype must be float32 or float64, got int64", op));
  Tensor t = Tensor::empty(shape, dtype, device);
  t.backend().random().fill(dist, dtype, t.raw_data(), t.numel(), a, b, gen.reserve(fill_blocks(t.numel())));
  return t;
}

}  // namespace

Tensor randn(const Shape& shape, Generator& gen, DType dtype, double mean, double stddev, Device device) {
  return random_tensor("randn", Distribution::normal, shape, gen, dtype, mean, stddev, device);
}

Tensor truncated_normal(const Shape& shape, Generator& gen, DType dtype, double mean, double stddev, Device device) {
  if (!(stddev >= 0.0)) throw ValueError(fmt::format("truncated_normal: stddev must be >= 0, got {}", stddev));
  return random_tensor("truncated_normal", Distribution::truncated_normal, shape, gen, dtype, mean, stddev, device);
}

Tensor uniform(const Shape& shape, Generator& gen, double low, double high, DType dtype, Device device) {
  if (!(low <= high)) throw ValueError(fmt::format("uniform: low ({}) must not exceed high ({})", low, high));
  return random_tensor("uniform", Distribution::uniform, shape, gen, dtype, low, high, device);
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  if (static_cast<std::int64_t>(values.size()) != numel(shape))
    throw ShapeError(fmt::format("from_vector: {} values cannot fill shape {} ({} elements)", values.size(),
                                 shape_str(shape), numel(shape)));
  return from_host(shape, dtype, device, [&](auto* dst, std::int64_t count) {
    using T = std::remove_pointer_t<decltype(dst)>;
    for (std::int64_t i = 0; i < count; ++i) dst[i] = static_cast<T>(values[static_cast<std::size_t>(i)]);
  });
}

Tensor tensor(std::initializer_list<double> values, DType dtype) {
  return from_vector(std::vector<double>(values), {static_cast<std::int64_t>(values.size())}, dtype);
}

Tensor index_tensor(const std::vector<std::int64_t>& values, const Shape& shape) {
  if (static_cast<std::int64_t>(values.size()) != numel(shape))
    throw ShapeError(fmt::format("index_tensor: {} values cannot fill shape {} ({} elements)", values.size(),
                                 shape_str(shape), numel(shape)));
  Tensor t = Tensor::empty(shape, DType::int64);
  std::copy(values.begin(), values.end(), t.host_data<std::int64_t>());
  return t;
}

}  // namespace xgrad
