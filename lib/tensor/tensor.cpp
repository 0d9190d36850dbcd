#include "xgrad/tensor/tensor.hpp"

#include <fmt/format.h>

#include <cstring>

#include "xgrad/tensor/creation.hpp"

namespace xgrad {

Storage::Storage(std::size_t bytes, Backend& backend)
    : backend_(&backend), device_(backend.device()), data_(backend.allocate(bytes)), bytes_(bytes) {}

Storage::~Storage() { backend_->deallocate(data_, bytes_); }

std::int64_t to_int64(double value, std::string_view op) {
  // Both bounds are exact doubles: -2^63 is the smallest int64, 2^63 one past the largest. NaN fails both.
  constexpr double lowest = -9223372036854775808.0, past_highest = 9223372036854775808.0;
  if (!(value >= lowest && value < past_highest))
    throw ValueError(fmt::format("{}: {} cannot be converted to int64 (NaN, infinite or out of range)", op, value));
  return static_cast<std::int64_t>(value);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape)
    if (d < 0) throw ShapeError(fmt::format("empty: negative dimension in shape {}", shape_str(shape)));
  const std::int64_t bytes = mul_extents(xgrad::numel(shape), static_cast<std::int64_t>(dtype_size(dtype)), shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<std::size_t>(bytes), xgrad::backend(device));
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

TensorImpl& Tensor::impl() const {
  if (!impl_) throw ValueError("use of an undefined tensor (default-constructed Tensor)");
  return *impl_;
}

void require_defined(const Tensor& t, const char* op, const char* arg) {
  if (!t.defined()) throw ValueError(fmt::format("{}: argument '{}' is an undefined tensor", op, arg));
}

std::int64_t Tensor::size(std::int64_t axis) const {
  return shape()[static_cast<std::size_t>(normalize_axis(axis, dim(), "Tensor::size"))];
}

void* Tensor::raw_data() const {
  const auto& i = impl();
  return static_cast<char*>(i.storage->data()) + i.offset * static_cast<std::int64_t>(dtype_size(i.dtype));
}

void Tensor::require_cpu(const char* what) const {
  if (device().type != DeviceType::cpu)
    throw DeviceError(fmt::format("{}: tensor lives on {}, not on the CPU; call .to(Device{{}}) first",
                                  what, device_str(device())));
}

void Tensor::throw_dtype_mismatch(DType requested) const {
  throw TypeError(fmt::format("Tensor::data: requested {} elements from a {} tensor of shape {}",
                              dtype_name(requested), dtype_name(dtype()), shape_str(shape())));
}

namespace {

std::int64_t flat_index(const Tensor& t, const std::vector<std::int64_t>& index) {
  if (static_cast<std::int64_t>(index.size()) != t.dim())
    throw IndexError(fmt::format("Tensor::at: index of {} entries for a tensor of shape {}",
                                 index.size(), shape_str(t.shape())));
  std::int64_t flat = 0;
  for (std::size_t a = 0; a < index.size(); ++a) {
    const std::int64_t extent = t.shape()[a];
    const std::int64_t i = index[a] < 0 ? index[a] + extent : index[a];
    if (i < 0 || i >= extent)
      throw IndexError(fmt::format("Tensor::at: index {} is out of range for axis {} of shape {}",
                                   index[a], a, shape_str(t.shape())));
    flat = flat * extent + i;
  }
  return flat;
}

Tensor on_host(const Tensor& t) { return t.device().type == DeviceType::cpu ? t : t.to(Device{}); }

}  // namespace

double Tensor::at(std::initializer_list<std::int64_t> index) const {
  return at(std::vector<std::int64_t>(index));
}

double Tensor::at(const std::vector<std::int64_t>& index) const {
  const std::int64_t flat = flat_index(*this, index);
  const Tensor host = on_host(*this);
  return dispatch_any(dtype(), [&](auto t) { return static_cast<double>(host.host_data<decltype(t)>()[flat]); });
}

void Tensor::set(const std::vector<std::int64_t>& index, double value) {
  const std::int64_t flat = flat_index(*this, index);
  require_cpu("Tensor::set");
  dispatch_any(dtype(), [&](auto t) {
    using T = decltype(t);
    host_data<T>()[flat] = element_from_double<T>(value, "Tensor::set");
  });
}

double Tensor::item() const {
  if (numel() != 1)
    throw ValueError(fmt::format("Tensor::item: only a one-element tensor has an item, got shape {}",
                                 shape_str(shape())));
  const Tensor host = on_host(*this);
  return dispatch_any(dtype(), [&](auto t) { return static_cast<double>(host.host_data<decltype(t)>()[0]); });
}

std::vector<double> Tensor::to_vector() const {
  const Tensor host = on_host(*this);
  std::vector<double> out(static_cast<std::size_t>(numel()));
  dispatch_any(dtype(), [&](auto t) {
    const auto* src = host.host_data<decltype(t)>();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(src[i]);
  });
  return out;
}

Tensor& Tensor::set_requires_grad(bool enabled) {
  auto& i = impl();
  if (!is_leaf() && !enabled)
    throw AutogradError("set_requires_grad: cannot turn off gradients of a tensor produced by an op; "
                        "use detach() instead");
  if (enabled && !is_floating(i.dtype))
    throw TypeError(fmt::format("set_requires_grad: only float32/float64 tensors can require grad, "
                                "got {}", dtype_name(i.dtype)));
  i.requires_grad = enabled;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad; }

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined() && (grad.shape() != shape() || grad.dtype() != dtype()))
    throw ShapeError(fmt::format("set_grad: gradient {} {} does not match tensor {} {}",
                                 dtype_name(grad.dtype()), shape_str(grad.shape()), dtype_name(dtype()),
                                 shape_str(shape())));
  impl().grad = grad;
}

