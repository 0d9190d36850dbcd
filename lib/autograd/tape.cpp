#include "xgrad/autograd/tape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <unordered_set>
#include <utility>

#include "xgrad/tensor/creation.hpp"

namespace xgrad {

namespace {

struct Node {
  std::string_view op;
  // One entry per op input, in record() order; null for inputs that need no gradient.
  std::vector<std::shared_ptr<TensorImpl>> inputs;
  // Weak, so that a node whose output nobody can reach any more is recognised as garbage.
  std::weak_ptr<TensorImpl> output;
  BackwardFn backward;
};

// Every thread's tape gets an id no other tape in the process ever had, so a tensor recorded on one
// thread is recognised on another even when both tapes hold the same number of nodes, or when its
// recording thread has exited.
std::atomic<std::uint64_t> next_tape_id{1};

struct Tape {
  std::vector<Node> nodes;
  const std::uint64_t id = next_tape_id.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t generation = 1;
  std::size_t compact_at = 4096;
  bool grad_enabled = true;
};

// The thread's own tape, and the one ops record on now: a FreshTape swaps in another for its lifetime.
thread_local Tape root_tape;
thread_local Tape* active_tape = &root_tape;

Tape& tape() { return *active_tape; }

// Drops nodes whose output is unreachable: no handle and no later node refers to it, so no
// gradient can ever arrive there. Walking from the end frees chains of dead nodes in one pass.
void compact() {
  std::vector<Node>& nodes = tape().nodes;
  std::vector<bool> keep(nodes.size());
  for (std::size_t i = nodes.size(); i-- > 0;) {
    keep[i] = !nodes[i].output.expired();
    if (!keep[i]) nodes[i] = Node{};
  }
  std::size_t next = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!keep[i]) continue;
    if (auto out = nodes[i].output.lock()) out->node = static_cast<std::int64_t>(next);
    if (next != i) nodes[next] = std::move(nodes[i]);
    ++next;
  }
  nodes.resize(next);
  tape().compact_at = std::max<std::size_t>(4096, 2 * next);
}

// tape_generation of a tensor whose node a backward pass consumed (live generations start at 1).
constexpr std::uint64_t kConsumed = 0;

bool recorded_here(const TensorImpl& t) { return t.tape_id == tape().id; }

bool has_live_node(const TensorImpl& t) {
  return t.node >= 0 && recorded_here(t) && t.tape_generation == tape().generation;
}

[[noreturn]] void throw_other_thread(std::string_view what) {
  throw AutogradError(fmt::format(
      "backward: {} was recorded on another tape; each thread has its own tape, so call backward() on "
      "the thread that ran the forward pass (or detach() the tensor before handing it over). Inside a "
      "gradient_checkpoint segment, a non-leaf tensor the segment reads must be one of its inputs",
      what));
}

// Releases a node after its backward ran; its output can no longer be differentiated through.
void consume(Node& node) {
  if (auto out = node.output.lock()) out->tape_generation = kConsumed;
  node = Node{};
}

// Gradients of interior tensors, indexed by the node that produced them.
struct Engine {
  std::vector<Tensor> node_grads;

  Tensor& slot(const Node& node, std::size_t i) {
    TensorImpl& input = *node.inputs[i];
    if (input.node < 0) return input.grad;
    if (!recorded_here(input)) throw_other_thread(fmt::format("input {} of '{}'", i, node.op));
    if (!has_live_node(input))
      throw AutogradError(fmt::format(
          "backward: input {} of '{}' was produced by an op whose graph an earlier backward() already "
          "consumed; recompute it, detach() it, or pass retain_graph to the first backward()",
          i, node.op));
    return node_grads[static_cast<std::size_t>(input.node)];
  }
};

void check_grad_shape(const Node& node, std::size_t i, const Tensor& grad) {
  const TensorImpl& input = *node.inputs[i];
  if (grad.shape() != input.shape || grad.dtype() != input.dtype)
    throw AutogradError(fmt::format("backward of '{}': gradient for input {} is {} {}, expected {} {}",
                                    node.op, i, dtype_name(grad.dtype()), shape_str(grad.shape()),
                                    dtype_name(input.dtype), shape_str(input.shape)));
}

void check_input_index(const Node& node, std::size_t i) {
  if (i >= node.inputs.size())
    throw AutogradError(fmt::format("backward of '{}': input {} does not exist; the op recorded {} inputs",
                                    node.op, i, node.inputs.size()));
}

// A gradient may be moved into an empty slot only if nobody else can see its storage.
bool exclusively_owned(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.impl().storage.use_count() == 1;
}

// Leaf-gradient-ready hooks of this thread, with their ids.
thread_local std::vector<std::pair<std::size_t, LeafGradReadyHook>> leaf_hooks;
thread_local std::size_t next_leaf_hook_id = 1;

