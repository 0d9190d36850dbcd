#pragma once
// Reading the reference fixtures that tools/ scripts write with PyTorch (tests never run Python).
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

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

}  // namespace xgrad::test
