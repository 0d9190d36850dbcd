// Per-op cost of recording on the tape: tiny ops (1 element) where the arithmetic is nothing and
// the bookkeeping (node, closure, shared handles, backward walk) is everything.
#include <benchmark/benchmark.h>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

namespace {

void per_op(benchmark::State& state, double ops_per_iteration) {
  state.counters["per_op"] = benchmark::Counter(
      ops_per_iteration, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// The ops timed: a view with no kernel, a cheap elementwise kernel, and one OpenBLAS call (three backward).
struct Reshape {
  static Tensor apply(const Tensor& a, const Tensor&) { return reshape(a, {1}); }
};
struct Add {
  static Tensor apply(const Tensor& a, const Tensor& b) { return add(a, b); }
};
struct Matmul {
  static Tensor apply(const Tensor& a, const Tensor& b) { return matmul(a, b); }
};

template <class Op, bool Grad, bool Backward>
void BM_Op(benchmark::State& state) {
  Tensor a = ones({1, 1}).set_requires_grad(Grad);
  Tensor b = ones({1, 1}).set_requires_grad(Grad);
  for (auto _ : state) {
    Tensor y = Op::apply(a, b);
    if constexpr (Backward) y.backward();
    benchmark::DoNotOptimize(y.raw_data());
  }
  per_op(state, 1);
}

// A chain of 100 recorded ops and one backward through all of them: the per-op cost inside a real graph,
// without the setup of a backward() call per op.
template <class Op>
void BM_Chain100Backward(benchmark::State& state) {
  Tensor a = ones({1, 1}).set_requires_grad();
  Tensor w = ones({1, 1});
  for (auto _ : state) {
    Tensor y = a;
    for (int i = 0; i < 100; ++i) y = Op::apply(y, w);
    y.backward();
    benchmark::DoNotOptimize(a.grad().raw_data());
  }
  per_op(state, 100);
}

BENCHMARK_TEMPLATE(BM_Op, Reshape, false, false)->Name("reshape/no_grad");
BENCHMARK_TEMPLATE(BM_Op, Reshape, true, false)->Name("reshape/record");
BENCHMARK_TEMPLATE(BM_Op, Reshape, true, true)->Name("reshape/record+backward");
BENCHMARK_TEMPLATE(BM_Op, Add, false, false)->Name("add/no_grad");
BENCHMARK_TEMPLATE(BM_Op, Add, true, false)->Name("add/record");
BENCHMARK_TEMPLATE(BM_Op, Add, true, true)->Name("add/record+backward");
BENCHMARK_TEMPLATE(BM_Chain100Backward, Add)->Name("add/chain100+backward");
BENCHMARK_TEMPLATE(BM_Op, Matmul, false, false)->Name("matmul_1x1/no_grad");
BENCHMARK_TEMPLATE(BM_Op, Matmul, true, false)->Name("matmul_1x1/record");
BENCHMARK_TEMPLATE(BM_Op, Matmul, true, true)->Name("matmul_1x1/record+backward");
BENCHMARK_TEMPLATE(BM_Chain100Backward, Matmul)->Name("matmul_1x1/chain100+backward");

}  // namespace

BENCHMARK_MAIN();
