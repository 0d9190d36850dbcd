#pragma once
// Optimizer: the base of SGD, Adam, AdamW and RMSprop. It holds named parameters (as returned by
// Module::named_trainable_parameters()) and named state buffers ("exp_avg.<param name>", ...),
// allocated once at construction so step() allocates nothing: each step is one fused kernel call per
// parameter (backend/optim.hpp).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::optim {

/// A (name, tensor) pair: a parameter or a state entry (same type as nn::NamedTensor).
using NamedTensor = std::pair<std::string, Tensor>;

/// Base of the optimizers: parameter bookkeeping, learning rate, and named, checkpointable state.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Updates every parameter that has a gradient; parameters whose grad() is undefined are skipped
  /// (their step count does not advance), like PyTorch. State buffers follow their parameter: after
  /// Module::to(device) or to(dtype), the next step moves or converts them too.
  void step();
  /// Fills every parameter's existing gradient with zeros (keeping the buffers for accumulation).
  void zero_grad();

  /// The current learning rate.
  double learning_rate() const { return lr_; }
  /// Sets the learning rate used by the next step(); throws ValueError when negative or NaN.
  void set_learning_rate(double lr);

  /// The optimizer's name ("SGD", "Adam", "AdamW", "RMSprop"), used in error messages.
  const std::string& name() const { return name_; }
  /// The parameters, in the order given to the constructor.
  const std::vector<NamedTensor>& parameters() const { return params_; }

  /// Everything needed to resume: "step" (int64, one update count per parameter, in parameter order)
  /// then each buffer as "<buffer>.<parameter name>". The tensors share data with the optimizer
  /// (zero-copy for checkpointing): clone() them to keep a snapshot while training goes on.
  std::vector<NamedTensor> state() const;
  /// Copies `state` (as produced by state() of an optimizer of the same kind over the same parameters)
  /// into this optimizer. Every key, shape, dtype and value is checked before anything is copied, so on
  /// error (ValueError: missing/unexpected/duplicate key, a step count outside [0, 2^53), a non-finite
  /// buffer value, a negative second moment or centered-RMSprop variance; ShapeError: shape; TypeError:
  /// dtype) nothing changes. The message names the key and the parameter.
  void load_state(const std::vector<NamedTensor>& state);

 protected:
  /// Validates `params` (non-empty, defined, floating, distinct names and tensors) and `lr`.
  Optimizer(std::string name, std::vector<NamedTensor> params, double lr);

  /// Allocates one zero-filled buffer per parameter, named "<kind>.<parameter name>"; returns its kind id.
  std::size_t add_buffers(const std::string& kind);
  /// Kind id of a buffer the rule does not keep (momentum 0, no amsgrad, ...).
  static constexpr std::size_t no_buffer = static_cast<std::size_t>(-1);
  /// Data of buffer kind `kind` for parameter `i`; null for no_buffer.
  void* buffer_data(std::size_t kind, std::size_t i) const {
    return kind == no_buffer ? nullptr : buffers_[kind].tensors[i].raw_data();
  }

  /// Applies the update rule to parameter `i`; `step` is its update count including this one (>= 1).
  virtual void update(std::size_t i, const Tensor& param, const Tensor& grad, std::int64_t step) = 0;

  /// Throws ValueError "<name>: <what> must be <range>, got <value>" unless `ok`.
  void require(bool ok, const char* what, const char* range, double value) const;

 private:
  /// Moves or converts parameter i's buffers to its device and dtype when they differ.
  void follow_parameter(std::size_t i);

  struct Buffers {
    std::string kind;
    std::vector<Tensor> tensors;
  };
  std::string name_;
  std::vector<NamedTensor> params_;
  double lr_ = 0.0;
  Tensor steps_;  // int64 (P,), host-side bookkeeping: always on the CPU, whatever device the parameters use
  std::vector<Buffers> buffers_;
};

}  // namespace xgrad::optim
