#pragma once
// The built-in CPU backend. Each kernel family is defined in its own source file beside this one.
#include <cstdint>
#include <string>
#include <string_view>

#include "xgrad/backend/backend.hpp"
#include "xgrad/backend/linalg.hpp"

namespace xgrad {

/// Backend for host memory: xtensor + xsimd for elementwise math, OpenBLAS CBLAS and register tiles for products.
class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  Device device() const override { return Device{}; }
  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) noexcept override;
  void copy_from_host(void* device_dst, const void* host_src, std::size_t bytes) override;
  void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes) override;
  void copy(void* dst, const void* src, std::size_t bytes) override;
  void fill(DType dtype, void* dst, std::int64_t n, double value) override;
  void accumulate(DType dtype, void* dst, const void* src, std::int64_t n) override;
  void synchronize() override {}  // every CPU kernel has finished when its call returns

  const ElementwiseKernels& elementwise() const override;  // cpu/elementwise.cpp
  const RandomKernels& random() const override;            // cpu/random.cpp
  const ReductionKernels& reduction() const override;      // cpu/reduction.cpp
  const ShapeKernels& shape() const override;              // cpu/shape.cpp
  const LinalgKernels& linalg() const override;            // cpu/linalg.cpp
  const OptimKernels& optim() const override;              // cpu/optim.cpp
  const NNKernels* nn() const override;                    // cpu/nn.cpp
  const AttentionKernels* attention() const override;      // cpu/attention.cpp
};

/// The process-wide CPU backend.
CpuBackend& cpu_backend();

namespace cpu {
/// Whether products run on the register tiles where they fit (packed_product in linalg.cpp): only in a build
/// that targets AVX2 with FMA, or AVX-512. OpenBLAS picks its kernels for the CPU at run time, so the tiles of
/// a portable (SSE2) build would do a quarter of its work per instruction.
bool products_on_tiles();

/// C = alpha op(A)·op(B) + beta C for one product of g (its flags, sizes and scales; its pointers, offsets
/// and batch are not read) in one single-threaded OpenBLAS call, with the row-major leading dimensions of the
/// stored matrices. The only place xgrad calls CBLAS's GEMM; the first call checks OpenBLAS's kernels.
template <class T>
void blas_gemm(const GemmArgs& g, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
               std::int64_t ldc);

/// The OPENBLAS_CORETYPE to suggest when OpenBLAS runs `core` (openblas_get_corename()) on a CPU with AVX2 and
/// FMA (`avx2`) or AVX-512 (`avx512`) but `core` has no kernels for them, as when an OpenBLAS older than the CPU
/// falls back to its SSE3 "Prescott" kernels; empty when `core` already uses the CPU's widest FMA units.
std::string blas_core_advice(std::string_view core, bool avx2, bool avx512);
}  // namespace cpu

}  // namespace xgrad
