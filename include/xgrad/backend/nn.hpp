#pragma once
// Kernel table of the nn op family (see backend.hpp).
#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// Device kernels behind the nn ops.
class NNKernels {
 public:
  virtual ~NNKernels() = default;
};

}  // namespace xgrad
