#include "xgrad/nn/module.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"

namespace xgrad::nn {

Module::Module(std::string type_name, DType dtype) : type_name_(std::move(type_name)), dtype_(dtype) {
  if (!is_floating(dtype))
    throw TypeError(fmt::format("{}: dtype must be float32 or float64, got {}", type_name_, dtype_name(dtype)));
}

namespace {

// Applies `convert` (Tensor::to_ with a target) to every tensor of the tree's state and to its gradient.
template <class Convert>
void convert_state(const Module& m, Convert&& convert) {
  for (const auto& [name, t] : m.state()) {
    Tensor handle = t;
    convert(handle);
    if (Tensor g = t.grad(); g.defined()) convert(g);
  }
}

}  // namespace

Module& Module::to(Device device) {
  backend(device);  // a DeviceError (no plugin, no such device) before anything moves
  convert_state(*this, [&](Tensor& t) { t.to_(device); });
  visit([&](Module& m) { m.device_ = device; });
  return *this;
}

Module& Module::to(DType dtype) {
  if (!is_floating(dtype))
    throw TypeError(fmt::format("{}.to: modules hold float32 or float64 weights, got {}", type_name_, dtype_name(dtype)));
  convert_state(*this, [&](Tensor& t) {
    if (is_floating(t.dtype())) t.to_(dtype);
  });
  visit([&](Module& m) { m.dtype_ = dtype; });
  return *this;
}

void Module::visit(const std::function<void(Module&)>& fn) {
  fn(*this);
  for (auto& [name, child] : children_) child->visit(fn);
}

void Module::check_new_name(const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos)
    throw ValueError(fmt::format("{}: '{}' is not a valid name (non-empty, no dots)", type_name_, name));
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& entry) { return entry.first == name; });
  };
  if (taken(parameters_) || taken(buffers_) || taken(children_))
    throw ValueError(fmt::format("{}: the name '{}' is already registered", type_name_, name));
}

Tensor Module::register_parameter(const std::string& name, Tensor value, bool trainable) {
  check_new_name(name);
  require_defined(value, "register_parameter", name.c_str());
  if (trainable) value.set_requires_grad(true);
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  require_defined(value, "register_buffer", name.c_str());
  buffers_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, Module* child, std::unique_ptr<Module> owned) {
  check_new_name(name);
  if (child == this) throw ValueError(fmt::format("{}: a module cannot be its own child", type_name_));
  children_.emplace_back(name, child);
  if (owned) owned_children_.push_back(std::move(owned));
}

void Module::collect(const std::string& prefix, bool recurse, bool parameters,
                     std::vector<NamedTensor>& out) const {
  for (const auto& [name, t] : parameters ? parameters_ : buffers_) out.emplace_back(prefix + name, t);
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", true, parameters, out);
}

std::vector<NamedTensor> Module::named_parameters(bool recurse) const {
  std::vector<NamedTensor> out;
  collect("", recurse, true, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<NamedTensor> Module::named_trainable_parameters() const {
  require_built("named_trainable_parameters",
                "their weights do not exist yet, so an optimizer given this list would never update them");
  std::vector<NamedTensor> out;
  for (auto& entry : named_parameters())
    if (entry.second.requires_grad()) out.push_back(entry);
  return out;
}

std::vector<NamedTensor> Module::named_buffers(bool recurse) const {
  std::vector<NamedTensor> out;
  collect("", recurse, false, out);
  return out;
}

std::vector<NamedTensor> Module::state() const {
  std::vector<NamedTensor> out = named_parameters();
  for (auto& entry : named_buffers()) out.push_back(std::move(entry));
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const { return children_; }

Tensor Module::find(const std::string& name) const {
  for (auto& [key, t] : state())
    if (key == name) return t;
  std::vector<std::string> names;
  for (auto& [key, t] : state()) names.push_back(key);
  throw ValueError(fmt::format("{}: no parameter or buffer named '{}'; it has: {}", type_name_, name,
                               names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", "))));
}

std::int64_t Module::num_parameters() const {
  std::int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  visit([on](Module& m) { m.training_ = on; });
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) {
    Tensor p = t;
    p.zero_grad();
  }
}

