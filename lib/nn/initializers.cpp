#include "xgrad/nn/initializers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "xgrad/tensor/creation.hpp"

namespace xgrad::nn {

namespace {

// Keras 3's *_normal initializers draw from a normal truncated at 2 stddev; dividing the stddev by
// this (the stddev of a standard normal truncated to [-2, 2]) restores the intended variance.
constexpr double kTruncatedStddev = 0.87962566103423978;

// Fills a fresh host tensor of `shape` and `dtype` with draw(i) for every flat index i.
template <class Draw>
Tensor fill_host(const Shape& shape, DType dtype, const char* who, Draw&& draw) {
  Tensor out = Tensor::empty(shape, dtype);
  dispatch_floating(dtype, who, [&](auto t) {
    using T = decltype(t);
    T* dst = out.host_data<T>();
    for (std::int64_t i = 0, n = out.numel(); i < n; ++i) dst[i] = static_cast<T>(draw(i));
  });
  return out;
}


// Orthonormalises the columns of the row-major (m, n) matrix `a` in place (m >= n): modified
// Gram-Schmidt run twice per column, which keeps Q^T Q = I to rounding even for ill-conditioned draws.
// The result equals Keras's q * sign(diag(r)), since Gram-Schmidt's R has a positive diagonal.
void orthonormalise_columns(std::vector<double>& a, std::int64_t m, std::int64_t n) {
  auto at = [&](std::int64_t r, std::int64_t c) -> double& { return a[static_cast<std::size_t>(r * n + c)]; };
  for (std::int64_t j = 0; j < n; ++j) {
    for (int pass = 0; pass < 2; ++pass)
      for (std::int64_t k = 0; k < j; ++k) {
        double dot = 0.0;
        for (std::int64_t r = 0; r < m; ++r) dot += at(r, k) * at(r, j);
        for (std::int64_t r = 0; r < m; ++r) at(r, j) -= dot * at(r, k);
      }
    double norm = 0.0;
    for (std::int64_t r = 0; r < m; ++r) norm += at(r, j) * at(r, j);
    norm = std::sqrt(norm);
    for (std::int64_t r = 0; r < m; ++r) at(r, j) /= norm;
  }
}

using Factory = Initializer (*)();

// Every name Keras's initializers.get() accepts without arguments: snake_case, CamelCase and aliases.
const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> names = [] {
    const std::vector<std::tuple<const char*, const char*, Factory>> table = {
        {"zeros", "Zeros", [] { return initializers::zeros(); }},
        {"ones", "Ones", [] { return initializers::ones(); }},
        {"constant", "Constant", [] { return initializers::constant(); }},
        {"random_normal", "RandomNormal", [] { return initializers::random_normal(); }},
        {"random_uniform", "RandomUniform", [] { return initializers::random_uniform(); }},
        {"truncated_normal", "TruncatedNormal", [] { return initializers::truncated_normal(); }},
        {"variance_scaling", "VarianceScaling", [] { return initializers::variance_scaling(); }},
        {"glorot_uniform", "GlorotUniform", [] { return initializers::glorot_uniform(); }},
        {"glorot_normal", "GlorotNormal", [] { return initializers::glorot_normal(); }},
        {"he_uniform", "HeUniform", [] { return initializers::he_uniform(); }},
        {"he_normal", "HeNormal", [] { return initializers::he_normal(); }},
        {"lecun_uniform", "LecunUniform", [] { return initializers::lecun_uniform(); }},
        {"lecun_normal", "LecunNormal", [] { return initializers::lecun_normal(); }},
        {"orthogonal", "Orthogonal", [] { return initializers::orthogonal(); }},
        {"identity", "Identity", [] { return initializers::identity(); }},
    };
    std::map<std::string, Factory> out;
    for (const auto& [snake, camel, make] : table) {
      out[snake] = make;
      out[camel] = make;
    }
    // Keras's aliases.
    out["uniform"] = [] { return initializers::random_uniform(); };
    out["normal"] = [] { return initializers::random_normal(); };
    out["zero"] = [] { return initializers::zeros(); };
    out["one"] = [] { return initializers::ones(); };
    return out;
  }();
  return names;
}

}  // namespace

Fans compute_fans(const Shape& shape) {
  const auto rank = shape.size();
  if (rank == 0) return {};
  if (rank == 1) return {static_cast<double>(shape[0]), static_cast<double>(shape[0])};
  double receptive = 1.0;
  for (std::size_t i = 0; i + 2 < rank; ++i) receptive *= static_cast<double>(shape[i]);
  return {static_cast<double>(shape[rank - 2]) * receptive, static_cast<double>(shape[rank - 1]) * receptive};
}

Initializer::Initializer() : Initializer(initializers::glorot_uniform()) {}

Initializer::Initializer(const std::string& name) {
  const auto& names = registry();
  auto found = names.find(name);
  if (found == names.end()) {
    std::vector<std::string> valid;
    for (const auto& entry : names)  // the snake_case spellings; CamelCase ones are accepted too
      if (std::islower(static_cast<unsigned char>(entry.first[0]))) valid.push_back(entry.first);
    throw ValueError(fmt::format("Initializer: unknown initializer '{}'; valid names are: {}", name,
                                 fmt::join(valid, ", ")));
  }
  *this = found->second();
}

Initializer::Initializer(InitFn fn, std::string name) : fn_(std::move(fn)), name_(std::move(name)) {
  if (!fn_) throw ValueError(fmt::format("Initializer '{}': the function is empty", name_));
}

