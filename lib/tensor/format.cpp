#include "xgrad/tensor/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace xgrad {

namespace {

constexpr std::int64_t kSummariseAbove = 1000;  // NumPy's print threshold
constexpr std::int64_t kEdgeItems = 3;

// NumPy prints floats with up to 8 significant decimals, dropping trailing zeros ("1." for 1.0).
std::string format_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{:.8f}", v);
  s.erase(s.find_last_not_of('0') + 1);
  if (s == "-0.") s = "-0.";
  return s;
}

struct Printer {
  const std::vector<double>& values;
  const Shape& shape;
  bool is_float;
  bool summarise;
  std::size_t width = 0;

  std::string element(std::int64_t flat) const {
    const double v = values[static_cast<std::size_t>(flat)];
    return is_float ? format_float(v) : fmt::format("{}", static_cast<std::int64_t>(v));
  }

  template <class Fn>
  void for_each_shown(std::int64_t extent, Fn&& fn) const {
    for (std::int64_t i = 0; i < extent; ++i) {
      if (summarise && extent > 2 * kEdgeItems && i == kEdgeItems) {
        fn(-1);
        i = extent - kEdgeItems - 1;
        continue;
      }
      fn(i);
    }
  }

  void measure(std::size_t axis, std::int64_t base) {
    if (axis == shape.size()) {
      width = std::max(width, element(base).size());
      return;
    }
    for_each_shown(shape[axis], [&](std::int64_t i) {
      if (i >= 0) measure(axis + 1, base * shape[axis] + i);
    });
  }

  void print(std::string& out, std::size_t axis, std::int64_t base, std::size_t indent) const {
    if (axis == shape.size()) {
      std::string e = element(base);
      out += std::string(width - e.size(), ' ') + e;
      return;
    }
    out += '[';
    bool first = true;
    const bool innermost = axis + 1 == shape.size();
    const std::size_t blank_lines = innermost ? 0 : shape.size() - axis - 2;
    for_each_shown(shape[axis], [&](std::int64_t i) {
      if (!first) {
        if (innermost) {
          out += ' ';
        } else {
          out += std::string(1 + blank_lines, '\n') + std::string(indent + 1, ' ');
        }
      }
      first = false;
      if (i < 0) {
        out += "...";
        return;
      }
      print(out, axis + 1, base * shape[axis] + i, indent + 1);
    });
    out += ']';
  }
};

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "Tensor(undefined)";
  const std::vector<double> values = t.to_vector();
  Printer p{values, t.shape(), is_floating(t.dtype()), t.numel() > kSummariseAbove};
  p.measure(0, 0);
  std::string out;
  p.print(out, 0, 0, 0);
  if (t.dtype() != DType::float32) out += fmt::format(", dtype={}", dtype_name(t.dtype()));
  if (t.requires_grad()) out += ", requires_grad=True";
  return out;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace xgrad
