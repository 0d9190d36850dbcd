#include "xgrad/io/checkpoint.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "xgrad/backend/optim.hpp"
#include "xgrad/io/safetensors.hpp"

namespace xgrad::io {

namespace {

constexpr const char* kTrainingFormat = "xgrad-training-state";
constexpr const char* kTrainingVersion = "1";
const std::string kModel = "model.", kOptimizer = "optimizer.", kScheduler = "scheduler.", kUser = "user.";
const std::string kLearningRate = "optimizer.learning_rate";

/// Refuses a floating tensor holding NaN or inf unless allowed: written over the last checkpoint, it
/// would leave nothing good to resume from.
void require_finite(const std::vector<nn::NamedTensor>& tensors, const char* op, const SaveOptions& options) {
  if (options.allow_non_finite) return;
  for (const auto& [name, t] : tensors) {
    if (!t.defined() || !is_floating(t.dtype())) continue;
    const double largest = t.backend().optim().max_abs(t.dtype(), t.raw_data(), t.numel());  // NaN if any is
    if (!std::isfinite(largest))
      throw ValueError(fmt::format("{}: tensor '{}' {} holds NaN or inf (max |x| = {}); refusing to replace the "
                                   "last checkpoint with it (SaveOptions::allow_non_finite writes it anyway)",
                                   op, name, shape_str(t.shape()), largest));
  }
}

/// For each tensor of `target`, a pointer to its source in `source`, after checking names, shapes
/// and dtypes; nothing is copied.
std::vector<const Tensor*> match_state(const std::vector<nn::NamedTensor>& target,
                                       const std::vector<nn::NamedTensor>& source, bool strict,
                                       const std::string& what) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : source) by_name[name] = &t;
  std::vector<const Tensor*> matched;
  matched.reserve(target.size());
  for (const auto& [name, t] : target) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw ValueError(fmt::format("{}: no tensor named '{}' (expected {} {})", what, name,
                                   dtype_name(t.dtype()), shape_str(t.shape())));
    const Tensor& src = *it->second;
    if (src.shape() != t.shape())
      throw ShapeError(fmt::format("{}: tensor '{}' has shape {}, but the destination has shape {}", what, name,
                                   shape_str(src.shape()), shape_str(t.shape())));
    if (src.dtype() != t.dtype())
      throw TypeError(fmt::format("{}: tensor '{}' is {}, but the destination is {} (shape {})", what, name,
                                  dtype_name(src.dtype()), dtype_name(t.dtype()), shape_str(t.shape())));
    matched.push_back(&src);
    by_name.erase(it);
  }
  if (strict && !by_name.empty()) {
    const auto& [name, extra] = *by_name.begin();
    throw ValueError(fmt::format("{}: unexpected tensor '{}' {} (not in the destination)", what, name.substr(0, 80),
                                 shape_str(extra->shape())));
  }
  return matched;
}

/// Copies the tensors match_state found into `target`.
void copy_matched(const std::vector<nn::NamedTensor>& target, const std::vector<const Tensor*>& sources) {
  for (std::size_t i = 0; i < target.size(); ++i) {
    const Tensor& t = target[i].second;
    const std::size_t bytes = static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype());
    t.backend().copy_from_host(t.raw_data(), sources[i]->raw_data(), bytes);
  }
}

/// The tensors of `tensors` whose names start with `prefix`, without it.
std::vector<nn::NamedTensor> with_prefix(const std::vector<nn::NamedTensor>& tensors, const std::string& prefix) {
  std::vector<nn::NamedTensor> out;
  for (const auto& [name, t] : tensors)
    if (name.starts_with(prefix)) out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

std::string metadata_value(const std::map<std::string, std::string>& metadata, const std::string& key) {
  const auto it = metadata.find(key);
  return it == metadata.end() ? std::string() : it->second;
}

/// Runs `fn`, prefixing the message of a ValueError, ShapeError or TypeError it throws with `context`.
template <class Fn>
void in_context(const std::string& context, Fn&& fn) {
  try {
    fn();
  } catch (const ValueError& e) {
    throw ValueError(context + ": " + e.what());
  } catch (const ShapeError& e) {
    throw ShapeError(context + ": " + e.what());
  } catch (const TypeError& e) {
    throw TypeError(context + ": " + e.what());
  }
}

/// The optimizer must update only tensors of the module: a parameter outside it would be stepped
/// but never saved or restored, and the resumed run would silently differ.
void require_module_parameters(const TrainingState& state, const std::string& op) {
  std::set<const TensorImpl*> owned;
  for (const auto& [name, t] : state.module.state()) owned.insert(&t.impl());
  for (const auto& [name, p] : state.optimizer.parameters())
    if (!owned.count(&p.impl()))
      throw ValueError(fmt::format("{}: the optimizer's parameter '{}' is not a tensor of the module ({}), so the "
                                   "checkpoint could not restore it; build the optimizer from "
                                   "module.named_trainable_parameters()",
                                   op, name, state.module.type_name()));
}

}  // namespace

void save(const nn::Module& module, const std::string& path, const SaveOptions& options) {
  const auto state = module.state();
  require_finite(state, "io::save", options);
  save_safetensors(path, state, {{"format", "xgrad"}, {"module", module.type_name()}});
}

void copy_state(const std::vector<nn::NamedTensor>& target, const std::vector<nn::NamedTensor>& source,
                bool strict, const std::string& what) {
  copy_matched(target, match_state(target, source, strict, what));
}

