#pragma once
// What the tests of the CUDA plugin's host/device arithmetic share: the CPU backend they compare with and
// seeded normal inputs.
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

#include "xgrad/backend/backend.hpp"

namespace xgrad::test::cuda_math {

/// +infinity in double.
inline constexpr double kInf = std::numeric_limits<double>::infinity();

/// The CPU backend: the reference every CUDA formula is checked against.
inline Backend& cpu() { return backend(Device{}); }

/// n normal values of standard deviation `scale`, the same for the same seed.
inline std::vector<double> normals(std::size_t n, unsigned seed, double scale = 1.0) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> dist(0.0, scale);
  std::vector<double> v(n);
  for (double& x : v) x = dist(gen);
  return v;
}

}  // namespace xgrad::test::cuda_math
