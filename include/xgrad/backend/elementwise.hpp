#pragma once
// Kernel table of the elementwise op family (see backend.hpp).
#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// Device kernels behind the elementwise ops.
class ElementwiseKernels {
 public:
  virtual ~ElementwiseKernels() = default;
};

}  // namespace xgrad
