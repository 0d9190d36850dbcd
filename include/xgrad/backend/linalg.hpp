#pragma once
// Kernel table of the linalg op family (see backend.hpp).
#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// Device kernels behind the linalg ops.
class LinalgKernels {
 public:
  virtual ~LinalgKernels() = default;
};

}  // namespace xgrad
