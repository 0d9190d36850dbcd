#include "xgrad/backend/elementwise.hpp"

#include "backend/cpu/cpu_backend.hpp"

namespace xgrad {

namespace {
class CpuElementwiseKernels final : public ElementwiseKernels {};
}  // namespace

const ElementwiseKernels& CpuBackend::elementwise() const {
  static const CpuElementwiseKernels kernels;
  return kernels;
}

}  // namespace xgrad
