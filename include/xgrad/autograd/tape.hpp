#pragma once
// The thread-local autograd tape. Ops append a node (inputs, output, backward closure) when any
// input requires grad; backward() walks the nodes in reverse creation order, which is already a
// topological order, so no graph search or recursion is needed. A backward pass frees the nodes it
// reaches (unless retain_graph); nodes of other graphs on the tape stay recorded.
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Options for Tensor::backward.
struct BackwardOptions {
  Tensor grad;                ///< d(loss)/d(output); undefined means 1 for a one-element output
  bool retain_graph = false;  ///< keep the walked nodes (and saved tensors) for another backward pass
};

/// Whether ops record on this thread's tape (true unless a NoGradGuard is alive).
bool grad_enabled();

/// RAII: disables recording on this thread for its lifetime (nestable).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// What an op's backward closure sees: the output gradient and one gradient slot per input.
class BackwardContext {
 public:
  /// d(loss)/d(output) of the op being differentiated.
  const Tensor& grad_output() const { return grad_output_; }
  /// Moves d(loss)/d(output) out of the context (grad_output() is undefined afterwards), so that an op can
  /// hand it to one input without a copy: `ctx.accumulate(1, ctx.take_grad_output())` as its last use.
  Tensor take_grad_output() { return std::move(grad_output_); }
  /// Whether input `i` (in the order given to record()) needs a gradient.
  bool needs_grad(std::size_t i) const;
  /// Adds `grad` (shaped like input `i`) to input i's gradient; moves it in when the slot is empty.
  /// Dropped when input i needs no gradient.
  void accumulate(std::size_t i, Tensor grad);
  /// Input i's gradient buffer, created zero-filled if empty, for kernels that accumulate in place
  /// (GEMM with beta = 1). Throws AutogradError when input i needs no gradient.
  Tensor& grad_buffer(std::size_t i);
  /// Where a kernel that can overwrite or add (GEMM's beta) puts input i's gradient.
  struct GradDestination {
    Tensor& tensor;  ///< the gradient buffer
    double beta;     ///< 1: add to the gradient it holds; 0: new, contents unspecified, overwrite all of it
  };
  /// Input i's gradient buffer as grad_buffer() gives it, but created without the zero fill when empty (beta 0
  /// then tells the kernel to overwrite it). Throws AutogradError when input i needs no gradient.
  GradDestination grad_destination(std::size_t i);

  /// Engine use only: binds the context to one node.
  BackwardContext(Tensor grad_output, const void* node, void* engine)
      : grad_output_(std::move(grad_output)), node_(node), engine_(engine) {}

 private:
  Tensor grad_output_;
  const void* node_;
  void* engine_;
};

/// Backward closure of one recorded op.
using BackwardFn = std::function<void(BackwardContext&)>;

/// True when an op on `inputs` must be recorded: grad mode is on and some input requires grad.
bool needs_recording(std::initializer_list<const Tensor*> inputs);
/// needs_recording for a number of inputs known only at run time (concat, stack).
bool needs_recording(std::span<const Tensor* const> inputs);

/// Appends a node for `output = op(inputs)` to this thread's tape and marks `output` as requiring
/// grad. `op` must be a string literal (it is kept by pointer). The closure must capture saved
/// tensors by detach()ed handles only, never `output` itself, so dead graph branches can be freed.
void record(std::string_view op, std::initializer_list<const Tensor*> inputs, Tensor& output,
            BackwardFn backward);
/// record for a number of inputs known only at run time (concat, stack).
void record(std::string_view op, std::span<const Tensor* const> inputs, Tensor& output, BackwardFn backward);

/// A detached handle to `t` when `needed`, else an undefined tensor: what an op saves for its backward.
inline Tensor save_if(bool needed, const Tensor& t) { return needed ? t.detach() : Tensor(); }

/// Number of nodes on this thread's tape (for tests and diagnostics).
std::size_t tape_size();

/// Drops every node on this thread's tape; tensors produced by them can no longer be differentiated.
void clear_tape();

/// Called during a backward pass on this thread as soon as a leaf's gradient is final: the reverse walk has
/// passed every recorded node that uses the leaf (its first consumer), so nothing more will be added to it.
/// Data-parallel training starts a gradient bucket's reduction from here while the rest of backward runs.
using LeafGradReadyHook = std::function<void(TensorImpl& leaf)>;
/// Installs `hook` for every later backward pass on this thread; returns an id for remove_leaf_grad_ready_hook.
/// With no hook installed, backward does no extra work.
std::size_t add_leaf_grad_ready_hook(LeafGradReadyHook hook);
/// Removes the hook with this id from this thread (nothing happens if it is not installed).
void remove_leaf_grad_ready_hook(std::size_t id);

/// RAII: ops on this thread record on a new, empty tape (grad mode on) for the scope's lifetime, and the
/// leaf-gradient-ready hooks are suspended; the previous tape, its nodes and hooks come back afterwards.
/// For recomputing part of a graph inside a backward pass (gradient_checkpoint): the nested forward and
/// backward never touch the nodes the outer pass is walking, and the hooks fire once, from the outer pass.
class FreshTape {
 public:
  FreshTape();
  ~FreshTape();
  FreshTape(const FreshTape&) = delete;
  FreshTape& operator=(const FreshTape&) = delete;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace xgrad
