#pragma once
// Helpers shared by the tests: closeness to a reference, the gradcheck protocol, typed-error checks.
#include <catch2/catch.hpp>

#include <functional>
#include <vector>

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/tensor/creation.hpp"

// Checks the exception's type and its message (a string for equality, or a Catch matcher).
#define CHECK_ERROR(expr, type, message) \
  do {                                   \
    CHECK_THROWS_AS(expr, type);         \
    CHECK_THROWS_WITH(expr, message);    \
  } while (false)

namespace xgrad::test {

/// Every element of `got` within `tol` (absolute + relative) of the float64 reference `want`.
inline void check_close(const Tensor& got, const Tensor& want, double tol = 1e-12) {
  REQUIRE(got.defined());
  REQUIRE(got.shape() == want.shape());
  const auto g = got.to_vector(), w = want.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i);
    CHECK(g[i] == Approx(w[i]).margin(tol).epsilon(tol));
  }
}

/// The attention tests' protocol: float64, central differences, |analytic - numeric| <= 1e-6 max(1, |numeric|).
inline void check_gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                            const std::vector<Tensor>& inputs) {
  const GradcheckReport r = gradcheck(fn, inputs);
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.max_rel_error <= 1e-6);
}

/// A float64 leaf of standard normal values that requires grad.
inline Tensor randn64(const Shape& shape, std::uint64_t seed, double scale = 1.0) {
  Generator gen(seed);
  return randn(shape, gen, DType::float64, 0.0, scale).set_requires_grad();
}

}  // namespace xgrad::test
