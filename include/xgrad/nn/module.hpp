#pragma once
// Module: the base of every layer. Parameters, buffers and sub-modules are registered under names,
// so `named_parameters()` yields dotted paths like `blocks.0.attn.query.kernel` (Keras/PyTorch style)
// without holder macros: sub-modules are plain members registered by reference, or owned through
// std::unique_ptr.
#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <map>
#include <type_traits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

/// A (dotted name, tensor) pair as returned by named_parameters() and named_buffers().
using NamedTensor = std::pair<std::string, Tensor>;

/// Base class of layers and models. Not copyable or movable: registered children are referenced.
class Module {
 public:
  /// A module whose summary() shows `type_name` (e.g. "Dense") and whose weights are `dtype`.
  explicit Module(std::string type_name, DType dtype = DType::float32);
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = delete;
  Module& operator=(Module&&) = delete;

  /// The layer's type, e.g. "Dense".
  const std::string& type_name() const { return type_name_; }

  /// Registers `value` as parameter `name` (trainable parameters require grad) and returns its handle.
  Tensor register_parameter(const std::string& name, Tensor value, bool trainable = true);
  /// Registers a non-parameter tensor saved with the module (running statistics, caches).
  Tensor register_buffer(const std::string& name, Tensor value);
  /// Registers `child` (owned by the caller, typically a member) as sub-module `name`.
  template <class M>
  M& register_module(const std::string& name, M& child) {
    add_child(name, &child, nullptr);
    return child;
  }
  /// Registers and takes ownership of `child` as sub-module `name`.
  template <class M>
  M& register_module(const std::string& name, std::unique_ptr<M> child) {
    M& ref = *child;
    add_child(name, &ref, std::unique_ptr<Module>(std::move(child)));
    return ref;
  }

  /// Every parameter, with dotted names, in registration order (children after own parameters).
  std::vector<NamedTensor> named_parameters(bool recurse = true) const;
  /// The parameters' handles, in the order of named_parameters().
  std::vector<Tensor> parameters(bool recurse = true) const;
  /// Only the trainable parameters (those requiring grad), with dotted names: what an optimizer takes.
  /// Throws ValueError naming every unbuilt module (see built()), whose weights would be missing from the list.
  std::vector<NamedTensor> named_trainable_parameters() const;
  /// Every buffer, with dotted names.
  std::vector<NamedTensor> named_buffers(bool recurse = true) const;
  /// Parameters then buffers: what a checkpoint of this module holds.
  std::vector<NamedTensor> state() const;
  /// Direct sub-modules with their names.
  std::vector<std::pair<std::string, Module*>> named_children() const;
  /// The parameter or buffer at dotted `name`; throws ValueError listing close names when absent.
  Tensor find(const std::string& name) const;

  /// Total number of parameter elements (trainable and not).
  std::int64_t num_parameters() const;
  /// Sets training mode on this module and all sub-modules (dropout active, etc.).
  void train(bool on = true);
  /// Sets inference mode on this module and all sub-modules.
  void eval() { train(false); }
  /// Whether the module is in training mode.
  bool is_training() const { return training_; }

  /// The dtype of the module's floating weights: lazily built weights get it, inputs must have it.
  DType dtype() const { return dtype_; }
  /// The device of the module's tensors: lazily built weights are created there.
  Device device() const { return device_; }
  /// Moves every parameter, buffer and gradient of this module and its sub-modules to `device`, in place:
  /// handles held elsewhere (an optimizer's, a user's) stay valid and see the moved data. Weights built
  /// later are built on `device`. Returns *this.
  Module& to(Device device);
  /// Converts every floating parameter, buffer and gradient of the tree to `dtype` (float32 or float64) in
  /// place, like to(Device); int64 buffers are kept. Inputs must then have `dtype` (e.g. to gradcheck a
  /// float32 model in float64). Throws TypeError for int64. Returns *this.
  Module& to(DType dtype);
  /// Fills every parameter's gradient with zeros (keeping the buffers).
  void zero_grad();

  /// Sum of the regularization terms of this module and all sub-modules (Keras `model.losses`):
  /// weight penalties computed now, plus activity penalties recorded by the latest forward calls.
  /// Undefined when no module has a regularizer.
  Tensor regularization_loss() const;
  /// Projects every constrained parameter back onto its constraint (call after an optimizer step).
  void apply_constraints();

  /// A Keras-like summary table: layer tree, parameter shapes and counts, totals.
  std::string summary() const;

