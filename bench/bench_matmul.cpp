// matmul forward + backward through the tape against raw cblas_sgemm doing the same three products
// (C = A B, dA = dC Bᵀ, dB = Aᵀ dC), float32, in one run; prints GFLOP/s and the tape/raw ratio. Then single
// products of the Tiny LM's step through the CPU backend's GEMM (which takes register tiles for some of them)
// against the same cblas_sgemm call, alternating, with beta = 1 as most of the step's products accumulate.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/backend.hpp"
#include "xgrad/backend/linalg.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

namespace {

// (M, K, N): A is (M, K), B is (K, N).
struct Case {
  std::int64_t m, k, n;
};

double flops(const Case& c) { return 3.0 * 2.0 * static_cast<double>(c.m * c.k * c.n); }

Case case_of(const benchmark::State& state) { return {state.range(0), state.range(1), state.range(2)}; }

void set_counters(benchmark::State& state, const Case& c) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops(c) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// What a training step does: zero the leaves' grads, forward, backward with a given dC.
void BM_TapeMatmul(benchmark::State& state) {
  const Case c = case_of(state);
  Generator gen(1);
  Tensor a = randn({c.m, c.k}, gen).set_requires_grad();
  Tensor b = randn({c.k, c.n}, gen).set_requires_grad();
  Tensor dc = randn({c.m, c.n}, gen);
  for (auto _ : state) {
    a.zero_grad();
    b.zero_grad();
    Tensor out = matmul(a, b);
    out.backward(dc);
    benchmark::DoNotOptimize(a.grad().raw_data());
  }
  set_counters(state, c);
}

// The same three products straight through OpenBLAS into preallocated buffers.
void BM_RawSgemm(benchmark::State& state) {
  const Case c = case_of(state);
  const auto m = static_cast<int>(c.m), k = static_cast<int>(c.k), n = static_cast<int>(c.n);
  Generator gen(1);
  Tensor a = randn({c.m, c.k}, gen), b = randn({c.k, c.n}, gen), dc = randn({c.m, c.n}, gen);
  std::vector<float> out(static_cast<std::size_t>(m * n)), da(static_cast<std::size_t>(m * k)),
      db(static_cast<std::size_t>(k * n));
  const float* A = a.data<float>();
  const float* B = b.data<float>();
  const float* dC = dc.data<float>();
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, A, k, B, n, 0.f, out.data(), n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, n, 1.f, dC, n, B, n, 0.f, da.data(), k);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, 1.f, A, k, dC, n, 0.f, db.data(), n);
    benchmark::DoNotOptimize(da.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, c);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({4096, 512, 512})->Args({256, 256, 256})->Args({512, 512, 512})->Args({1024, 1024, 1024});
  // CPU time, not wall time: on a shared machine the wall clock also counts other jobs' turns.
  b->Unit(benchmark::kMillisecond)->MinTime(0.5)->Repetitions(5)->DisplayAggregatesOnly(true);
}

BENCHMARK(BM_RawSgemm)->Apply(shapes);
BENCHMARK(BM_TapeMatmul)->Apply(shapes);

// One product C (m, n) += op(A)·op(B), args (m, k, n, trans_a, trans_b), row-major, contiguous.
struct Product {
  std::int64_t m, k, n;
  bool ta, tb;
  explicit Product(const benchmark::State& s)
      : m(s.range(0)), k(s.range(1)), n(s.range(2)), ta(s.range(3) != 0), tb(s.range(4) != 0) {}
};

// Both calls in every iteration, in alternating order, each timed alone: the counters are each one's fastest
// call and raw ÷ backend of those, so that the load drifting during a run (this benchmark's machines drift by
// 15 % and more) hits both sides alike.
void BM_ProductVsRaw(benchmark::State& state) {
  const Product p(state);
  Generator gen(1);
  Tensor a = randn({p.m * p.k}, gen), b = randn({p.k * p.n}, gen), c = randn({p.m * p.n}, gen);
  GemmArgs g;
  g.trans_a = p.ta, g.trans_b = p.tb, g.m = p.m, g.n = p.n, g.k = p.k, g.beta = 1.0;
  g.a = a.raw_data(), g.b = b.raw_data(), g.c = c.raw_data();
  const LinalgKernels& kernels = backend(Device{}).linalg();
  const auto m = static_cast<int>(p.m), k = static_cast<int>(p.k), n = static_cast<int>(p.n);
  auto raw = [&] {
    cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans, p.tb ? CblasTrans : CblasNoTrans, m, n, k, 1.f,
                a.data<float>(), p.ta ? m : k, b.data<float>(), p.tb ? k : n, 1.f, c.data<float>(), n);
  };
  auto timed = [](auto&& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    benchmark::ClobberMemory();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  double best_raw = 1e300, best_backend = 1e300;
  bool raw_first = true;
  for (auto _ : state) {
    if (raw_first) best_raw = std::min(best_raw, timed(raw));
    best_backend = std::min(best_backend, timed([&] { kernels.gemm(g); }));
    if (!raw_first) best_raw = std::min(best_raw, timed(raw));
    raw_first = !raw_first;
  }
  state.counters["raw_ms"] = best_raw;
  state.counters["backend_ms"] = best_backend;
  state.counters["raw/backend"] = best_raw / best_backend;
}

// The Tiny LM's products (2048 tokens, d_model 128, MLP 512, 65 symbols): forward X·Wᵀ, input gradient dY·W,
// weight gradient dYᵀ·X.
void step_products(benchmark::internal::Benchmark* b) {
  for (auto [in, out] : {std::pair{128, 384}, {128, 512}, {512, 128}, {128, 128}, {128, 65}}) {
    b->Args({2048, in, out, 0, 1});   // forward
    b->Args({2048, out, in, 0, 0});   // input gradient
    b->Args({out, 2048, in, 1, 0});   // weight gradient
  }
  b->Unit(benchmark::kMillisecond)->MinTime(1.0);
}

BENCHMARK(BM_ProductVsRaw)->Apply(step_products);

// Console output plus, at the end, one line per shape: raw time over tape time (= tape GFLOP/s over
// raw GFLOP/s), each the median CPU time of its repetitions.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Aggregate || r.aggregate_name != "median") continue;
      if (r.run_name.function_name != "BM_RawSgemm" && r.run_name.function_name != "BM_TapeMatmul") continue;
      (r.run_name.function_name == "BM_RawSgemm" ? raw_ : tape_)[r.run_name.args] = r.GetAdjustedCPUTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\ntape matmul fwd+bwd vs raw cblas_sgemm (same three products), median CPU times:\n");
    for (const auto& [shape, raw] : raw_)
      if (auto it = tape_.find(shape); it != tape_.end())
        std::printf("  M/K/N %-14s raw %9.3f ms  tape %9.3f ms  ratio (raw/tape) %.1f %%\n", shape.c_str(), raw,
                    it->second, 100.0 * raw / it->second);
  }

 private:
  std::map<std::string, double> raw_, tape_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
}