// The leaves of nodes [0, start] with the index of their first consumer, ascending: walking down, a leaf's
// gradient is final once the walk is below that index. Built only when some hook is installed.
class LeafReadiness {
 public:
  explicit LeafReadiness(std::size_t start) {
    if (leaf_hooks.empty()) return;
    // Only nodes the walk from `start` reaches count: the tape may also hold other graphs (another loss, a
    // forward pass never differentiated), whose leaves get no gradient from this pass.
    const std::vector<Node>& nodes = tape().nodes;
    std::vector<bool> reached(start + 1);
    reached[start] = true;
    for (std::size_t n = start + 1; n-- > 0;) {
      if (!reached[n]) continue;
      for (const auto& input : nodes[n].inputs)
        if (input && has_live_node(*input) && static_cast<std::size_t>(input->node) < n)
          reached[static_cast<std::size_t>(input->node)] = true;
    }
    std::unordered_set<const TensorImpl*> seen;
    for (std::size_t n = 0; n <= start; ++n) {
      if (!reached[n]) continue;
      for (const auto& input : nodes[n].inputs)
        if (input && input->node < 0 && seen.insert(input.get()).second) pending_.emplace_back(n, input);
    }
  }
  // Fires the hooks for every leaf whose first consumer has an index above `n` (all of them for n = -1).
  void fire_above(std::ptrdiff_t n) {
    while (!pending_.empty() && static_cast<std::ptrdiff_t>(pending_.back().first) > n) {
      const std::shared_ptr<TensorImpl> leaf = std::move(pending_.back().second);
      pending_.pop_back();
      for (auto& [id, hook] : leaf_hooks) hook(*leaf);
    }
  }

 private:
  std::vector<std::pair<std::size_t, std::shared_ptr<TensorImpl>>> pending_;
};

}  // namespace

