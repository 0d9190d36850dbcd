#include "xgrad/backend/attention.hpp"

#include "backend/cpu/cpu_backend.hpp"

namespace xgrad {

namespace {
class CpuAttentionKernels final : public AttentionKernels {};
}  // namespace

const AttentionKernels& CpuBackend::attention() const {
  static const CpuAttentionKernels kernels;
  return kernels;
}

}  // namespace xgrad
