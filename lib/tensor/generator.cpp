#include "xgrad/tensor/generator.hpp"

#include <mutex>

namespace xgrad {

std::uint64_t Generator::next() {
  const PhiloxBlock b = philox_block(seed_, offset_++);
  return (std::uint64_t{b.w[0]} << 32) | b.w[1];
}

double Generator::uniform() {
  const PhiloxBlock b = philox_block(seed_, offset_++);
  return philox_unit_double(b.w[0], b.w[1]);
}

double Generator::normal() { return normal_draw<double>(philox_block(seed_, offset_++)); }

namespace {

std::mutex& default_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(std::uint64_t seed) {
  std::lock_guard lock(default_mutex());
  default_generator().seed(seed);
}

std::uint64_t next_seed() {
  std::lock_guard lock(default_mutex());
  return default_generator().next();
}

}  // namespace xgrad
