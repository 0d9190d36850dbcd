#pragma once
// Checkpoints in the safetensors format (safetensors.hpp), so PyTorch's safetensors reads them and
// xgrad reads files PyTorch wrote: a module's tensors, an optimizer's state, and a whole training run
// as ONE file (save_training_state), the unit to resume from. Every save is atomic (a kill or a full
// disk leaves the previous file as it was) and refuses NaN/inf values unless told otherwise, so a
// diverged run never replaces its last good checkpoint. docs/checkpoints.md describes the layout,
// the crash guarantees and the PyTorch name/layout mapping.
#include <map>
#include <string>
#include <vector>

#include "xgrad/nn/module.hpp"
#include "xgrad/optim/optimizer.hpp"
#include "xgrad/optim/schedule.hpp"

namespace xgrad::io {

/// Options of the checkpoint writers.
struct SaveOptions {
  /// Write tensors holding NaN or inf. Off: such a save throws ValueError naming the tensor and
  /// leaves the previous checkpoint in place.
  bool allow_non_finite = false;
};

/// Writes every parameter and buffer of `module` under its dotted name to `path`, atomically.
void save(const nn::Module& module, const std::string& path, const SaveOptions& options = {});

/// Loads `path` into `module`'s existing tensors (handles held elsewhere, e.g. by an optimizer, stay
/// valid). Every key, shape and dtype is checked before anything is copied: a missing key (ValueError),
/// an unexpected key when `strict` (ValueError), a wrong shape (ShapeError) or dtype (TypeError), or a
/// damaged file (IOError) throws with the key and both shapes, and leaves the module unchanged. Layers not
/// built yet (Module::built()) are first built from the file's shapes, so no forward call is needed before
/// loading; one the file cannot size is a ValueError naming it (layers built this way stay built when a
/// later check fails). A training-state file (save_training_state) is accepted too: its module tensors are
/// loaded.
void load(nn::Module& module, const std::string& path, bool strict = true);

/// Writes `optimizer`'s named state (step counts, moment buffers) to `path`, atomically.
void save(const optim::Optimizer& optimizer, const std::string& path, const SaveOptions& options = {});

/// Loads `path` into `optimizer`'s state with the checks of Optimizer::load_state (values included).
void load(optim::Optimizer& optimizer, const std::string& path);

/// Copies `source` into `target` by name with the same all-or-nothing checks as load(); `what` names
/// the destination in error messages (e.g. the file path).
void copy_state(const std::vector<nn::NamedTensor>& target, const std::vector<nn::NamedTensor>& source,
                bool strict, const std::string& what);

/// Everything a training run needs to continue exactly where it stopped, saved as one file.
/// Random generators are not part of it: derive them from values in `metadata` (e.g. a seed and the
/// step, as examples/char_lm does), so a resumed run draws what the uninterrupted one would have.
struct TrainingState {
  nn::Module& module;                           ///< parameters and buffers, saved as "model.<name>"
  optim::Optimizer& optimizer;                  ///< state saved as "optimizer.<key>", learning rate in the metadata
  optim::LRScheduler* scheduler = nullptr;      ///< its step, in the metadata, when training uses one
  std::map<std::string, std::string> metadata;  ///< the caller's own values (step, seeds, ...): saved; replaced by load
};

/// Writes `state` to `path` as one safetensors file, atomically: module tensors under "model.",
/// optimizer state under "optimizer.", and in the header metadata the format ("xgrad-training-state"
/// version 1), the module's and optimizer's kinds, the learning rate, the scheduler's state under
/// "scheduler." and the caller's metadata under "user.". ValueError before anything is written when
/// the optimizer holds a tensor that is not the module's (the file would not restore it), or a
/// tensor holds NaN/inf (unless options.allow_non_finite).
void save_training_state(const std::string& path, const TrainingState& state, const SaveOptions& options = {});

/// Restores a file of save_training_state into `state` (module, optimizer and scheduler built as for
/// the saved run), all or nothing: the file must hold exactly this module's tensors and this
/// optimizer's state (kinds, keys, shapes, dtypes and the values Optimizer::load_state checks), and
/// scheduler state exactly when a scheduler is given; otherwise ValueError, ShapeError or TypeError
/// naming the path and the key, IOError for a damaged file, and nothing changes. The learning rate
/// is the scheduler's at the restored step, or the saved one without a scheduler. `state.metadata`
/// receives the caller's saved metadata.
void load_training_state(const std::string& path, TrainingState& state);

}  // namespace xgrad::io
