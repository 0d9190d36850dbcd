#include "xgrad/io/checkpoint.hpp"

#include <fmt/format.h>

#include <map>

#include "xgrad/io/safetensors.hpp"

namespace xgrad::io {

void save(const nn::Module& module, const std::string& path) {
  save_safetensors(path, module.state(), {{"format", "xgrad"}, {"module", module.type_name()}});
}

void copy_state(const std::vector<nn::NamedTensor>& target, const std::vector<nn::NamedTensor>& source,
                bool strict, const std::string& what) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : source) by_name[name] = &t;
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
    by_name.erase(it);
  }
  if (strict && !by_name.empty())
    throw ValueError(fmt::format("{}: unexpected tensor '{}' {} (not in the destination)", what,
                                 by_name.begin()->first, shape_str(by_name.begin()->second->shape())));
  std::map<std::string, const Tensor*> sources;
  for (const auto& [name, t] : source) sources[name] = &t;
  for (const auto& [name, t] : target) {
    const Tensor& src = *sources.at(name);
    const std::size_t bytes = static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype());
    t.backend().copy_from_host(t.raw_data(), src.raw_data(), bytes);
  }
}

void load(nn::Module& module, const std::string& path, bool strict) {
  const auto source = load_safetensors(path);
  if (!module.unbuilt_modules().empty()) {  // layers sized by their input take the file's shapes instead
    std::map<std::string, Shape> shapes;
    for (const auto& [name, t] : source) shapes.emplace(name, t.shape());
    module.build_from_shapes(shapes);
    module.require_built(path, "the file holds no parameters that give their shapes");
  }
  copy_state(module.state(), source, strict, path);
}

void save(const optim::Optimizer& optimizer, const std::string& path) {
  save_safetensors(path, optimizer.state(), {{"format", "xgrad"}, {"optimizer", optimizer.name()}});
}

void load(optim::Optimizer& optimizer, const std::string& path) {
  auto state = load_safetensors(path);
  const auto metadata = load_safetensors_metadata(path);
  const auto kind = metadata.find("optimizer");
  if (kind != metadata.end() && kind->second != optimizer.name())
    throw ValueError(fmt::format("{}: holds {} state, cannot load it into {}", path, kind->second, optimizer.name()));
  optimizer.load_state(state);
}

}  // namespace xgrad::io
