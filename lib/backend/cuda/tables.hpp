#pragma once
// The kernel tables of the CUDA backend, one source file per op family beside this header. Each table
// is built for one device's Context and lives as long as its backend.
#include <cstdint>
#include <memory>
#include <string>

#include "backend/cuda/context.hpp"
#include "xgrad/backend/attention.hpp"
#include "xgrad/backend/elementwise.hpp"
#include "xgrad/backend/linalg.hpp"
#include "xgrad/backend/nn.hpp"
#include "xgrad/backend/optim.hpp"
#include "xgrad/backend/random.hpp"
#include "xgrad/backend/reduction.hpp"
#include "xgrad/backend/shape.hpp"

namespace xgrad::cuda {

std::unique_ptr<ElementwiseKernels> make_elementwise(const Context& ctx);  ///< elementwise.cu
std::unique_ptr<RandomKernels> make_random(const Context& ctx);            ///< random.cu
std::unique_ptr<ReductionKernels> make_reduction(const Context& ctx);      ///< reduction.cu
std::unique_ptr<ShapeKernels> make_shape(const Context& ctx);              ///< shape.cu
std::unique_ptr<LinalgKernels> make_linalg(const Context& ctx);            ///< linalg.cpp (cuBLAS)
std::unique_ptr<OptimKernels> make_optim(const Context& ctx);              ///< optim.cu
std::unique_ptr<NNKernels> make_nn(const Context& ctx);                    ///< nn.cu
std::unique_ptr<AttentionKernels> make_attention(const Context& ctx);      ///< attention.cu

/// Whether the plugin holds GPU code that CUDA device `device` can run; else `why` names its compute
/// capability and the architectures built (XGRAD_CUDA_ARCHITECTURES); elementwise.cu.
bool has_code_for_device(int device, std::string& why);

/// dst[0, n) = value in `dtype` (Backend::fill); elementwise.cu.
void fill(const Context& ctx, DType dtype, void* dst, std::int64_t n, double value);
/// dst[i] += src[i] for i < n (Backend::accumulate); elementwise.cu.
void accumulate(const Context& ctx, DType dtype, void* dst, const void* src, std::int64_t n);

/// x[i] = factor * x[i] for i < n, exactly 0 when factor is 0 (a GEMM's beta C with k = 0); elementwise.cu.
void scale_in_place(const Context& ctx, DType dtype, void* x, std::int64_t n, double factor);

/// dst[index[i] * width + j] += src[i * width + j] for i < n, j < width, repeated indices summed in order
/// of i without float atomics: the scatter of embedding_backward (width = dim) and scatter_add (width 1);
/// reduction.cu.
void scatter_rows_add(const Context& ctx, DType dtype, const std::int64_t* index, std::int64_t n, const void* src,
                      std::int64_t width, void* dst);

/// Position of the first entry of index[0, n) outside [0, extent), or -1; synchronizes, since the answer
/// goes to the host; shape.cu.
std::int64_t first_out_of_range(const Context& ctx, const std::int64_t* index, std::int64_t n, std::int64_t extent);

/// The cuBLAS element and compute types of a product in `dtype` on `ctx`: float32 products keep float32
/// precision unless ctx.tf32; linalg.cpp. Throws TypeError naming `op` for int64.
struct BlasTypes {
  cudaDataType_t data;           ///< element type of A, B and C
  cublasComputeType_t compute;   ///< accumulation type
};
BlasTypes blas_types(const Context& ctx, DType dtype, const char* op);

/// Checks that a GEMM extent fits the int cuBLAS takes; throws ValueError naming `op` and `what`; linalg.cpp.
int blas_int(std::int64_t value, const char* op, const char* what);

}  // namespace xgrad::cuda