void Tensor::zero_grad() {
  if (impl().grad.defined()) impl().grad.fill_(0.0);
}

Tensor Tensor::detach() const {
  auto out = std::make_shared<TensorImpl>();
  const auto& i = impl();
  out->storage = i.storage;
  out->offset = i.offset;
  out->shape = i.shape;
  out->dtype = i.dtype;
  return Tensor(std::move(out));
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype(), device());
  backend().copy(out.raw_data(), raw_data(), static_cast<std::size_t>(numel()) * dtype_size(dtype()));
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return clone();
  const Tensor host = on_host(*this);
  Tensor out = Tensor::empty(shape(), target);
  dispatch_any(dtype(), [&](auto s) {
    dispatch_any(target, [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      const S* src = host.host_data<S>();
      D* dst = out.host_data<D>();
      if constexpr (std::is_same_v<D, std::int64_t> && !std::is_same_v<S, std::int64_t>) {
        for (std::int64_t k = 0; k < numel(); ++k) dst[k] = to_int64(static_cast<double>(src[k]), "Tensor::to(int64)");
      } else {
        for (std::int64_t k = 0; k < numel(); ++k) dst[k] = static_cast<D>(src[k]);
      }
    });
  });
  return device().type == DeviceType::cpu ? out : out.to(device());
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return clone();
  const std::size_t bytes = static_cast<std::size_t>(numel()) * dtype_size(dtype());
  Tensor out = Tensor::empty(shape(), dtype(), target);
  if (device().type == DeviceType::cpu) {
    out.backend().copy_from_host(out.raw_data(), raw_data(), bytes);
  } else if (target.type == DeviceType::cpu) {
    backend().copy_to_host(out.raw_data(), raw_data(), bytes);
  } else {
    Tensor host = to(Device{});
    out.backend().copy_from_host(out.raw_data(), host.raw_data(), bytes);
  }
  return out;
}

namespace {

// Points every handle of `t` at `converted`'s data: the TensorImpl is shared by all handles.
void adopt(const Tensor& t, const Tensor& converted) {
  TensorImpl& impl = t.impl();
  impl.storage = converted.impl().storage;
  impl.offset = converted.impl().offset;
  impl.dtype = converted.dtype();
}

}  // namespace

Tensor& Tensor::to_(Device target) {
  if (device() != target) adopt(*this, to(target));
  return *this;
}

Tensor& Tensor::to_(DType target) {
  if (dtype() != target) adopt(*this, to(target));
  return *this;
}

Tensor& Tensor::fill_(double value) {
  if (dtype() == DType::int64) to_int64(value, "fill");  // refused before any backend sees it
  backend().fill(dtype(), raw_data(), numel(), value);
  return *this;
}

}  // namespace xgrad
