#pragma once
// Functions that make new tensors.
#include <vector>

#include "xgrad/tensor/generator.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Tensor of `shape` filled with 0.
Tensor zeros(const Shape& shape, DType dtype = DType::float32, Device device = {});
/// Tensor of `shape` filled with 1.
Tensor ones(const Shape& shape, DType dtype = DType::float32, Device device = {});
/// Tensor of `shape` filled with `value`.
Tensor full(const Shape& shape, double value, DType dtype = DType::float32, Device device = {});
/// Zeros with the shape, dtype and device of `like`.
Tensor zeros_like(const Tensor& like);
/// Ones with the shape, dtype and device of `like`.
Tensor ones_like(const Tensor& like);
/// 1-D tensor start, start+step, ... (excluding stop), like numpy.arange; throws ValueError if step is 0.
Tensor arange(double start, double stop, double step = 1.0, DType dtype = DType::float32,
              Device device = {});
/// 1-D tensor 0, 1, ..., n-1.
Tensor arange(std::int64_t n, DType dtype = DType::float32, Device device = {});
/// Normal samples (mean, stddev) drawn on `device` from `gen`: element i comes from the i-th block `gen`
/// hands out, so the same generator state gives the same tensor on every device and thread count.
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::float32, double mean = 0.0,
             double stddev = 1.0, Device device = {});
/// Normal samples (mean, stddev) redrawn until within mean +- 2 stddev (Keras's TruncatedNormal), drawn
/// like randn; ValueError for a negative stddev.
Tensor truncated_normal(const Shape& shape, Generator& gen, DType dtype = DType::float32, double mean = 0.0,
                        double stddev = 1.0, Device device = {});
/// Uniform samples in [low, high) drawn like randn; ValueError when low > high.
Tensor uniform(const Shape& shape, Generator& gen, double low = 0.0, double high = 1.0,
               DType dtype = DType::float32, Device device = {});
/// Tensor of `shape` holding `values` (row-major, converted to `dtype`); throws ShapeError on a count mismatch.
Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                   DType dtype = DType::float32, Device device = {});
/// 1-D tensor holding `values`.
Tensor tensor(std::initializer_list<double> values, DType dtype = DType::float32);
/// int64 tensor of `shape` holding `values` (class labels, token ids).
Tensor index_tensor(const std::vector<std::int64_t>& values, const Shape& shape);
/// Scalar (0-d) tensor holding `value`.
Tensor scalar(double value, DType dtype = DType::float32, Device device = {});

}  // namespace xgrad
