#pragma once
// Kernel table of the shape op family (see backend.hpp).
#include "xgrad/backend/backend.hpp"

namespace xgrad {

/// Device kernels behind the shape ops.
class ShapeKernels {
 public:
  virtual ~ShapeKernels() = default;
};

}  // namespace xgrad
