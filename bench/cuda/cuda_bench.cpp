// GPU benchmark of the CUDA plugin (tools/gpu-check.sh runs it; docs/cuda.md explains the figures):
//   1. training tokens/s of the Tiny LM and of a larger LM (d_model 512, 8 layers, 8 heads, context 256,
//      batch 32) on cuda:0 and on the CPU (2 threads, the machine the CPU figures in docs/benchmarks.md come from);
//   2. the fused attention core, forward and forward+backward at (B 8, S 1024, E 512, H 8), against the same
//      math unfused (xgrad's own products, which are cuBLAS calls, around its softmax kernel);
//   3. xgrad's GEMM throughput against cuBLAS called directly on the same shapes.
// Every comparison is taken in this one run, as a ratio. Output: one "key value" line per figure (read by
// tools/gpu-check.sh) and a table. Usage: xgrad_cuda_bench [--quick]
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/backend.hpp"
#include "xgrad/backend/threads.hpp"
#include "xgrad/nn/transformer.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

namespace {

using namespace xgrad;
using Clock = std::chrono::steady_clock;

const Device kGpu{DeviceType::cuda, 0};
const Device kCpu{};

void check(cudaError_t s, const char* what) {
  if (s != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(s));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cublasGetStatusString(s));
}

// Median wall time in ms of `reps` runs of fn() after `warmup` untimed ones; `sync` waits for the device.
double median_ms(int warmup, int reps, const std::function<void()>& fn, const std::function<void()>& sync) {
  for (int i = 0; i < warmup; ++i) fn();
  sync();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    fn();
    sync();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct LmSize {
  const char* name;
  int context, d_model, heads, layers, batch;
};

// Training tokens/s of one LM on `device`: zero_grad + forward + cross-entropy + backward + Adam per step.
double lm_tokens_per_s(const LmSize& s, Device device, int warmup, int steps) {
  constexpr int kVocab = 65;  // the character vocabulary of examples/char_lm
  nn::TransformerLM model({.vocab_size = kVocab, .context_length = s.context, .d_model = s.d_model,
                           .num_heads = s.heads, .num_layers = s.layers, .mlp_ratio = 4, .dropout = 0.0, .seed = 0});
  model.to(device);
  optim::Adam adam(model.named_trainable_parameters(), {.lr = 3e-4});
  Generator gen(0);
  const std::int64_t tokens = std::int64_t(s.batch) * s.context;
  std::vector<std::int64_t> xs(static_cast<std::size_t>(tokens)), ys(static_cast<std::size_t>(tokens));
  for (auto& v : xs) v = std::int64_t(gen.next() % kVocab);
  for (auto& v : ys) v = std::int64_t(gen.next() % kVocab);
  const Tensor x = index_tensor(xs, {s.batch, s.context}).to(device), y = index_tensor(ys, {tokens}).to(device);
  const double ms = median_ms(
      warmup, steps,
      [&] {
        adam.zero_grad();
        cross_entropy(reshape(model.forward(x), {tokens, kVocab}), y).backward();
        adam.step();
      },
      [&] { backend(device).synchronize(); });
  return double(tokens) / (ms / 1000.0);
}

// The attention core at (B, S, E, H), fused and unfused, forward and forward+backward, in ms.
struct AttentionTimes {
  double fused_fwd, fused_step, unfused_fwd, unfused_step;
};

AttentionTimes attention_times(int B, int S, int E, int H, int reps) {
  Generator gen(1);
  const int D = E / H;
  auto leaf = [&] { return randn({B, S, H, D}, gen).to(kGpu).set_requires_grad(); };
  const Tensor q = leaf(), k = leaf(), v = leaf();
  const Tensor g = randn({B, S, H, D}, gen).to(kGpu);
  const double scale = 1.0 / std::sqrt(double(D));
  auto fused = [&] { return attention(q, k, v, {.scale = scale}).output; };
  // The same math from separate ops: heads to the front, Z = scale·Q·Kᵀ, softmax, P·V, heads back.
  auto unfused = [&] {
    const Tensor qh = permute(q, {0, 2, 1, 3}), kh = permute(k, {0, 2, 1, 3}), vh = permute(v, {0, 2, 1, 3});
    return permute(matmul(softmax(matmul(qh, kh, false, true) * scale, -1), vh), {0, 2, 1, 3});
  };
  auto sync = [] { backend(kGpu).synchronize(); };
  AttentionTimes t{};
  {
    NoGradGuard no_grad;
    t.fused_fwd = median_ms(2, reps, [&] { fused(); }, sync);
    t.unfused_fwd = median_ms(2, reps, [&] { unfused(); }, sync);
  }
  t.fused_step = median_ms(2, reps, [&] { fused().backward(g); }, sync);
  t.unfused_step = median_ms(2, reps, [&] { unfused().backward(g); }, sync);
  return t;
}

// TFLOP/s of xgrad's matmul and of cublasSgemm on an (m, k)·(k, n) product in float32.
std::pair<double, double> gemm_tflops(int m, int n, int k, int reps) {
  Generator gen(2);
  const Tensor a = randn({m, k}, gen).to(kGpu), b = randn({k, n}, gen).to(kGpu);
  const double flop = 2.0 * m * n * k;
  double xgrad_ms;
  {
    NoGradGuard no_grad;
    xgrad_ms = median_ms(3, reps, [&] { matmul(a, b); }, [] { backend(kGpu).synchronize(); });
  }
  // cuBLAS on its own buffers, same precision (no TF32 unless XGRAD_CUDA_TF32=1 asked xgrad for it too).
  float *da = nullptr, *db = nullptr, *dc = nullptr;
  check(cudaMalloc(&da, sizeof(float) * m * k), "cudaMalloc");
  check(cudaMalloc(&db, sizeof(float) * k * n), "cudaMalloc");
  check(cudaMalloc(&dc, sizeof(float) * m * n), "cudaMalloc");
  cublasHandle_t h;
  check(cublasCreate(&h), "cublasCreate");
  const char* tf32 = std::getenv("XGRAD_CUDA_TF32");
  check(cublasSetMathMode(h, tf32 && std::strcmp(tf32, "1") == 0 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
        "cublasSetMathMode");
  const float one = 1.0f, zero = 0.0f;
  const double cublas_ms = median_ms(
      3, reps,
      [&] { check(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, db, n, da, k, &zero, dc, n), "cublasSgemm"); },
      [] { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); });
  cublasDestroy(h);
  cudaFree(da), cudaFree(db), cudaFree(dc);
  return {flop / (xgrad_ms * 1e9), flop / (cublas_ms * 1e9)};
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  try {
    if (device_count(DeviceType::cuda) == 0) {
      backend(kGpu);  // throws the reason
    }
    std::printf("device %s\n", device_str(kGpu).c_str());
    set_num_threads(2);
    const LmSize tiny{"tiny_lm", 64, 128, 4, 2, 32}, large{"large_lm", 256, 512, 8, 8, 32};
    std::vector<std::pair<std::string, double>> rows;
    for (const LmSize& s : {tiny, large}) {
      const double gpu = lm_tokens_per_s(s, kGpu, 3, quick ? 5 : 20);
      const bool big = s.layers > 2;
      const double cpu = lm_tokens_per_s(s, kCpu, 1, big || quick ? 2 : 10);
      rows.emplace_back(std::string(s.name) + "_cuda_tokens_per_s", gpu);
      rows.emplace_back(std::string(s.name) + "_cpu2_tokens_per_s", cpu);
      rows.emplace_back(std::string(s.name) + "_cuda_over_cpu2", gpu / cpu);
    }
    const AttentionTimes at = attention_times(8, 1024, 512, 8, quick ? 3 : 10);
    rows.emplace_back("attention_fused_fwd_ms", at.fused_fwd);
    rows.emplace_back("attention_unfused_fwd_ms", at.unfused_fwd);
    rows.emplace_back("attention_fwd_speedup", at.unfused_fwd / at.fused_fwd);
    rows.emplace_back("attention_fused_fwd_bwd_ms", at.fused_step);
    rows.emplace_back("attention_unfused_fwd_bwd_ms", at.unfused_step);
    rows.emplace_back("attention_fwd_bwd_speedup", at.unfused_step / at.fused_step);
    const int shapes[][3] = {{8192, 2048, 512}, {8192, 512, 2048}, {8192, 512, 512}, {4096, 4096, 4096}};
    for (const auto& s : shapes) {
      const auto [mine, theirs] = gemm_tflops(s[0], s[1], s[2], quick ? 5 : 20);
      const std::string name = "gemm_" + std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]);
      rows.emplace_back(name + "_xgrad_tflops", mine);
      rows.emplace_back(name + "_cublas_tflops", theirs);
      rows.emplace_back(name + "_ratio", mine / theirs);
    }
    for (const auto& [key, value] : rows) std::printf("%s %.4g\n", key.c_str(), value);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xgrad_cuda_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
