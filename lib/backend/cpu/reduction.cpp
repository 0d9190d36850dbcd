#include "xgrad/backend/reduction.hpp"

#include "backend/cpu/cpu_backend.hpp"

namespace xgrad {

namespace {
class CpuReductionKernels final : public ReductionKernels {};
}  // namespace

const ReductionKernels& CpuBackend::reduction() const {
  static const CpuReductionKernels kernels;
  return kernels;
}

}  // namespace xgrad
