#pragma once
// Checks that every rank wraps the same model, so that the buckets line up across ranks.
#include "xgrad/dist/communicator.hpp"
#include "xgrad/nn/module.hpp"

namespace xgrad::dist {

/// Throws ValueError on every rank, naming the first difference and the rank that has it, unless every rank's
/// `model` has the same parameters and buffers (names, order, shapes, dtypes, trainability) as rank 0's.
/// `who` starts the message. A collective call.
void check_same_model(const nn::Module& model, const Communicator& comm, const char* who);

}  // namespace xgrad::dist
