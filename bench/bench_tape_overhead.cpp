// Per-op cost of recording on the tape: tiny ops (1 element) where the arithmetic is nothing and
// the bookkeeping (node, closure, shared handles, backward walk) is everything.
#include <benchmark/benchmark.h>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

namespace {

const Shape kOne{1};

void per_op(benchmark::State& state, double ops_per_iteration) {
  state.counters["per_op"] = benchmark::Counter(
      ops_per_iteration, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

template <bool Grad, bool Backward>
void BM_Reshape(benchmark::State& state) {
  Tensor x = ones({1, 1}).set_requires_grad(Grad);
  for (auto _ : state) {
    Tensor y = reshape(x, kOne);
    if constexpr (Backward) y.backward();
    benchmark::DoNotOptimize(y.raw_data());
  }
  per_op(state, 1);
}

template <bool Grad, bool Backward>
void BM_Matmul1x1(benchmark::State& state) {
  Tensor a = ones({1, 1}).set_requires_grad(Grad);
  Tensor b = ones({1, 1}).set_requires_grad(Grad);
  for (auto _ : state) {
    Tensor y = matmul(a, b);
    if constexpr (Backward) y.backward();
    benchmark::DoNotOptimize(y.raw_data());
  }
  per_op(state, 1);
}

// A chain of 100 recorded 1x1 matmuls and one backward through all of them.
void BM_Matmul1x1Chain100Backward(benchmark::State& state) {
  Tensor a = ones({1, 1}).set_requires_grad();
  Tensor w = ones({1, 1});
  for (auto _ : state) {
    Tensor y = a;
    for (int i = 0; i < 100; ++i) y = matmul(y, w);
    y.backward();
    benchmark::DoNotOptimize(a.grad().raw_data());
  }
  per_op(state, 100);
}

BENCHMARK_TEMPLATE(BM_Reshape, false, false)->Name("reshape/no_grad");
BENCHMARK_TEMPLATE(BM_Reshape, true, false)->Name("reshape/record");
BENCHMARK_TEMPLATE(BM_Reshape, true, true)->Name("reshape/record+backward");
BENCHMARK_TEMPLATE(BM_Matmul1x1, false, false)->Name("matmul_1x1/no_grad");
BENCHMARK_TEMPLATE(BM_Matmul1x1, true, false)->Name("matmul_1x1/record");
BENCHMARK_TEMPLATE(BM_Matmul1x1, true, true)->Name("matmul_1x1/record+backward");
BENCHMARK(BM_Matmul1x1Chain100Backward)->Name("matmul_1x1/chain100+backward");

}  // namespace

BENCHMARK_MAIN();