  /// Whether every parameter this module will have exists. Layers that size their weights from their input
  /// (Dense, LayerNorm, MultiHeadAttention) are unbuilt until given the input width (an `input_dim` option,
  /// build()), loaded with io::load, or called once; every other module is always built.
  virtual bool built() const { return true; }
  /// The unbuilt modules of this tree, this one included, with their dotted paths ("" for this module),
  /// parents before children; empty once everything is built.
  std::vector<std::pair<std::string, const Module*>> unbuilt_modules() const;
  /// Throws ValueError when a module of this tree is unbuilt: "`operation`: 2 modules are not built
  /// (`consequence`):" followed by one line per module with its type, dotted path and how to build it.
  void require_built(const std::string& operation, const std::string& consequence) const;
  /// Builds every unbuilt module of this tree from the shapes its parameters are to have, keyed by dotted
  /// name (a checkpoint's names and shapes: io::load passes them). A module whose parameters are not listed
  /// stays unbuilt; shapes that contradict a layer's options throw what its build() throws.
  void build_from_shapes(const std::map<std::string, Shape>& parameter_shapes);

 protected:
  /// This module's own regularization terms (no children); undefined when it has none.
  virtual Tensor own_regularization_loss() const { return {}; }
  /// Applies this module's own constraints (no children).
  virtual void apply_own_constraints() {}
  /// Records an activity-regularization term during forward; cleared by clear_activity_losses().
  void add_activity_loss(const Tensor& loss) { activity_losses_.push_back(loss); }
  /// Forgets the activity terms of the previous forward call (call at the start of forward).
  void clear_activity_losses() { activity_losses_.clear(); }
  /// Hook for subclasses whose parameters are created lazily; called by summary() for display.
  virtual std::string describe() const { return {}; }
  /// How to build this module without a forward call, for require_built()'s message (asked only when unbuilt).
  virtual std::string build_hint() const { return "run one forward pass"; }
  /// Builds this unbuilt module from the shapes of its parameters, named relative to it ("kernel",
  /// "query.kernel"); `shape_of` gives null for a name it does not hold. Leaves the module unbuilt when they
  /// do not determine it. Lazily built layers override it together with built() and build_hint().
  virtual void build_own_from_shapes(const std::function<const Shape*(const std::string&)>& shape_of) {
    (void)shape_of;
  }

 private:
  void add_child(const std::string& name, Module* child, std::unique_ptr<Module> owned);
  void visit(const std::function<void(Module&)>& fn);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool recurse, bool parameters, std::vector<NamedTensor>& out) const;
  void summarise(const std::string& name, int depth, std::string& out) const;
  template <class Self, class Fn>
  static void visit(Self& self, const std::string& path, Fn&& fn);

  std::string type_name_;
  bool training_ = true;
  DType dtype_;
  Device device_;
  std::vector<NamedTensor> parameters_;
  std::vector<NamedTensor> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<std::unique_ptr<Module>> owned_children_;
  std::vector<Tensor> activity_losses_;
};

/// A module with one tensor in and one tensor out; what Sequential chains.
class Layer : public Module {
 public:
  using Module::Module;
  /// Applies the layer to `x`.
  virtual Tensor forward(const Tensor& x) = 0;
  /// Same as forward(x).
  Tensor operator()(const Tensor& x) { return forward(x); }
};

/// Applies its layers in order; layers are named "0", "1", ... like torch.nn.Sequential.
class Sequential : public Layer {
 public:
  /// An empty sequence.
  Sequential() : Layer("Sequential") {}
  /// Appends `layer` (taking ownership) and returns it.
  template <class L>
  L& add(std::unique_ptr<L> layer) {
    L& ref = register_module(std::to_string(layers_.size()), std::move(layer));
    layers_.push_back(&ref);
    return ref;
  }
  /// Constructs a layer of type L in place from `args` and appends it.
  template <class L, class... Args>
  L& emplace(Args&&... args) {
    return add(std::make_unique<L>(std::forward<Args>(args)...));
  }
  /// Runs x through every layer in order.
  Tensor forward(const Tensor& x) override;
  /// Number of layers.
  std::size_t size() const { return layers_.size(); }
  /// The i-th layer.
  Layer& operator[](std::size_t i) const;

 private:
  std::vector<Layer*> layers_;
};

}  // namespace xgrad::nn

/// fmt support: `fmt::print("{}", model)` prints model.summary().
template <class M>
  requires std::is_base_of_v<xgrad::nn::Module, M>
struct fmt::formatter<M> : fmt::formatter<std::string> {
  /// Formats the module's summary table.
  template <class FormatContext>
  auto format(const M& module, FormatContext& ctx) const {
    return fmt::formatter<std::string>::format(module.summary(), ctx);
  }
};
