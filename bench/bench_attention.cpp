// Multi-head self-attention, forward and forward+backward, float32: xgrad's functional
// multi_head_attention (packed in-projection, biases, out-projection, batch-first) against LibTorch's
// torch::nn::MultiheadAttention (sequence-first, as its 1.13 C++ API takes) on the same shapes and thread
// count, in one binary. Prints the xgrad/LibTorch time ratio per case at the end (target <= 0.7).
// Arguments of every benchmark: B, S, E, heads, causal (0/1), threads.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/backend.hpp"
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

void shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t threads : {1, 2}) {
    b->Args({8, 64, 128, 4, 0, threads});
    b->Args({32, 128, 256, 8, 0, threads});
    b->Args({32, 64, 128, 4, 1, threads});
  }
  // Wall time: with 2 threads the main thread's CPU time misses the OpenBLAS workers.
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3)->Repetitions(5)->DisplayAggregatesOnly(true);
}

BENCHMARK(BM_XgradForward)->Apply(shapes);
BENCHMARK(BM_XgradForwardBackward)->Apply(shapes);
#ifdef XGRAD_BENCH_WITH_TORCH
BENCHMARK(BM_TorchForward)->Apply(shapes);
BENCHMARK(BM_TorchForwardBackward)->Apply(shapes);
#endif

// Console output plus one line per case and pass: xgrad time over LibTorch time, from the medians of wall
// time and of the main thread's CPU time. On a loaded machine the CPU-time ratio is the steadier one at
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
      for (const auto& [args, x] : xg) {
        const auto it = th.find(args);
        if (it == th.end()) {
          std::printf("  %-16s %-20s xgrad wall %8.3f cpu %8.3f  (no LibTorch build)\n", pass, args.c_str(), x.wall,
                      x.cpu);
          continue;
        }
        const Times& t = it->second;
        std::printf("  %-16s %-20s xgrad wall %8.3f cpu %8.3f  LibTorch wall %8.3f cpu %8.3f  ratio wall %.2f cpu %.2f\n",
                    pass, args.c_str(), x.wall, x.cpu, t.wall, t.cpu, x.wall / t.wall, x.cpu / t.cpu);
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
