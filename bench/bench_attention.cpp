// Multi-head self-attention, forward and forward+backward, float32: xgrad's functional
// multi_head_attention (packed in-projection, biases, out-projection, batch-first) against LibTorch's
// torch::nn::MultiheadAttention (sequence-first, as its 1.13 C++ API takes) on the same shapes and thread
// count, in one binary. Prints the xgrad/LibTorch time ratio per case at the end (target <= 0.7).
// Arguments of every benchmark: B, S, E, heads, causal (0/1), threads.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/threads.hpp"
#include "xgrad/functional/attention.hpp"
#include "xgrad/tensor/creation.hpp"

#ifdef XGRAD_BENCH_WITH_TORCH
#include <torch/torch.h>
#endif

namespace {

struct Case {
  std::int64_t B, S, E, H;
  bool causal;
  int threads;
};

Case case_of(const benchmark::State& state) {
  return {state.range(0), state.range(1), state.range(2), state.range(3), state.range(4) != 0,
          static_cast<int>(state.range(5))};
}

// The layer's weights and one input, all float32; the weights require grad as a module's would.
struct XgradMha {
  xgrad::Tensor x, dout;
  xgrad::functional::MultiHeadAttentionOptions options;

  explicit XgradMha(const Case& c) {
    using namespace xgrad;
    Generator gen(1);
    const double s = 1.0 / std::sqrt(static_cast<double>(c.E));
    x = randn({c.B, c.S, c.E}, gen).set_requires_grad();  // as inside a network: the input needs a gradient
    dout = randn({c.B, c.S, c.E}, gen);
    options.num_heads = c.H;
    options.is_causal = c.causal;
    options.in_proj_weights = randn({3 * c.E, c.E}, gen, DType::float32, 0.0, s).set_requires_grad();
    options.in_proj_bias = zeros({3 * c.E}).set_requires_grad();
    options.out_proj_weights = randn({c.E, c.E}, gen, DType::float32, 0.0, s).set_requires_grad();
    options.out_proj_bias = zeros({c.E}).set_requires_grad();
  }
  xgrad::Tensor forward() const { return xgrad::functional::multi_head_attention(x, {}, {}, options).output; }
  void zero_grad() {
    for (xgrad::Tensor* t : {&x, &options.in_proj_weights, &options.in_proj_bias, &options.out_proj_weights,
                             &options.out_proj_bias})
      t->zero_grad();
  }
};

// The products alone: every cblas_sgemm an MHA layer built on OpenBLAS has to run, on the same shapes, with
// nothing else (no softmax, bias, copies or allocation). xgrad's own row blocking is used, so for a causal
// mask the per-head products skip the blocks above the diagonal as xgrad's do. Single-threaded only: it
// is the floor that both libraries share at 1 thread, and its ratio to LibTorch's time says how far below
// LibTorch any OpenBLAS-based implementation can go.
struct GemmFloor {
  std::int64_t B, S, E, H, D, rows_step;
  std::vector<float> x, w_in, qkv, kt, p, o, w_out, y, dy, dqkv, dattn, dx, dw_in, dw_out, dp;

