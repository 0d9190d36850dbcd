#pragma once
// Checkpoints of modules (and, through the same two functions, of any named tensor state) in the
// safetensors format, so PyTorch's safetensors reads them and xgrad reads files PyTorch wrote.
#include <string>
#include <vector>

#include "xgrad/nn/module.hpp"
#include "xgrad/optim/optimizer.hpp"

namespace xgrad::io {

/// Writes every parameter and buffer of `module` under its dotted name to `path`, atomically.
void save(const nn::Module& module, const std::string& path);

/// Loads `path` into `module`'s existing tensors (handles held elsewhere, e.g. by an optimizer, stay
/// valid). Every key, shape and dtype is checked before anything is copied: a missing key (ValueError),
/// an unexpected key when `strict` (ValueError), a wrong shape (ShapeError) or dtype (TypeError), or a
/// damaged file (IOError) throws with the key and both shapes, and leaves the module unchanged. Layers not
/// built yet (Module::built()) are first built from the file's shapes, so no forward call is needed before
/// loading; one the file cannot size is a ValueError naming it (layers built this way stay built when a
/// later check fails).
void load(nn::Module& module, const std::string& path, bool strict = true);

/// Writes `optimizer`'s named state (step counts, moment buffers) to `path`, atomically.
void save(const optim::Optimizer& optimizer, const std::string& path);

/// Loads `path` into `optimizer`'s state with the same all-or-nothing checks as load(Module&).
void load(optim::Optimizer& optimizer, const std::string& path);

/// Copies `source` into `target` by name with the same all-or-nothing checks as load(); `what` names
/// the destination in error messages (e.g. the file path).
void copy_state(const std::vector<nn::NamedTensor>& target, const std::vector<nn::NamedTensor>& source,
                bool strict, const std::string& what);

}  // namespace xgrad::io
