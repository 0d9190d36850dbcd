#include "xgrad/tensor/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

// A port of NumPy 1.24's str(ndarray) with default print options (arrayprint.py): precision 8,
// floatmode "maxprec", threshold 1000, edgeitems 3, linewidth 75. Floats print with the shortest
// digits that identify them *in their own dtype* (float32 1.1 is "1.1"), capped at 8 decimals.

namespace xgrad {

namespace {

constexpr std::int64_t kThreshold = 1000;
constexpr std::int64_t kEdgeItems = 3;
constexpr std::size_t kLineWidth = 75;
constexpr int kPrecision = 8;

// Shortest round-trip text of v in its dtype; with `digits` >= 0, v rounded to that many digits
// after the point instead.
template <class T>
std::string chars(T v, std::chars_format format, int digits = -1) {
  char buf[512];
  auto result = digits < 0 ? std::to_chars(buf, buf + sizeof buf, v, format)
                           : std::to_chars(buf, buf + sizeof buf, v, format, digits);
  return std::string(buf, result.ptr);
}

void trim_zeros(std::string& mantissa) {
  if (mantissa.find('.') == std::string::npos) return;
  mantissa.erase(mantissa.find_last_not_of('0') + 1);
}

// One finite value split the way NumPy's dragon4 (unique, trim '.') prints it.
struct Parts {
  std::string integer;   // with sign
  std::string fraction;  // digits after the point, possibly empty
  std::string exponent;  // scientific only: sign and digits, e.g. "-05"
};

template <class T>
Parts split(T v, bool scientific) {
  const auto format = scientific ? std::chars_format::scientific : std::chars_format::fixed;
  std::string s = chars(v, format);
  Parts p;
  if (scientific) {
    const auto e = s.find('e');
    p.exponent = s.substr(e + 1);
    s.resize(e);
  }
  auto dot = s.find('.');
  if (dot != std::string::npos && s.size() - dot - 1 > static_cast<std::size_t>(kPrecision)) {
    std::string rounded = chars(v, format, kPrecision);  // more than 8 decimals: round the value
    if (scientific) {
      const auto e = rounded.find('e');
      p.exponent = rounded.substr(e + 1);
      rounded.resize(e);
    }
    trim_zeros(rounded);
    s = rounded;
    dot = s.find('.');
  }
  p.integer = s.substr(0, dot);
  p.fraction = dot == std::string::npos ? "" : s.substr(dot + 1);
  return p;
}

// NumPy's FloatingFormat: one layout (positional or scientific, paddings) for all shown values.
class FloatFormat {
 public:
  FloatFormat(const std::vector<double>& shown, bool is_float32) : float32_(is_float32) {
    double max_abs = 0, min_abs = INFINITY;
    bool any_finite = false, neg_inf = false, non_finite = false;
    for (double v : shown) {
      if (!std::isfinite(v)) {
        non_finite = true;
        neg_inf = neg_inf || v < 0;
        continue;
      }
      any_finite = true;
      if (v == 0) continue;
      max_abs = std::max(max_abs, std::abs(v));
      min_abs = std::min(min_abs, std::abs(v));
    }
    scientific_ = max_abs > 0 && (max_abs >= 1e8 || min_abs < 1e-4 || max_abs / min_abs > 1000.0);
    for (double v : shown) {
      if (!std::isfinite(v)) continue;
      const Parts p = parts(v);
      pad_left_ = std::max(pad_left_, p.integer.size());
      precision_ = std::max(precision_, p.fraction.size());
      if (scientific_) exp_digits_ = std::max(exp_digits_, p.exponent.size() - 1);
    }
    pad_right_ = scientific_ ? exp_digits_ + 2 + precision_ : precision_;
    if (!any_finite) pad_left_ = pad_right_ = 0;
    if (non_finite) {
      const std::size_t offset = pad_right_ + 1;  // +1 for the point
      const std::size_t inf_len = 3 + (neg_inf ? 1 : 0);
      pad_left_ = std::max({pad_left_, offset < 3 ? 3 - offset : 0, offset < inf_len ? inf_len - offset : 0});
    }
  }

  std::string operator()(double v) const {
    if (!std::isfinite(v)) {
      const std::string text = std::isnan(v) ? "nan" : v < 0 ? "-inf" : "inf";
      return pad(text, pad_left_ + pad_right_ + 1);
    }
    if (!scientific_) {
      const Parts p = parts(v);
      return pad(p.integer, pad_left_) + '.' + p.fraction + std::string(pad_right_ - p.fraction.size(), ' ');
    }
    // Every mantissa gets the same number of digits: the value's own further digits (NumPy's
    // min_digits), not zeros, which shows in float32 ("1.17062509e+00" for 1.1706251f).
    const int digits = static_cast<int>(precision_);
    std::string s = float32_ ? chars(static_cast<float>(v), std::chars_format::scientific, digits)
                             : chars(v, std::chars_format::scientific, digits);
    const auto e = s.find('e');
    std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
    if (mantissa.find('.') == std::string::npos) mantissa += '.';
    const std::string sign = exponent.substr(0, 1), magnitude = exponent.substr(1);
    return pad(mantissa.substr(0, mantissa.find('.')), pad_left_) + mantissa.substr(mantissa.find('.')) + 'e' +
           sign + std::string(exp_digits_ > magnitude.size() ? exp_digits_ - magnitude.size() : 0, '0') +
           magnitude;
  }

