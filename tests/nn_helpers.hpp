#pragma once
// Small helpers shared by the nn layer tests.
#include <catch2/catch.hpp>

#include <string>

#include "test_optim_helpers.hpp"  // check_values: one definition for every test (an inline twin would clash)
#include "xgrad/tensor/creation.hpp"

namespace xgrad::test {

/// The message of the exception of type E that `f` throws; "<nothing thrown>" when it returns.
/// An exception of another type propagates, which fails the test with its message.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<nothing thrown>";
}

/// Standard normal float64 samples of `shape` from a generator seeded with `seed`.
inline Tensor randn64(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, DType::float64);
}

}  // namespace xgrad::test
