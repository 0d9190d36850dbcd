#include "xgrad/backend/nn.hpp"

#include "backend/cpu/cpu_backend.hpp"

namespace xgrad {

namespace {
class CpuNNKernels final : public NNKernels {};
}  // namespace

const NNKernels& CpuBackend::nn() const {
  static const CpuNNKernels kernels;
  return kernels;
}

}  // namespace xgrad
