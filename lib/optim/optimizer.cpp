#include "xgrad/optim/optimizer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <map>

#include "xgrad/tensor/creation.hpp"

namespace xgrad::optim {

Optimizer::Optimizer(std::string name, std::vector<NamedTensor> params, double lr)
    : name_(std::move(name)), params_(std::move(params)) {
  if (params_.empty())
    throw ValueError(fmt::format("{}: got an empty parameter list; pass model.named_trainable_parameters()", name_));
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& [pname, p] = params_[i];
    if (!p.defined()) throw ValueError(fmt::format("{}: parameter '{}' is an undefined tensor", name_, pname));
    if (!is_floating(p.dtype()))
      throw TypeError(fmt::format("{}: parameter '{}' must be float32 or float64, got {} of shape {}", name_, pname,
                                  dtype_name(p.dtype()), shape_str(p.shape())));
    for (std::size_t j = 0; j < i; ++j) {
      if (params_[j].first == pname)
        throw ValueError(fmt::format("{}: parameter name '{}' appears twice", name_, pname));
      if (params_[j].second.is_same(p))
        throw ValueError(fmt::format("{}: parameters '{}' and '{}' are the same tensor; it would be updated twice",
                                     name_, params_[j].first, pname));
    }
  }
  set_learning_rate(lr);
  steps_ = zeros({static_cast<std::int64_t>(params_.size())}, DType::int64);
}

void Optimizer::require(bool ok, const char* what, const char* range, double value) const {
  if (!ok) throw ValueError(fmt::format("{}: {} must be {}, got {}", name_, what, range, value));
}

void Optimizer::set_learning_rate(double lr) {
  require(lr >= 0.0, "learning rate lr", ">= 0", lr);
  lr_ = lr;
}

std::size_t Optimizer::add_buffers(const std::string& kind) {
  Buffers b{kind, {}};
  b.tensors.reserve(params_.size());
  for (const auto& [pname, p] : params_) b.tensors.push_back(zeros(p.shape(), p.dtype(), p.device()));
  buffers_.push_back(std::move(b));
  return buffers_.size() - 1;
}

void Optimizer::step() {
  std::int64_t* steps = steps_.host_data<std::int64_t>();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& [pname, p] = params_[i];
    const Tensor& g = p.impl().grad;  // a reference: no handle copy on the hot path
    if (!g.defined()) continue;
    if (g.device() != p.device())
      throw DeviceError(fmt::format("{}: gradient of parameter '{}' lives on {} but the parameter on {}", name_,
                                    pname, device_str(g.device()), device_str(p.device())));
    follow_parameter(i);
    update(i, p, g, ++steps[i]);
  }
}

void Optimizer::zero_grad() {
  for (auto& [pname, p] : params_) p.zero_grad();
}

void Optimizer::follow_parameter(std::size_t i) {
  const Tensor& p = params_[i].second;
  for (auto& b : buffers_) {
    Tensor& buffer = b.tensors[i];
    if (buffer.device() != p.device()) buffer.to_(p.device());
    if (buffer.dtype() != p.dtype()) buffer.to_(p.dtype());
  }
}

std::vector<NamedTensor> Optimizer::state() const {
  std::vector<NamedTensor> out;
  out.emplace_back("step", steps_);
  for (const auto& b : buffers_)
    for (std::size_t i = 0; i < params_.size(); ++i) out.emplace_back(b.kind + "." + params_[i].first, b.tensors[i]);
  return out;
}

namespace {

// What load_state accepts, from what the update rules (optimizers.cpp, backend/optim.hpp) do with it:
// - step: [0, 2^53). The next update increments it, and Adam's bias correction 1 - beta^step takes it as
//   a double; below 2^53 both are exact (and beta^step has long underflowed to 0 there).
// - every buffer: finite. A NaN or inf in a moment or momentum buffer reaches the parameter on the next
//   update.
// - second moments (Adam's exp_avg_sq and max_exp_avg_sq, RMSprop's square_avg): >= 0, their square
//   root is taken; for centered RMSprop also square_avg >= grad_avg^2, the variance under its root.
constexpr std::int64_t kStepLimit = std::int64_t{1} << 53;

bool under_square_root(const std::string& kind) {
  return kind == "exp_avg_sq" || kind == "max_exp_avg_sq" || kind == "square_avg";
}

Tensor on_host(const Tensor& t) { return t.device() == Device{} ? t : t.to(Device{}); }

/// Refuses a buffer holding a non-finite value, or a negative one when `non_negative`.
void check_buffer(const std::string& optimizer, const std::string& key, const std::string& param, const Tensor& buffer,
                  bool non_negative) {
  const Tensor host = on_host(buffer);
  dispatch_floating(host.dtype(), "load_state", [&](auto zero) {
    using T = decltype(zero);
    const T* v = host.host_data<T>();
    for (std::int64_t i = 0; i < host.numel(); ++i)
      if (!std::isfinite(v[i]) || (non_negative && v[i] < T(0)))
        throw ValueError(fmt::format("{}.load_state: key '{}' (parameter '{}') holds {} at element {}; it must be "
                                     "finite{}",
                                     optimizer, key, param, v[i], i,
                                     non_negative ? " and >= 0 (the update takes its square root)" : ""));
  });
}

/// Refuses square_avg < grad_avg^2 (centered RMSprop's variance), beyond 4 ulps of grad_avg^2: a state
/// that an update produced never falls below, since that update took the same square root.
void check_variance(const std::string& optimizer, const std::string& param, const std::string& square_key,
                    const Tensor& square_avg, const std::string& mean_key, const Tensor& grad_avg) {
  const Tensor sq = on_host(square_avg), mean = on_host(grad_avg);
  dispatch_floating(sq.dtype(), "load_state", [&](auto zero) {
    using T = decltype(zero);
    const double slack = 1.0 - 4.0 * std::numeric_limits<T>::epsilon();
    const T *s = sq.host_data<T>(), *g = mean.host_data<T>();
    for (std::int64_t i = 0; i < sq.numel(); ++i)
      if (double(s[i]) < double(g[i]) * double(g[i]) * slack)
        throw ValueError(fmt::format("{}.load_state: keys '{}' and '{}' (parameter '{}') hold {} and {} at element "
                                     "{}: the variance square_avg - grad_avg^2 under the square root would be "
                                     "negative",
                                     optimizer, square_key, mean_key, param, s[i], g[i], i));
  });
}

}  // namespace

