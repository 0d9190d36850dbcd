#pragma once
// Loading PyTorch weights: PyTorch and xgrad name and lay out some parameters differently (torch
// Linear's `weight` is (out, in), Dense's `kernel` is (in, out)). from_torch converts a PyTorch
// state dict, read for example with load_safetensors, into the names and layouts of an xgrad model
// built with the same structure. docs/pytorch.md has the mapping table.
#include <vector>

#include "xgrad/nn/module.hpp"

namespace xgrad::io {

/// Converts `torch_state` (PyTorch names and layouts, e.g. "0.weight" (out, in)) into `model`'s names and
/// layouts ("0.kernel" (in, out)), walking the model's modules: a module at dotted path p takes the torch
/// keys under p. Dense, LayerNorm, Embedding and MultiHeadAttention (torch Linear, LayerNorm, Embedding,
/// MultiheadAttention) are converted as docs/pytorch.md lists; the own parameters and buffers of any other
/// module are taken under their own names, unchanged. Returns the converted tensors in the model's order,
/// for copy_state(model.state(), converted, ...). Throws ValueError naming the torch key that a parameter
/// needs and does not find, and listing the torch keys left unused; ShapeError when a MultiheadAttention's
/// weights do not fit the xgrad layer's heads and widths.
std::vector<nn::NamedTensor> from_torch(const std::vector<nn::NamedTensor>& torch_state, const nn::Module& model);

}  // namespace xgrad::io
