#include "xgrad/autograd/gradient_checkpoint.hpp"

#include <fmt/format.h>

#include <cstring>
#include <span>
#include <utility>

#include "xgrad/autograd/tape.hpp"

namespace xgrad {

namespace {

constexpr const char* kWho = "gradient_checkpoint";

// A Generator's whole state is its value (seed and offset), so copies save it and assignment restores it.
std::vector<Generator> states_of(const std::vector<Generator*>& generators) {
  std::vector<Generator> states;
  for (const Generator* g : generators) states.push_back(*g);
  return states;
}

void restore(const std::vector<Generator*>& generators, const std::vector<Generator>& states) {
  for (std::size_t i = 0; i < generators.size(); ++i) *generators[i] = states[i];
}

// Sets the generators to `to` for the recomputation and puts their current states back when it ends, also by
// an exception.
class RewindGenerators {
 public:
  RewindGenerators(const std::vector<Generator*>& generators, const std::vector<Generator>& to)
      : generators_(generators), now_(states_of(generators)) {
    restore(generators_, to);
  }
  ~RewindGenerators() { restore(generators_, now_); }
  RewindGenerators(const RewindGenerators&) = delete;
  RewindGenerators& operator=(const RewindGenerators&) = delete;

 private:
  const std::vector<Generator*>& generators_;
  std::vector<Generator> now_;
};

// A 64-bit hash of the tensor's bytes in four independent multiply-xor lanes, so it runs at memory speed
// rather than at one multiply latency per word.
std::uint64_t bytes_hash(const Tensor& t) {
  const Tensor host = t.device().type == DeviceType::cpu ? t : t.to(Device{});
  const auto* bytes = static_cast<const unsigned char*>(host.raw_data());
  const std::size_t n = static_cast<std::size_t>(host.numel()) * dtype_size(host.dtype());
  constexpr std::uint64_t kPrime = 0x100000001B3ULL;
  std::uint64_t lane[4] = {0xCBF29CE484222325ULL, 0x84222325CBF29CE4ULL, 0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL};
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int l = 0; l < 4; ++l) {
      std::uint64_t word;
      std::memcpy(&word, bytes + i + 8 * l, 8);
      lane[l] = (lane[l] ^ word) * kPrime;
    }
  for (; i < n; ++i) lane[0] = (lane[0] ^ bytes[i]) * kPrime;
  return lane[0] ^ (lane[1] * 3) ^ (lane[2] * 5) ^ (lane[3] * 7) ^ n;
}

Tensor checked_output(Tensor out) {
  if (!out.defined()) throw TypeError(fmt::format("{}: the segment returned an undefined tensor", kWho));
  if (!is_floating(out.dtype()))
    throw TypeError(fmt::format("{}: the segment returned a {} tensor of shape {}; only a floating output can be "
                                "differentiated", kWho, dtype_name(out.dtype()), shape_str(out.shape())));
  return out;
}

}  // namespace

Tensor gradient_checkpoint(const CheckpointSegment& segment, const std::vector<Tensor>& inputs,
                           const GradientCheckpointOptions& options) {
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined()) throw ValueError(fmt::format("{}: input {} is undefined", kWho, i));
  for (const Generator* g : options.generators)
    if (!g) throw ValueError(fmt::format("{}: options.generators holds a null pointer", kWho));
  std::vector<const Tensor*> recorded;  // the node's inputs: the segment's inputs, then the parameters
  for (const Tensor& t : inputs) recorded.push_back(&t);
  for (const Tensor& t : options.parameters) recorded.push_back(&t);
  if (!needs_recording(std::span<const Tensor* const>(recorded))) return segment(inputs);

  const std::vector<Generator> before = states_of(options.generators);
  Tensor out;
  {
    NoGradGuard no_grad;
    // detach(): a segment returning one of its inputs must not make record() below relabel that input.
    out = checked_output(segment(inputs)).detach();
  }
  const std::uint64_t forward_hash = options.verify_recomputation ? bytes_hash(out) : 0;
  std::vector<Tensor> saved;
  for (const Tensor& t : inputs) saved.push_back(t.detach());
  record("gradient_checkpoint", std::span<const Tensor* const>(recorded), out,
         [segment, saved = std::move(saved), generators = options.generators, before, forward_hash,
          verify = options.verify_recomputation](BackwardContext& ctx) {
           std::vector<Tensor> grads(saved.size());
           {
             // The outer walk's engine resolves ctx.accumulate's slots on the outer tape, so the fresh one
             // must be gone by then.
             FreshTape fresh;
             std::vector<Tensor> leaves;
             Tensor again;
             {
               RewindGenerators rewind(generators, before);
               for (std::size_t i = 0; i < saved.size(); ++i) {
                 leaves.push_back(saved[i].detach());
                 if (ctx.needs_grad(i)) leaves.back().set_requires_grad(true);
               }
               again = checked_output(segment(leaves));
             }
             if (again.shape() != ctx.grad_output().shape() || again.dtype() != ctx.grad_output().dtype() ||
                 (verify && bytes_hash(again) != forward_hash))
               throw AutogradError(fmt::format(
                   "{}: the segment's recomputation gave a different output ({} {}) than its forward pass; it "
                   "must compute the same values again: list every generator it draws from in "
                   "options.generators, and do not change what it reads between forward and backward",
                   kWho, dtype_name(again.dtype()), shape_str(again.shape())));
             if (!again.requires_grad()) return;  // the output depends on nothing that needs a gradient
             again.backward(BackwardOptions{ctx.take_grad_output()});
             for (std::size_t i = 0; i < leaves.size(); ++i)
               grads[i] = std::exchange(leaves[i].impl().grad, Tensor());  // moved, not copied
           }
           for (std::size_t i = 0; i < grads.size(); ++i)
             if (grads[i].defined()) ctx.accumulate(i, std::move(grads[i]));
         });
  return out;
}

}  // namespace xgrad
