#pragma once
// Kernel table of the reduction op family (see backend.hpp).
#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// Device kernels behind the reduction ops.
class ReductionKernels {
 public:
  virtual ~ReductionKernels() = default;
};

}  // namespace xgrad
