#pragma once
// Kernel table of random draws (see backend.hpp). Every draw is a pure function of a PhiloxKey and the
// element's index (tensor/philox.hpp), so a backend may compute elements in any order on any number
// of threads and still write exactly what every other backend writes.
#include <cstdint>

#include "xgrad/backend/backend.hpp"
#include "xgrad/tensor/philox.hpp"

namespace xgrad {

/// Distributions of RandomKernels::fill.
enum class Distribution : std::uint8_t {
  uniform,           ///< uniform in [a, b)
  normal,            ///< normal with mean a and standard deviation b
  truncated_normal,  ///< normal with mean a and standard deviation b, redrawn outside a +- 2b
};

/// Number of Philox blocks a fill of `n` elements uses (one per element).
constexpr std::uint64_t fill_blocks(std::int64_t n) { return static_cast<std::uint64_t>(n); }
/// Number of Philox blocks a dropout mask of `n` elements uses (four elements per block).
constexpr std::uint64_t dropout_blocks(std::int64_t n) { return (static_cast<std::uint64_t>(n) + 3) / 4; }

/// Device kernels behind random tensors and dropout. Pointers are device pointers to `n` contiguous
/// elements of a floating `dtype`.
class RandomKernels {
 public:
  virtual ~RandomKernels() = default;

  /// out[i] = a draw from `dist` made from block key.offset + i of stream key.seed, computed in double and
  /// rounded to `dtype`: uniform is a + (b - a) * philox_unit_double(w0, w1) (kept below b after rounding),
  /// normal is a + b * normal_draw<double>, truncated_normal is a + b * truncated_normal_draw<double>
  /// (philox.hpp).
  virtual void fill(Distribution dist, DType dtype, void* out, std::int64_t n, double a, double b,
                    PhiloxKey key) const = 0;
  /// mask[i] = dropout_keeps(key, i, dropout_threshold(rate)) ? 1 / (1 - rate) : 0, for rate in [0, 1).
  virtual void dropout_mask(DType dtype, void* mask, std::int64_t n, double rate, PhiloxKey key) const = 0;
};

}  // namespace xgrad