 private:
  static std::string pad(const std::string& s, std::size_t width) {
    return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
  }
  Parts parts(double v) const { return float32_ ? split(static_cast<float>(v), scientific_) : split(v, scientific_); }

  bool float32_;
  bool scientific_ = false;
  std::size_t pad_left_ = 0, pad_right_ = 0, precision_ = 0, exp_digits_ = 0;
};

// NumPy's _formatArray: nested brackets, rows wrapped at the line width, "..." when summarising.
struct Layout {
  const Shape& shape;
  std::vector<std::string> words;  // formatted element per flat index (only shown ones filled)
  bool summarise;

  bool elided(std::size_t axis) const { return summarise && shape[axis] > 2 * kEdgeItems; }

  // Calls fn(i) for each shown index along `axis` and fn(-1) where "..." goes.
  template <class Fn>
  void for_each_shown(std::size_t axis, Fn&& fn) const {
    const std::int64_t n = shape[axis];
    for (std::int64_t i = 0; i < n; ++i) {
      if (elided(axis) && i == kEdgeItems) {
        fn(-1);
        i = n - kEdgeItems - 1;
        continue;
      }
      fn(i);
    }
  }

  static void extend_line(std::string& s, std::string& line, const std::string& word, std::size_t width,
                          const std::string& indent) {
    if (line.size() + word.size() > width && line.size() > indent.size()) {
      line.erase(line.find_last_not_of(' ') + 1);
      s += line + '\n';
      line = indent;
    }
    line += word;
  }

  std::string format(std::size_t axis, std::int64_t base, const std::string& indent, std::size_t width) const {
    if (axis == shape.size()) return words[static_cast<std::size_t>(base)];
    const std::string next_indent = indent + ' ';
    const std::size_t next_width = width - 1;  // room for the closing ']'
    std::string s;
    if (axis + 1 == shape.size()) {
      std::string line = indent;
      const std::size_t elem_width = width - 1;
      bool first = true;
      for_each_shown(axis, [&](std::int64_t i) {
        if (!first) line += ' ';
        first = false;
        extend_line(s, line, i < 0 ? "..." : format(axis + 1, base * shape[axis] + i, next_indent, next_width),
                    elem_width, indent);
      });
      s += line;
    } else {
      const std::string separator(shape.size() - axis - 1, '\n');
      bool first = true;
      for_each_shown(axis, [&](std::int64_t i) {
        if (!first) s += separator;
        first = false;
        s += indent + (i < 0 ? "..." : format(axis + 1, base * shape[axis] + i, next_indent, next_width));
      });
    }
    return '[' + s.substr(indent.size()) + ']';
  }

  // Flat indices of the shown elements, in order.
  void collect(std::size_t axis, std::int64_t base, std::vector<std::int64_t>& out) const {
    if (axis == shape.size()) {
      out.push_back(base);
      return;
    }
    for_each_shown(axis, [&](std::int64_t i) {
      if (i >= 0) collect(axis + 1, base * shape[axis] + i, out);
    });
  }
};

// str() of a NumPy scalar: shortest round-trip digits, positional for 1e-4 <= |v| < 1e16.
std::string scalar_text(double v, DType dtype) {
  if (dtype == DType::int64) return fmt::format("{}", static_cast<std::int64_t>(v));
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  const double a = std::abs(v);
  const bool positional = a == 0 || (a >= 1e-4 && a < 1e16);
  const auto format = positional ? std::chars_format::fixed : std::chars_format::scientific;
  std::string s = dtype == DType::float32 ? chars(static_cast<float>(v), format) : chars(v, format);
  if (positional && s.find('.') == std::string::npos) s += ".0";
  return s;
}

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "Tensor(undefined)";
  const std::vector<double> values = t.to_vector();
  std::string out;
  if (t.dim() == 0) {
    out = scalar_text(values[0], t.dtype());
  } else if (t.numel() == 0) {
    out = "[]";
  } else {
    Layout layout{t.shape(), std::vector<std::string>(values.size()), t.numel() > kThreshold};
    std::vector<std::int64_t> shown;
    layout.collect(0, 0, shown);
    if (is_floating(t.dtype())) {
      std::vector<double> shown_values;
      for (auto k : shown) shown_values.push_back(values[static_cast<std::size_t>(k)]);
      const FloatFormat format(shown_values, t.dtype() == DType::float32);
      for (auto k : shown) layout.words[static_cast<std::size_t>(k)] = format(values[static_cast<std::size_t>(k)]);
    } else {
      std::size_t width = 0;
      for (auto k : shown) {
        auto& w = layout.words[static_cast<std::size_t>(k)];
        w = fmt::format("{}", static_cast<std::int64_t>(values[static_cast<std::size_t>(k)]));
        width = std::max(width, w.size());
      }
      for (auto k : shown) {
        auto& w = layout.words[static_cast<std::size_t>(k)];
        w.insert(0, width - w.size(), ' ');
      }
    }
    out = layout.format(0, 0, " ", kLineWidth);
  }
  if (t.dtype() != DType::float32) out += fmt::format(", dtype={}", dtype_name(t.dtype()));
  if (t.requires_grad()) out += ", requires_grad=True";
  return out;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace xgrad