Tensor Initializer::operator()(const Shape& shape, DType dtype, Generator& gen, Device device) const {
  for (std::int64_t extent : shape)
    if (extent < 0) throw ShapeError(fmt::format("{}: negative extent in shape {}", name_, shape_str(shape)));
  if (!is_floating(dtype))
    throw TypeError(fmt::format("{}: can only initialize float32 or float64 tensors, got {}", name_,
                                dtype_name(dtype)));
  Tensor t = fn_(shape, dtype, gen);
  return t.device() == device ? t : t.to(device);
}

namespace initializers {

Initializer zeros() {
  return {[](const Shape& s, DType d, Generator&) { return xgrad::zeros(s, d); }, "zeros"};
}

Initializer ones() {
  return {[](const Shape& s, DType d, Generator&) { return xgrad::ones(s, d); }, "ones"};
}

Initializer constant(double value) {
  return {[value](const Shape& s, DType d, Generator&) { return full(s, value, d); }, "constant"};
}

Initializer random_normal(double mean, double stddev) {
  return {[=](const Shape& s, DType d, Generator& g) { return randn(s, g, d, mean, stddev); }, "random_normal"};
}

Initializer random_uniform(double minval, double maxval) {
  if (!(minval <= maxval))
    throw ValueError(fmt::format("random_uniform: minval ({}) must not exceed maxval ({})", minval, maxval));
  return {[=](const Shape& s, DType d, Generator& g) { return uniform(s, g, minval, maxval, d); },
          "random_uniform"};
}

Initializer truncated_normal(double mean, double stddev) {
  if (!(stddev >= 0)) throw ValueError(fmt::format("truncated_normal: stddev must be >= 0, got {}", stddev));
  return {[=](const Shape& s, DType d, Generator& g) { return xgrad::truncated_normal(s, g, d, mean, stddev); },
          "truncated_normal"};
}

Initializer variance_scaling(double scale, const std::string& mode, const std::string& requested) {
  // Keras reads the old name "normal" as its truncated normal.
  const std::string distribution = requested == "normal" ? "truncated_normal" : requested;
  if (!(scale > 0)) throw ValueError(fmt::format("variance_scaling: scale must be positive, got {}", scale));
  if (mode != "fan_in" && mode != "fan_out" && mode != "fan_avg")
    throw ValueError(fmt::format("variance_scaling: mode must be fan_in, fan_out or fan_avg, got '{}'", mode));
  if (distribution != "truncated_normal" && distribution != "untruncated_normal" && distribution != "uniform")
    throw ValueError(fmt::format(
        "variance_scaling: distribution must be truncated_normal, untruncated_normal or uniform, got '{}'",
        distribution));
  return {[=](const Shape& s, DType d, Generator& g) {
            const Fans f = compute_fans(s);
            const double fan = mode == "fan_in" ? f.fan_in : mode == "fan_out" ? f.fan_out : (f.fan_in + f.fan_out) / 2;
            const double variance = scale / std::max(1.0, fan);
            if (distribution == "truncated_normal")
              return xgrad::truncated_normal(s, g, d, 0.0, std::sqrt(variance) / kTruncatedStddev);
            if (distribution == "untruncated_normal") return randn(s, g, d, 0.0, std::sqrt(variance));
            const double limit = std::sqrt(3.0 * variance);
            return uniform(s, g, -limit, limit, d);
          },
          "variance_scaling"};
}

namespace {
Initializer renamed(Initializer init, std::string name) {
  return {[init](const Shape& s, DType d, Generator& g) { return init(s, d, g); }, std::move(name)};
}
}  // namespace

Initializer glorot_uniform() { return renamed(variance_scaling(1.0, "fan_avg", "uniform"), "glorot_uniform"); }
Initializer glorot_normal() { return renamed(variance_scaling(1.0, "fan_avg", "truncated_normal"), "glorot_normal"); }
Initializer he_uniform() { return renamed(variance_scaling(2.0, "fan_in", "uniform"), "he_uniform"); }
Initializer he_normal() { return renamed(variance_scaling(2.0, "fan_in", "truncated_normal"), "he_normal"); }
Initializer lecun_uniform() { return renamed(variance_scaling(1.0, "fan_in", "uniform"), "lecun_uniform"); }
Initializer lecun_normal() { return renamed(variance_scaling(1.0, "fan_in", "truncated_normal"), "lecun_normal"); }

Initializer orthogonal(double gain) {
  return {[gain](const Shape& s, DType d, Generator& g) {
            if (s.size() < 2)
              throw ValueError(fmt::format(
                  "orthogonal: the tensor to initialize must be at least two-dimensional, got shape {}", shape_str(s)));
            const std::int64_t cols = s.back();
            const std::int64_t rows = numel(s) / std::max<std::int64_t>(cols, 1);
            // Orthonormalise the columns of a tall (max, min) normal matrix, transposing when wide.
            const std::int64_t m = std::max(rows, cols), n = std::min(rows, cols);
            std::vector<double> a(static_cast<std::size_t>(m * n));
            for (double& v : a) v = g.normal();
            if (n > 0) orthonormalise_columns(a, m, n);
            return fill_host(s, d, "orthogonal", [&](std::int64_t i) {
              const std::int64_t r = i / cols, c = i % cols;
              return gain * a[static_cast<std::size_t>(rows >= cols ? r * n + c : c * n + r)];
            });
          },
          "orthogonal"};
}

Initializer identity(double gain) {
  return {[gain](const Shape& s, DType d, Generator&) {
            if (s.size() != 2)
              throw ValueError(fmt::format("identity: only 2-D shapes can be initialized, got {}", shape_str(s)));
            return fill_host(s, d, "identity", [&](std::int64_t i) { return i / s[1] == i % s[1] ? gain : 0.0; });
          },
          "identity"};
}

}  // namespace initializers

}  // namespace xgrad::nn
