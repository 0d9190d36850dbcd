#pragma once
// Matrix products through CBLAS GEMM, with transpose flags instead of transposed copies.
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Matrix product of the last two axes: (..., n, k) x (..., k, m) -> (..., n, m), leading (batch)
/// axes broadcast as in NumPy; a 1-D operand is a vector as in numpy.matmul. With `transpose_a`
/// or `transpose_b`, the last two axes of that operand are swapped first (no copy is made; ValueError
/// for a 1-D operand). ShapeError when the inner dimensions differ or the batch axes do not broadcast.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

/// x·W + b (x·Wᵀ + b with `transpose_weight`, PyTorch's (out, in) layout) over the last axis of x, any leading
/// axes: the bias (out,) is written first and the GEMM adds the product onto it, so no second pass over the
/// output. Undefined bias: plain matmul. ShapeError when the weight is not 2-D, its input width is not x's last
/// axis, or the bias is not (out,).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, bool transpose_weight = false);

/// The elementwise activations that activated_linear() applies to its input.
enum class LinearInputActivation { relu, gelu, gelu_tanh, tanh, sigmoid };

/// linear(act(a), weight, bias, transpose_weight) as one op that keeps `a`, not act(a), for its backward, which
/// computes act(a) once more: the activation's output lives only inside the call. In a transformer's MLP
/// (`activated_linear(linear(x, w1, b1), gelu_tanh, w2, b2)`) this keeps mlp_ratio·d fewer numbers per token
/// and layer until the backward, for one more pass of the activation there. Values and gradients equal those
/// of the two ops. The same errors as linear, naming `a`.
Tensor activated_linear(const Tensor& a, LinearInputActivation activation, const Tensor& weight,
                        const Tensor& bias = {}, bool transpose_weight = false);

}  // namespace xgrad
