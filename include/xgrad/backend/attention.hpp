#pragma once
// Kernel table of the attention op family (see backend.hpp).
#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// Device kernels behind the fused attention core.
class AttentionKernels {
 public:
  virtual ~AttentionKernels() = default;
};

}  // namespace xgrad