  explicit GemmFloor(const Case& c)
      : B(c.B), S(c.S), E(c.E), H(c.H), D(c.E / c.H), rows_step(c.causal ? 16 : c.S) {
    const std::size_t tokens = static_cast<std::size_t>(B * S), e = static_cast<std::size_t>(E);
    for (auto* v : {&x, &o, &y, &dy, &dattn, &dx}) v->assign(tokens * e, 0.01f);
    for (auto* v : {&qkv, &dqkv}) v->assign(tokens * 3 * e, 0.01f);
    for (auto* v : {&w_in, &dw_in}) v->assign(3 * e * e, 0.01f);
    for (auto* v : {&w_out, &dw_out}) v->assign(e * e, 0.01f);
    kt.assign(static_cast<std::size_t>(S * D), 0.01f);
    for (auto* v : {&p, &dp}) v->assign(static_cast<std::size_t>(S * S), 0.01f);
  }
  static void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                   std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                lda, b, ldb, beta, c, ldc);
  }
  // Calls fn(offset of the head in Q/K/V rows, its offset in O rows, rows, first row, keys seen) per query row
  // block of every (batch, head).
  template <class Fn>
  void for_each_block(Fn&& fn) const {
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t t0 = 0; t0 < S; t0 += rows_step) {
          const std::int64_t t1 = std::min(t0 + rows_step, S);
          fn(b * S * 3 * E + h * D, b * S * E + h * D, t1 - t0, t0, rows_step == S ? S : t1);
        }
  }
  void forward() {
    const std::int64_t tokens = B * S, ld = 3 * E;
    gemm(false, true, tokens, 3 * E, E, x.data(), E, w_in.data(), E, 0.0f, qkv.data(), ld);  // Q, K, V
    for_each_block([&](std::int64_t head, std::int64_t out, std::int64_t rows, std::int64_t t0, std::int64_t keys) {
      gemm(false, false, rows, keys, D, qkv.data() + head + t0 * ld, ld, kt.data(), S, 0.0f, p.data(), S);  // Q·Kᵀ
      gemm(false, false, rows, D, keys, p.data(), S, qkv.data() + head + 2 * E, ld, 0.0f, o.data() + out + t0 * E,
           E);  // P·V
    });
    gemm(false, true, tokens, E, E, o.data(), E, w_out.data(), E, 0.0f, y.data(), E);  // out projection
  }
  void backward() {
    const std::int64_t tokens = B * S, ld = 3 * E;
    gemm(false, false, tokens, E, E, dy.data(), E, w_out.data(), E, 0.0f, dattn.data(), E);  // dO
    gemm(true, false, E, E, tokens, dy.data(), E, o.data(), E, 0.0f, dw_out.data(), E);   // dW_out
    for_each_block([&](std::int64_t head, std::int64_t out, std::int64_t rows, std::int64_t t0, std::int64_t keys) {
      float* dq = dqkv.data() + head;
      const float* dout = dattn.data() + out + t0 * E;
      gemm(true, false, keys, D, rows, p.data(), S, dout, E, 1.0f, dq + 2 * E, ld);                   // dV
      gemm(false, false, rows, keys, D, dout, E, kt.data(), S, 0.0f, dp.data(), S);                   // dP
      gemm(false, false, rows, D, keys, dp.data(), S, qkv.data() + head + E, ld, 1.0f, dq + t0 * ld, ld);  // dQ
      gemm(true, false, keys, D, rows, dp.data(), S, qkv.data() + head + t0 * ld, ld, 1.0f, dq + E, ld);  // dK
    });
    gemm(false, false, tokens, E, 3 * E, dqkv.data(), ld, w_in.data(), E, 0.0f, dx.data(), E);  // dX
    gemm(true, false, 3 * E, E, tokens, dqkv.data(), ld, x.data(), E, 0.0f, dw_in.data(), E);   // dW_in
  }
};

void BM_GemmFloorForward(benchmark::State& state) {
  const Case c = case_of(state);
  xgrad::set_num_threads(1);  // OpenBLAS runs single-threaded inside xgrad's pool
  GemmFloor f(c);
  for (auto _ : state) f.forward();
}

void BM_GemmFloorForwardBackward(benchmark::State& state) {
  const Case c = case_of(state);
  xgrad::set_num_threads(1);
  GemmFloor f(c);
  for (auto _ : state) {
    f.forward();
    f.backward();
  }
}

void BM_XgradForward(benchmark::State& state) {
  const Case c = case_of(state);
  xgrad::set_num_threads(c.threads);  // xgrad's pool; it keeps OpenBLAS at one thread inside it
  XgradMha m(c);
  xgrad::NoGradGuard no_grad;  // inference: nothing recorded
  for (auto _ : state) benchmark::DoNotOptimize(m.forward().raw_data());
}

void BM_XgradForwardBackward(benchmark::State& state) {
  const Case c = case_of(state);
  xgrad::set_num_threads(c.threads);  // xgrad's pool; it keeps OpenBLAS at one thread inside it
  XgradMha m(c);
  for (auto _ : state) {
    m.zero_grad();
    m.forward().backward(m.dout);
    benchmark::DoNotOptimize(m.options.in_proj_weights.grad().raw_data());
  }
}

#ifdef XGRAD_BENCH_WITH_TORCH
extern "C" void openblas_set_num_threads(int);

// LibTorch's best configuration: its intra-op threads plus OpenBLAS's own threads for its products.
void set_torch_threads(int threads) {
  torch::set_num_threads(threads);
  openblas_set_num_threads(threads);
}

struct TorchMha {
  torch::nn::MultiheadAttention mha;
  torch::Tensor x, dout, mask;

