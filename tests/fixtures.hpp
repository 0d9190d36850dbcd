#pragma once
// Reading the reference fixtures that tools/ scripts write with PyTorch (tests never run Python).
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "testing.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::test {

/// Parses tests/fixtures/<name>; fails loudly when the file is missing.
inline nlohmann::json load_fixture(const std::string& name) {
  const std::string path = std::string(XGRAD_FIXTURE_DIR) + "/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing fixture " + path + " (regenerate it with the script in tools/)");
  return nlohmann::json::parse(in);
}

/// A fixture tensor written as {"shape": [...], "data": [...]} (row-major), as `dtype`.
inline Tensor fixture_tensor(const nlohmann::json& j, DType dtype = DType::float64) {
  Shape shape = j.at("shape").get<Shape>();
  if (dtype == DType::int64) return index_tensor(j.at("data").get<std::vector<std::int64_t>>(), shape);
  return from_vector(j.at("data").get<std::vector<double>>(), shape, dtype);
}

/// A fixture case {"x", "y", "grad_out", "grad_x"}: fn(x) matches y, and back-propagating grad_out from it
/// gives x the gradient grad_x (all float64, within `tol`).
inline void check_value_and_grad(const nlohmann::json& c, const std::function<Tensor(const Tensor&)>& fn,
                                 double tol = 1e-12) {
  Tensor x = fixture_tensor(c.at("x")).set_requires_grad();
  Tensor y = fn(x);
  check_close(y, fixture_tensor(c.at("y")), tol);
  y.backward(fixture_tensor(c.at("grad_out")));
  check_close(x.grad(), fixture_tensor(c.at("grad_x")), tol);
}

}  // namespace xgrad::test
