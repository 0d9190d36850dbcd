#include "conformance.hpp"

#include <cmath>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::conformance {

namespace {

Device g_target;

}  // namespace

void set_target(Device device) { g_target = device; }

Device target() { return g_target; }

Tolerance tolerance(DType dtype) {
  if (g_target == Device{} || g_target == Device{DeviceType::testdev, 0}) return {true, 0.0, 0.0};
  if (dtype == DType::float64) return {false, 1e-9, 1e-12};
  return {false, 2e-4, 2e-6};
}

Tensor on_device(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor out = t.to(g_target);
  if (t.requires_grad()) out.set_requires_grad();
  return out;
}

Tensor as_dtype(const Tensor& t, DType dtype) {
  if (!t.defined() || !is_floating(t.dtype())) return t;
  Tensor out = t.dtype() == dtype ? t.detach().clone() : t.to(dtype);
  if (t.requires_grad()) out.set_requires_grad();
  return out;
}

void check_matches(const Tensor& got, const Tensor& want, const std::string& what) {
  INFO(what << " on " << device_str(target()));
  REQUIRE(got.defined() == want.defined());
  if (!want.defined()) return;
  REQUIRE(got.device() == target());
  REQUIRE(shape_str(got.shape()) == shape_str(want.shape()));
  REQUIRE(dtype_name(got.dtype()) == dtype_name(want.dtype()));
  const Tolerance tol = tolerance(want.dtype());
  const std::vector<double> g = got.to_vector(), w = want.to_vector();
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const bool same = tol.exact ? (g[i] == w[i] || (std::isnan(g[i]) && std::isnan(w[i])))
                                : (std::isnan(w[i]) ? std::isnan(g[i])
                                   : std::isinf(w[i]) ? g[i] == w[i]
                                                      : std::abs(g[i] - w[i]) <= tol.abs + tol.rel * std::abs(w[i]));
    if (!same && bad++ == 0) first = i;
  }
  INFO(bad << " of " << w.size() << " elements differ; first at flat index " << first << ": device "
            << (w.empty() ? 0.0 : g[first]) << ", cpu " << (w.empty() ? 0.0 : w[first]));
  CHECK(bad == 0);
}

void check_forward_backward(const std::string& name, const Fn& fn, const std::vector<Tensor>& inputs, DType dtype) {
  INFO(name << " in " << dtype_name(dtype));
  std::vector<Tensor> cpu, dev;
  for (const Tensor& t : inputs) {
    cpu.push_back(as_dtype(t, dtype));
    dev.push_back(on_device(cpu.back()));
  }
  const Tensor want = fn(cpu);
  const Tensor got = fn(dev);
  check_matches(got, want, name + " forward");
  if (!want.requires_grad()) return;
  Generator gen(1234);
  const Tensor cotangent = randn(want.shape(), gen, want.dtype());
  want.backward(cotangent);
  got.backward(on_device(cotangent));
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (cpu[i].defined() && cpu[i].requires_grad())
      check_matches(dev[i].grad(), cpu[i].grad(), name + " gradient of input " + std::to_string(i));
}

}  // namespace xgrad::conformance