void Optimizer::load_state(const std::vector<NamedTensor>& state) {
  std::map<std::string, const Tensor*> given;
  for (const auto& [key, t] : state)
    if (!given.emplace(key, &t).second)
      throw ValueError(fmt::format("{}.load_state: key '{}' appears twice", name_, key.substr(0, 80)));
  const std::vector<NamedTensor> expected = this->state();
  // Validate everything first: a half-loaded optimizer would silently train from mixed state.
  for (const auto& [key, dst] : expected) {
    auto it = given.find(key);
    if (it == given.end())
      throw ValueError(fmt::format("{}.load_state: missing key '{}' (shape {})", name_, key, shape_str(dst.shape())));
    const Tensor& src = *it->second;
    if (!src.defined()) throw ValueError(fmt::format("{}.load_state: key '{}' is an undefined tensor", name_, key));
    if (src.shape() != dst.shape())
      throw ShapeError(fmt::format("{}.load_state: key '{}' has shape {} but the optimizer expects {}", name_, key,
                                   shape_str(src.shape()), shape_str(dst.shape())));
    if (src.dtype() != dst.dtype())
      throw TypeError(fmt::format("{}.load_state: key '{}' is {} {} but the optimizer expects {} {}", name_, key,
                                  dtype_name(src.dtype()), shape_str(src.shape()), dtype_name(dst.dtype()),
                                  shape_str(dst.shape())));
  }
  if (given.size() != expected.size())
    for (const auto& [key, t] : given) {
      bool known = false;
      for (const auto& e : expected) known = known || e.first == key;
      if (!known)
        throw ValueError(fmt::format("{}.load_state: unexpected key '{}' (shape {}); this optimizer's state has "
                                     "'step' and {} buffer(s) per parameter", name_, key.substr(0, 80),
                                     t->defined() ? shape_str(t->shape()) : "undefined", buffers_.size()));
    }
  const Tensor step_src = on_host(*given.at("step"));
  const std::int64_t* s = step_src.host_data<std::int64_t>();
  for (std::int64_t i = 0; i < step_src.numel(); ++i)
    if (s[i] < 0 || s[i] >= kStepLimit)
      throw ValueError(fmt::format("{}.load_state: key 'step' holds {} for parameter '{}'; a step count must be in "
                                   "[0, 2^53) (not negative, and exact as a double with room to increment)",
                                   name_, s[i], params_[static_cast<std::size_t>(i)].first));
  const Buffers *square_avg = nullptr, *grad_avg = nullptr;
  for (const Buffers& b : buffers_) {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const std::string key = b.kind + "." + params_[i].first;
      check_buffer(name_, key, params_[i].first, *given.at(key), under_square_root(b.kind));
    }
    if (b.kind == "square_avg") square_avg = &b;
    if (b.kind == "grad_avg") grad_avg = &b;
  }
  if (square_avg && grad_avg)
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const std::string& pname = params_[i].first;
      check_variance(name_, pname, "square_avg." + pname, *given.at("square_avg." + pname), "grad_avg." + pname,
                     *given.at("grad_avg." + pname));
    }

  for (const auto& [key, dst] : expected) {
    const Tensor& given_src = *given.at(key);
    if (given_src.raw_data() == dst.raw_data()) continue;  // loading our own state()
    const Tensor src = given_src.device() == dst.device() ? given_src : given_src.to(dst.device());
    dst.backend().copy(dst.raw_data(), src.raw_data(), static_cast<std::size_t>(dst.numel()) * dtype_size(dst.dtype()));
  }
}

}  // namespace xgrad::optim