  explicit TorchMha(const Case& c) : mha(torch::nn::MultiheadAttentionOptions(c.E, c.H)) {
    torch::manual_seed(1);
    x = torch::randn({c.S, c.B, c.E}).requires_grad_();
    dout = torch::randn({c.S, c.B, c.E});
    if (c.causal) mask = torch::ones({c.S, c.S}, torch::kBool).triu(1);  // True = blocked
  }
  // need_weights=false: xgrad returns no weights either.
  torch::Tensor forward() { return std::get<0>(mha->forward(x, x, x, {}, false, mask)); }
};

void BM_TorchForward(benchmark::State& state) {
  const Case c = case_of(state);
  set_torch_threads(c.threads);
  TorchMha m(c);
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(m.forward().data_ptr());
}

void BM_TorchForwardBackward(benchmark::State& state) {
  const Case c = case_of(state);
  set_torch_threads(c.threads);
  TorchMha m(c);
  for (auto _ : state) {
    m.mha->zero_grad();
    if (m.x.grad().defined()) m.x.grad().zero_();
    m.forward().backward(m.dout);
    benchmark::DoNotOptimize(m.mha->in_proj_weight.grad().data_ptr());
  }
}
#endif

void shapes_at(benchmark::internal::Benchmark* b, std::initializer_list<std::int64_t> thread_counts) {
  for (std::int64_t threads : thread_counts) {
    b->Args({8, 64, 128, 4, 0, threads});
    b->Args({32, 128, 256, 8, 0, threads});
    b->Args({32, 64, 128, 4, 1, threads});
  }
  // Wall time: with 2 threads the main thread's CPU time misses the OpenBLAS workers.
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3)->Repetitions(5)->DisplayAggregatesOnly(true);
}
void shapes(benchmark::internal::Benchmark* b) { shapes_at(b, {1, 2}); }
void one_thread_shapes(benchmark::internal::Benchmark* b) { shapes_at(b, {1}); }

BENCHMARK(BM_GemmFloorForward)->Apply(one_thread_shapes);
BENCHMARK(BM_GemmFloorForwardBackward)->Apply(one_thread_shapes);
BENCHMARK(BM_XgradForward)->Apply(shapes);
BENCHMARK(BM_XgradForwardBackward)->Apply(shapes);
#ifdef XGRAD_BENCH_WITH_TORCH
BENCHMARK(BM_TorchForward)->Apply(shapes);
BENCHMARK(BM_TorchForwardBackward)->Apply(shapes);
#endif

// Console output plus one line per case and pass: xgrad time over LibTorch time, from the medians of wall
// time and of the main thread's CPU time; at 1 thread also the time of the products alone (GemmFloor) and
// its share of LibTorch's time. On a loaded machine the CPU-time ratio is the steadier one at
// 1 thread; at 2 threads it misses the worker threads, so read the wall-time ratio there.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median")
        times_[r.run_name.function_name][r.run_name.args] = {r.GetAdjustedRealTime(), r.GetAdjustedCPUTime()};
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nxgrad / LibTorch, medians in ms, wall and main-thread CPU (args B/S/E/heads/causal/threads):\n");
    for (const char* pass : {"Forward", "ForwardBackward"}) {
      const auto& xg = times_["BM_Xgrad" + std::string(pass)];
      const auto& th = times_["BM_Torch" + std::string(pass)];
      const auto& floor_of = times_["BM_GemmFloor" + std::string(pass)];
      for (const auto& [args, x] : xg) {
        const auto it = th.find(args);
        if (it == th.end()) {
          std::printf("  %-16s %-20s xgrad wall %8.3f cpu %8.3f  (no LibTorch build)\n", pass, args.c_str(), x.wall,
                      x.cpu);
          continue;
        }
        const Times& t = it->second;
        std::printf("  %-16s %-20s xgrad wall %8.3f cpu %8.3f  LibTorch wall %8.3f cpu %8.3f  ratio wall %.2f cpu %.2f",
                    pass, args.c_str(), x.wall, x.cpu, t.wall, t.cpu, x.wall / t.wall, x.cpu / t.cpu);
        const auto floor = floor_of.find(args);
        if (floor != floor_of.end())
          std::printf("  | products alone %.3f = %.2f of LibTorch", floor->second.cpu, floor->second.cpu / t.cpu);
        std::printf("\n");
      }
    }
  }

 private:
  struct Times {
    double wall, cpu;
  };
  std::map<std::string, std::map<std::string, Times>> times_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
}
