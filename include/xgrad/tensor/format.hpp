#pragma once
// Printing tensors the way NumPy prints arrays.
#include <fmt/format.h>

#include <ostream>
#include <string>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// NumPy-style text of `t`: nested brackets, aligned columns, "..." past 1000 elements,
/// followed by ", dtype=..." when the dtype is not float32 and ", requires_grad=True" when set.
std::string to_string(const Tensor& t);

/// Writes to_string(t).
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace xgrad

/// fmt support: `fmt::print("{}", tensor)` prints to_string(tensor).
template <>
struct fmt::formatter<xgrad::Tensor> : fmt::formatter<std::string> {
  /// Formats the tensor as xgrad::to_string does.
  template <class FormatContext>
  auto format(const xgrad::Tensor& t, FormatContext& ctx) const {
    return fmt::formatter<std::string>::format(xgrad::to_string(t), ctx);
  }
};

