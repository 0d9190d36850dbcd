#pragma once
// Seeded, counter-based random number generation: the same seed gives the same tensors, on every device
// and every thread count.
#include <cstdint>
#include <optional>

#include "xgrad/tensor/philox.hpp"

namespace xgrad {

/// A stream of Philox4x32-10 blocks: a seed (the key) and an offset (the next unused block). Kernels
/// reserve a range of blocks and draw element i from a fixed block of it, so a random tensor does not
/// depend on the device or on how the work was split. Its whole state is (seed, offset).
class Generator {
 public:
  /// A generator at the start of stream `seed`.
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}

  /// Restarts the stream from `seed` (offset 0).
  void seed(std::uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  /// The seed (Philox key) of the stream.
  std::uint64_t initial_seed() const { return seed_; }
  /// The next unused block.
  std::uint64_t offset() const { return offset_; }
  /// Moves to block `offset` of the current stream (restores a saved state with seed()).
  void set_offset(std::uint64_t offset) { offset_ = offset; }

  /// Reserves `blocks` blocks for a kernel and returns where they start.
  PhiloxKey reserve(std::uint64_t blocks) {
    const PhiloxKey key{seed_, offset_};
    offset_ += blocks;
    return key;
  }

  /// 64 uniformly random bits (one block).
  std::uint64_t next();
  /// A uniform double in [0, 1) (one block).
  double uniform();
  /// A standard normal double by Box-Muller (one block): the same draw as element 0 of a normal fill.
  double normal();

 private:
  std::uint64_t seed_ = 0;
  std::uint64_t offset_ = 0;
};

/// The process-wide generator that layers without an explicit seed draw their seeds from. It starts
/// at seed 0, so a program builds the same model on every run. Not for concurrent use without a lock:
/// prefer next_seed() and manual_seed(), which lock.
Generator& default_generator();

/// Restarts the default generator from `seed`: layers constructed afterwards get seeds derived from it.
void manual_seed(std::uint64_t seed);

/// A fresh seed drawn from the default generator (thread-safe): what a layer built without an explicit
/// seed uses, so layers built in the same order get the same seeds on every run, and distinct ones.
std::uint64_t next_seed();

/// `seed` when given, else next_seed(): how a layer resolves its optional seed option.
inline std::uint64_t seed_or_next(const std::optional<std::uint64_t>& seed) { return seed ? *seed : next_seed(); }

}  // namespace xgrad
