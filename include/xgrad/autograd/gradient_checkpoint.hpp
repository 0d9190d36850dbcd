#pragma once
// Gradient checkpointing (activation recomputation): a segment of the forward pass runs without recording,
// so none of its intermediate tensors are kept; its backward runs the segment again on a fresh tape and
// differentiates that. Memory held from forward to backward drops to the segment's inputs and output, for
// one more forward pass of the segment per backward.
//
//   Tensor y = gradient_checkpoint([&](const std::vector<Tensor>& in) { return block(in[0]); }, {x},
//                                  {.parameters = block.parameters(), .generators = {&dropout_gen}});
#include <cstdint>
#include <functional>
#include <vector>

#include "xgrad/tensor/generator.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// What gradient_checkpoint needs to know about the segment besides its inputs.
struct GradientCheckpointOptions {
  /// Leaves the segment reads besides its inputs that may need gradients (a module's parameters). Their
  /// gradients are right whether listed or not; listing them makes the call record when no input needs a
  /// gradient, and lets leaf-gradient hooks (data-parallel overlap) see them when the segment's backward ran.
  std::vector<Tensor> parameters = {};
  /// Every generator the segment draws from (dropout): its state is saved before the forward and put back
  /// for the recomputation, so the same masks are drawn; the state reached afterwards is restored.
  std::vector<Generator*> generators = {};
  /// Compare a 64-bit hash of the recomputed output's bytes with the forward's and throw AutogradError when
  /// they differ (a generator missing from `generators`, or a segment that reads changing state). One pass
  /// over the output in each direction; on a GPU it also copies the output to the host.
  bool verify_recomputation = true;
};

/// The segment gradient_checkpoint runs: its inputs in, one output tensor out.
using CheckpointSegment = std::function<Tensor(const std::vector<Tensor>& inputs)>;

/// segment(inputs), keeping only `inputs` (and the output's consumers' own saved tensors) for the backward,
/// which calls segment again and differentiates that call. Without grad mode or anything needing a gradient it
/// is segment(inputs). The segment must compute the same values when called again: pure ops of its inputs,
/// parameters, and the listed generators. A non-leaf tensor it reads must be one of `inputs` (the recomputation
/// runs on its own tape, and a tensor recorded elsewhere throws AutogradError there). Thread settings its ops
/// read, such as the product precision of a PrecisionScope, are those in force when backward() runs: a segment
/// that may be differentiated after its scope ended captures them (TransformerBlock does). Throws ValueError for an
/// undefined input, TypeError when the segment returns an undefined or integer tensor.
Tensor gradient_checkpoint(const CheckpointSegment& segment, const std::vector<Tensor>& inputs,
                           const GradientCheckpointOptions& options = {});

}  // namespace xgrad
