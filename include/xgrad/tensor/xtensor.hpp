#pragma once
// Conversion between xgrad tensors and xtensor arrays (copies; CPU tensors only).
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// A CPU tensor holding a copy of `array`; T is float, double or std::int64_t.
template <class T>
Tensor from_xarray(const xt::xarray<T>& array) {
  Shape shape(array.shape().begin(), array.shape().end());
  Tensor t = Tensor::empty(shape, dtype_of<T>());
  T* dst = t.host_data<T>();
  std::size_t i = 0;
  for (const T& v : array) dst[i++] = v;  // iterates row-major whatever the array's layout
  return t;
}

/// A copy of `t` as an xtensor array of T; throws TypeError when T does not match t.dtype().
template <class T>
xt::xarray<T> to_xarray(const Tensor& t) {
  Tensor host = t.device().type == DeviceType::cpu ? t : t.to(Device{});
  const T* src = host.host_data<T>();
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  xt::xarray<T> out = xt::adapt(src, static_cast<std::size_t>(t.numel()), xt::no_ownership(), shape);
  return out;
}

}  // namespace xgrad
