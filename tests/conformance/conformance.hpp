#pragma once
// The conformance suite runs every op, layer, optimizer and checkpoint path on one device and compares it
// with the CPU. It is one executable, run once per device (`xgrad_conformance --device testdev:1`), so a new
// backend gets the whole suite by naming its device. When the device is unavailable it prints why and exits
// with code 77, which CTest reports as skipped.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::conformance {

/// The device under test, from --device.
Device target();

/// How closely results on the device under test must match the CPU's.
struct Tolerance {
  bool exact = false;  ///< bit for bit (testdev:0 runs the CPU's own kernels)
  double rel = 0.0;    ///< otherwise: |got - want| <= abs + rel * |want|
  double abs = 0.0;    ///< absolute part of the bound
};

/// The bound for results of `dtype` on the device under test: exact on testdev:0; float64 to 1e-9
/// relative; float32 to 2e-4 relative (composed or GPU kernels sum in other orders, and exp, tanh and
/// erf differ by a few ulps between implementations).
Tolerance tolerance(DType dtype);

/// A copy of `t` on the device under test, a leaf requiring grad when `t` does.
Tensor on_device(const Tensor& t);

/// A copy of `t` converted to `dtype` when it is floating (int64 tensors are kept), a leaf requiring grad
/// when `t` does.
Tensor as_dtype(const Tensor& t, DType dtype);

/// Checks that `got` (on the device under test) has `want`'s (CPU) shape, dtype and values within
/// tolerance(dtype); NaN must meet NaN. `what` names the value in failure messages.
void check_matches(const Tensor& got, const Tensor& want, const std::string& what);

/// A differentiable function of some tensors, the shape every op case takes.
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

/// Runs `fn` on `inputs` (CPU tensors) on the CPU and on the device under test in `dtype`, back-propagates
/// the same random cotangent through both, and checks the outputs and every input's gradient match.
void check_forward_backward(const std::string& name, const Fn& fn, const std::vector<Tensor>& inputs, DType dtype);

}  // namespace xgrad::conformance