bool grad_enabled() { return tape().grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(tape().grad_enabled) { tape().grad_enabled = false; }
NoGradGuard::~NoGradGuard() { tape().grad_enabled = previous_; }

bool needs_recording(std::initializer_list<const Tensor*> inputs) {
  return needs_recording(std::span<const Tensor* const>(inputs.begin(), inputs.size()));
}

bool needs_recording(std::span<const Tensor* const> inputs) {
  if (!tape().grad_enabled) return false;
  return std::any_of(inputs.begin(), inputs.end(),
                     [](const Tensor* t) { return t && t->defined() && t->requires_grad(); });
}

void record(std::string_view op, std::initializer_list<const Tensor*> inputs, Tensor& output,
            BackwardFn backward) {
  record(op, std::span<const Tensor* const>(inputs.begin(), inputs.size()), output, std::move(backward));
}

void record(std::string_view op, std::span<const Tensor* const> inputs, Tensor& output, BackwardFn backward) {
  TensorImpl& out = output.impl();
  // The inputs vector is the only allocation: the node is built in place in a tape that keeps its capacity.
  std::vector<std::shared_ptr<TensorImpl>> needing_grad;
  needing_grad.reserve(inputs.size());
  for (const Tensor* t : inputs)
    needing_grad.push_back(t && t->defined() && t->requires_grad() ? t->impl_ptr() : nullptr);
  Tape& t = tape();
  t.nodes.emplace_back(op, std::move(needing_grad), output.impl_ptr(), std::move(backward));
  out.requires_grad = true;
  out.node = static_cast<std::int64_t>(t.nodes.size() - 1);
  out.tape_id = t.id;
  out.tape_generation = t.generation;
  if (t.nodes.size() >= t.compact_at) compact();
}

std::size_t tape_size() { return tape().nodes.size(); }

void clear_tape() {
  Tape& t = tape();
  t.nodes.clear();
  ++t.generation;
  t.compact_at = 4096;
}

std::size_t add_leaf_grad_ready_hook(LeafGradReadyHook hook) {
  leaf_hooks.emplace_back(next_leaf_hook_id, std::move(hook));
  return next_leaf_hook_id++;
}

void remove_leaf_grad_ready_hook(std::size_t id) {
  std::erase_if(leaf_hooks, [id](const auto& entry) { return entry.first == id; });
}

struct FreshTape::State {
  Tape tape;
  Tape* previous = active_tape;
  std::vector<std::pair<std::size_t, LeafGradReadyHook>> hooks = std::exchange(leaf_hooks, {});
};

FreshTape::FreshTape() : state_(std::make_unique<State>()) { active_tape = &state_->tape; }

FreshTape::~FreshTape() {
  active_tape = state_->previous;
  leaf_hooks = std::move(state_->hooks);
}

bool BackwardContext::needs_grad(std::size_t i) const {
  const auto& node = *static_cast<const Node*>(node_);
  return i < node.inputs.size() && node.inputs[i] != nullptr;
}

void BackwardContext::accumulate(std::size_t i, Tensor grad) {
  const auto& node = *static_cast<const Node*>(node_);
  check_input_index(node, i);
  if (!node.inputs[i]) return;  // an input that needs no gradient drops what it is given
  check_grad_shape(node, i, grad);
  Tensor& target = static_cast<Engine*>(engine_)->slot(node, i);
  if (!target.defined()) {
    target = exclusively_owned(grad) ? std::move(grad) : grad.clone();
    return;
  }
  target.backend().accumulate(target.dtype(), target.raw_data(), grad.raw_data(), target.numel());
}

BackwardContext::GradDestination BackwardContext::grad_destination(std::size_t i) {
  const auto& node = *static_cast<const Node*>(node_);
  check_input_index(node, i);
  if (!node.inputs[i])
    throw AutogradError(fmt::format("backward of '{}': a gradient buffer for input {} was asked for, but it "
                                    "needs no gradient; test ctx.needs_grad({}) first", node.op, i, i));
  Tensor& target = static_cast<Engine*>(engine_)->slot(node, i);
  if (target.defined()) return {target, 1.0};
  const TensorImpl& input = *node.inputs[i];
  target = Tensor::empty(input.shape, input.dtype, input.storage->device());
  return {target, 0.0};
}

Tensor& BackwardContext::grad_buffer(std::size_t i) {
  const GradDestination d = grad_destination(i);
  if (d.beta == 0.0) d.tensor.backend().fill(d.tensor.dtype(), d.tensor.raw_data(), d.tensor.numel(), 0.0);
  return d.tensor;
}

void Tensor::backward() const { backward(BackwardOptions{}); }

void Tensor::backward(const Tensor& grad) const { backward(BackwardOptions{grad, false}); }

void Tensor::backward(const BackwardOptions& options) const {
  const TensorImpl& self = impl();
  if (!self.requires_grad)
    throw AutogradError(fmt::format("backward: this {} tensor of shape {} does not require grad; mark an "
                                    "input with set_requires_grad(true) before computing it",
                                    dtype_name(self.dtype), shape_str(self.shape)));
  Tensor seed = options.grad;
  if (!seed.defined()) {
    if (numel() != 1)
      throw AutogradError(fmt::format("backward: a gradient can be implied only for a one-element output, "
                                      "got shape {}; pass backward(grad)", shape_str(self.shape)));
    seed = ones(self.shape, self.dtype, device());
  } else if (seed.shape() != self.shape || seed.dtype() != self.dtype) {
    throw ShapeError(fmt::format("backward: gradient {} {} does not match output {} {}", dtype_name(seed.dtype()),
                                 shape_str(seed.shape()), dtype_name(self.dtype), shape_str(self.shape)));
  }
  // A gradient the caller passed may be kept and reused by the caller, so it is copied before anything
  // accumulates into it; the implied ones() seed is ours and is moved in.
  auto own_seed = [&] { return options.grad.defined() ? seed.clone() : std::move(seed); };
  NoGradGuard no_grad;
  if (is_leaf()) {  // a leaf's gradient with respect to itself
    Tensor own = grad();
    if (own.defined())
      own.backend().accumulate(own.dtype(), own.raw_data(), seed.raw_data(), own.numel());
    else
      impl().grad = own_seed();
    return;
  }
  if (!recorded_here(self)) throw_other_thread(fmt::format("the graph of this {} tensor", shape_str(self.shape)));
  if (!has_live_node(self))
    throw AutogradError("backward: the graph of this tensor was already consumed by an earlier backward(); "
                        "recompute the forward pass or use retain_graph");

  Engine engine;
  const auto start = static_cast<std::size_t>(self.node);
  engine.node_grads.resize(start + 1);
  engine.node_grads[start] = own_seed();
  std::size_t consumed = 0;
  LeafReadiness leaves(start);
  for (std::size_t n = start + 1; n-- > 0;) {
    leaves.fire_above(static_cast<std::ptrdiff_t>(n));
    Node& node = tape().nodes[n];
    Tensor grad_out = std::move(engine.node_grads[n]);
    // A node no gradient reaches belongs to another graph (another loss): it stays recorded.
    if (!grad_out.defined()) continue;
    if (node.backward) {
      BackwardContext ctx(std::move(grad_out), &node, &engine);
      node.backward(ctx);
    }
    if (!options.retain_graph) {
      consume(node);  // frees saved tensors as the walk passes
      ++consumed;
    }
  }
  leaves.fire_above(-1);
  std::vector<Node>& nodes = tape().nodes;
  if (consumed == nodes.size())
    nodes.clear();  // the usual training step: keeps the capacity for the next one
  else if (consumed > 0)
    compact();
}

}  // namespace xgrad
