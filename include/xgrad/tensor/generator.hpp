#pragma once
// Explicit, seeded random number generation: the same seed gives the same tensors.
#include <cstdint>
#include <random>

namespace xgrad {

/// A seeded pseudo-random source; pass it explicitly to every random creation function.
class Generator {
 public:
  /// A generator whose stream is fully determined by `seed`.
  explicit Generator(std::uint64_t seed = 0) : engine_(seed) {}

  /// Restarts the stream from `seed`.
  void seed(std::uint64_t seed) { engine_.seed(seed); }
  /// A uniform double in [0, 1).
  double uniform() { return std::generate_canonical<double, 53>(engine_); }
  /// A standard normal double (Box-Muller, identical on every platform).
  double normal();
  /// 64 uniformly random bits.
  std::uint64_t next() { return engine_(); }

 private:
  std::mt19937_64 engine_;
  double spare_normal_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace xgrad