Tensor Module::regularization_loss() const {
  Tensor total = own_regularization_loss();
  auto add_term = [&](const Tensor& term) {
    if (term.defined()) total = total.defined() ? add(total, term) : term;
  };
  for (const auto& term : activity_losses_) add_term(term);
  for (const auto& [name, child] : children_) add_term(child->regularization_loss());
  return total;
}

void Module::apply_constraints() {
  NoGradGuard no_grad;
  apply_own_constraints();
  for (auto& [name, child] : children_) child->apply_constraints();
}

void Module::summarise(const std::string& name, int depth, std::string& out) const {
  std::int64_t own = 0;
  std::vector<std::string> shapes;
  for (const auto& [pname, t] : parameters_) {
    own += t.numel();
    shapes.push_back(fmt::format("{}{}", pname, shape_str(t.shape())));
  }
  std::string label = fmt::format("{}{} ({})", std::string(static_cast<std::size_t>(2 * depth), ' '),
                                  name.empty() ? "model" : name, type_name_);
  std::string detail = describe();
  std::string params = shapes.empty() ? detail : fmt::format("{}", fmt::join(shapes, " "));
  out += fmt::format("{:<36} {:<40} {:>10}\n", label, params, own);
  for (const auto& [cname, child] : children_) child->summarise(cname, depth + 1, out);
}

std::string Module::summary() const {
  std::string out = fmt::format("{:<36} {:<40} {:>10}\n{}\n", "Layer (type)", "Parameters", "Param #",
                                std::string(88, '='));
  summarise("", 0, out);
  std::int64_t trainable = 0;  // what exists now: an unbuilt model still has a summary
  for (auto& [name, t] : named_parameters())
    if (t.requires_grad()) trainable += t.numel();
  out += std::string(88, '=') + "\n";
  out += fmt::format("Total params: {}\nTrainable params: {}\nNon-trainable params: {}\n", num_parameters(),
                     trainable, num_parameters() - trainable);
  return out;
}

// Calls fn(path, module) on `self` and every module below it, parents first; Self is Module or const Module.
template <class Self, class Fn>
void Module::visit(Self& self, const std::string& path, Fn&& fn) {
  fn(path, self);
  for (const auto& [name, child] : self.children_) visit<Self>(*child, path.empty() ? name : path + "." + name, fn);
}

std::vector<std::pair<std::string, const Module*>> Module::unbuilt_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  visit<const Module>(*this, "", [&](const std::string& path, const Module& m) {
    if (!m.built()) out.emplace_back(path, &m);
  });
  return out;
}

void Module::require_built(const std::string& operation, const std::string& consequence) const {
  const auto unbuilt = unbuilt_modules();
  if (unbuilt.empty()) return;
  std::string lines;
  for (const auto& [path, m] : unbuilt)
    lines += fmt::format("\n  {} {} is not built: {}", m->type_name(),
                         path.empty() ? std::string("(the module itself)") : "'" + path + "'", m->build_hint());
  throw ValueError(fmt::format("{}: {} ({}):{}", operation,
                               unbuilt.size() == 1 ? std::string("1 module is not built")
                                                   : fmt::format("{} modules are not built", unbuilt.size()),
                               consequence, lines));
}

void Module::build_from_shapes(const std::map<std::string, Shape>& parameter_shapes) {
  visit<Module>(*this, "", [&](const std::string& path, Module& m) {
    if (m.built()) return;
    const std::string prefix = path.empty() ? path : path + ".";
    m.build_own_from_shapes([&](const std::string& name) -> const Shape* {
      const auto it = parameter_shapes.find(prefix + name);
      return it == parameter_shapes.end() ? nullptr : &it->second;
    });
  });
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (Layer* layer : layers_) h = layer->forward(h);
  return h;
}

Layer& Sequential::operator[](std::size_t i) const {
  if (i >= layers_.size())
    throw IndexError(fmt::format("Sequential: index {} is out of range for {} layers", i, layers_.size()));
  return *layers_[i];
}

}  // namespace xgrad::nn
