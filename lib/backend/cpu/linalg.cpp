#include "xgrad/backend/linalg.hpp"

#include "backend/cpu/cpu_backend.hpp"

namespace xgrad {

namespace {
class CpuLinalgKernels final : public LinalgKernels {};
}  // namespace

const LinalgKernels& CpuBackend::linalg() const {
  static const CpuLinalgKernels kernels;
  return kernels;
}

}  // namespace xgrad
