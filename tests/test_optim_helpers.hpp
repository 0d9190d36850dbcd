#pragma once
// Comparisons shared by the optim and loss tests.
#include <catch2/catch.hpp>

#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::test {

/// Checks every element of `t` against `expected` within `tol`, absolute or relative.
inline void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  const std::vector<double> got = t.to_vector();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(expected[i]).margin(tol).epsilon(tol));
  }
}

}  // namespace xgrad::test