void load(nn::Module& module, const std::string& path, bool strict) {
  const SafetensorsFile file = read_safetensors(path);
  const std::vector<nn::NamedTensor> source =
      metadata_value(file.metadata, "format") == kTrainingFormat ? with_prefix(file.tensors, kModel) : file.tensors;
  if (!module.unbuilt_modules().empty()) {  // layers sized by their input take the file's shapes instead
    std::map<std::string, Shape> shapes;
    for (const auto& [name, t] : source) shapes.emplace(name, t.shape());
    module.build_from_shapes(shapes);
    module.require_built(path, "the file holds no parameters that give their shapes");
  }
  copy_state(module.state(), source, strict, path);
}

void save(const optim::Optimizer& optimizer, const std::string& path, const SaveOptions& options) {
  const auto state = optimizer.state();
  require_finite(state, "io::save", options);
  save_safetensors(path, state, {{"format", "xgrad"}, {"optimizer", optimizer.name()}});
}

void load(optim::Optimizer& optimizer, const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  const std::string kind = metadata_value(file.metadata, "optimizer");
  if (!kind.empty() && kind != optimizer.name())
    throw ValueError(fmt::format("{}: holds {} state, cannot load it into {}", path, kind, optimizer.name()));
  in_context(path, [&] { optimizer.load_state(file.tensors); });
}

void save_training_state(const std::string& path, const TrainingState& state, const SaveOptions& options) {
  require_module_parameters(state, "save_training_state");
  std::vector<nn::NamedTensor> tensors;
  for (const auto& [name, t] : state.module.state()) tensors.emplace_back(kModel + name, t);
  for (const auto& [key, t] : state.optimizer.state()) tensors.emplace_back(kOptimizer + key, t);
  require_finite(tensors, "save_training_state", options);

  std::map<std::string, std::string> metadata{{"format", kTrainingFormat},
                                              {"format_version", kTrainingVersion},
                                              {"module", state.module.type_name()},
                                              {"optimizer", state.optimizer.name()},
                                              // shortest text that parses back to the same double
                                              {kLearningRate, fmt::format("{}", state.optimizer.learning_rate())}};
  if (state.scheduler)
    for (const auto& [key, value] : state.scheduler->state()) metadata[kScheduler + key] = value;
  for (const auto& [key, value] : state.metadata) metadata[kUser + key] = value;
  save_safetensors(path, tensors, metadata);
}

void load_training_state(const std::string& path, TrainingState& state) {
  const std::string op = "load_training_state: " + path;
  require_module_parameters(state, op);
  const SafetensorsFile file = read_safetensors(path);
  const auto& meta = file.metadata;

  // The file must be a training state of this kind of run.
  const auto expect = [&](const char* key, const std::string& want, const char* hint) {
    const std::string got = metadata_value(meta, key);
    if (got != want)
      throw ValueError(
          fmt::format("{}: metadata '{}' is '{}', expected '{}'{}", op, key, got.substr(0, 80), want, hint));
  };
  expect("format", kTrainingFormat, " (not a file of save_training_state; io::load reads module files)");
  expect("format_version", kTrainingVersion, "");
  expect("module", state.module.type_name(), "");
  expect("optimizer", state.optimizer.name(), "");
  std::map<std::string, std::string> scheduler_state, user;
  for (const auto& [key, value] : meta) {
    if (key.starts_with(kScheduler)) scheduler_state[key.substr(kScheduler.size())] = value;
    if (key.starts_with(kUser)) user[key.substr(kUser.size())] = value;
  }
  if (state.scheduler && scheduler_state.empty())
    throw ValueError(fmt::format("{}: holds no scheduler state, but a scheduler was given", op));
  if (!state.scheduler && !scheduler_state.empty())
    throw ValueError(fmt::format("{}: holds the state of a learning-rate scheduler; pass the scheduler too, or "
                                 "the learning rate would not continue where it stopped",
                                 op));
  const std::string lr_text = metadata_value(meta, kLearningRate);
  double lr = -1.0;
  const auto [end, error] = std::from_chars(lr_text.data(), lr_text.data() + lr_text.size(), lr);
  if (error != std::errc() || end != lr_text.data() + lr_text.size() || !(lr >= 0.0) || !std::isfinite(lr))
    throw ValueError(fmt::format("{}: metadata '{}' must be a finite number >= 0, got '{}'", op, kLearningRate,
                                 lr_text.substr(0, 80)));
  for (const auto& [name, t] : file.tensors)
    if (!name.starts_with(kModel) && !name.starts_with(kOptimizer))
      throw ValueError(fmt::format("{}: unexpected tensor '{}' (a training state holds only 'model.' and "
                                   "'optimizer.' tensors)",
                                   op, name.substr(0, 80)));

  // Check everything, then change everything: the optimizer validates and copies in one call, so it
  // goes after the module's checks and before any copy; the scheduler is rolled back if it fails.
  const auto module_state = state.module.state();
  const auto module_tensors = with_prefix(file.tensors, kModel);
  const auto module_sources = match_state(module_state, module_tensors, true, op);  // points into module_tensors
  const std::int64_t old_step = state.scheduler ? state.scheduler->current_step() : 0;
  const double old_lr = state.optimizer.learning_rate();
  in_context(op, [&] {
    if (state.scheduler) state.scheduler->load_state(scheduler_state);
    try {
      state.optimizer.load_state(with_prefix(file.tensors, kOptimizer));
    } catch (...) {
      if (state.scheduler) state.scheduler->set_step(old_step);
      state.optimizer.set_learning_rate(old_lr);
      throw;
    }
  });
  copy_matched(module_state, module_sources);
  if (!state.scheduler) state.optimizer.set_learning_rate(lr);
  state.metadata = std::move(user);
}

}  // namespace xgrad::io
