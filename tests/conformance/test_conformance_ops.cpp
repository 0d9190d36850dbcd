// Every op, forward and backward, on the device under test against the CPU, in float64 and float32; then a
// float64 gradcheck on the device itself.
#include <limits>

#include "conformance.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/ops/compare.hpp"
#include "xgrad/ops/indexing.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using namespace xgrad::conformance;

namespace {

// A float64 leaf of normal values requiring grad; `shift` moves it away from zero where an op needs that.
Tensor leaf(const Shape& shape, std::uint64_t seed, double scale = 1.0, double shift = 0.0) {
  Generator gen(seed);
  return randn(shape, gen, DType::float64, shift, scale).set_requires_grad();
}

// A float64 leaf of positive values (log, sqrt, pow bases, divisors).
Tensor positive(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return uniform(shape, gen, 0.5, 2.0, DType::float64).set_requires_grad();
}

struct OpCase {
  std::string name;
  std::vector<Tensor> inputs;
  Fn fn;
};

std::vector<OpCase> elementwise_cases() {
  const Tensor a = leaf({3, 1, 4}, 1), b = leaf({2, 4}, 2), p = positive({2, 4}, 3), q = positive({3, 2, 4}, 4);
  const Tensor cond = index_tensor({1, 0, 0, 1, 1, 0, 1, 0}, {2, 4});
  return {
      {"add (broadcast)", {a, b}, [](const auto& in) { return in[0] + in[1]; }},
      {"sub (broadcast)", {a, b}, [](const auto& in) { return in[0] - in[1]; }},
      {"mul (broadcast)", {a, b}, [](const auto& in) { return in[0] * in[1]; }},
      {"div (broadcast)", {a, p}, [](const auto& in) { return in[0] / in[1]; }},
      {"pow tensor ** tensor", {q, b}, [](const auto& in) { return pow(in[0], in[1]); }},
      {"pow integer exponent", {a}, [](const auto& in) { return pow(in[0], 3.0); }},
      {"pow fractional exponent", {p}, [](const auto& in) { return pow(in[0], 0.5); }},
      {"scalar forms", {a, p}, [](const auto& in) { return (in[0] + 2.0) * 1.5 - (3.0 - in[0]) + 2.0 / in[1]; }},
      {"neg", {a}, [](const auto& in) { return -in[0]; }},
      {"exp", {a}, [](const auto& in) { return exp(in[0]); }},
      {"log", {p}, [](const auto& in) { return log(in[0]); }},
      {"sqrt", {p}, [](const auto& in) { return sqrt(in[0]); }},
      {"abs", {a}, [](const auto& in) { return abs(in[0]); }},
      {"tanh", {a}, [](const auto& in) { return tanh(in[0]); }},
      {"sigmoid", {a}, [](const auto& in) { return sigmoid(in[0]); }},
      {"relu", {a}, [](const auto& in) { return relu(in[0]); }},
      {"gelu", {a}, [](const auto& in) { return gelu(in[0]); }},
      {"gelu (tanh)", {a}, [](const auto& in) { return gelu(in[0], true); }},
      {"where", {cond, b, p}, [](const auto& in) { return where(in[0], in[1], in[2]); }},
      {"masked_fill", {b, cond}, [](const auto& in) { return masked_fill(in[0], in[1], -1.5); }},
      {"clamp", {a}, [](const auto& in) { return clamp(in[0], -0.5, 0.7); }},
      {"where over a comparison", {a, b}, [](const auto& in) { return where(lt(in[0], in[1]), in[0], in[1]); }},
  };
}

std::vector<OpCase> reduction_and_shape_cases() {
  const Tensor a = leaf({2, 3, 4}, 5), b = leaf({2, 3, 4}, 6), c = leaf({2, 2, 4}, 7);
  return {
      {"sum over all", {a}, [](const auto& in) { return sum(in[0]); }},
      {"sum over axes, keepdims", {a}, [](const auto& in) { return sum(in[0], {0, 2}, true); }},
      {"mean over an axis", {a}, [](const auto& in) { return mean(in[0], {1}); }},
      {"max over an axis", {a}, [](const auto& in) { return max(in[0], {-1}); }},
      {"max over all", {a}, [](const auto& in) { return max(in[0]); }},
      {"sum_to", {a}, [](const auto& in) { return sum_to(in[0], {3, 1}); }},
      {"reshape", {a}, [](const auto& in) { return reshape(in[0], {4, -1}) * 2.0; }},
      {"transpose", {a}, [](const auto& in) { return transpose(in[0], 0, 2); }},
      {"permute", {a}, [](const auto& in) { return permute(in[0], {2, 0, 1}); }},
      {"slice with a step", {a}, [](const auto& in) { return slice(in[0], 2, 0, 4, 2); }},
      {"narrow", {a}, [](const auto& in) { return narrow(in[0], 1, 1, 2); }},
      {"concat", {a, c}, [](const auto& in) { return concat({in[0], in[1]}, 1); }},
      {"stack", {a, b}, [](const auto& in) { return stack({in[0], in[1]}, 1); }},
      {"unsqueeze and squeeze", {a}, [](const auto& in) { return squeeze(unsqueeze(in[0], 1), 1) * in[0]; }},
      {"min over axes", {a}, [](const auto& in) { return min(in[0], {0, 2}); }},
      {"max_with_indices values", {a}, [](const auto& in) { return max_with_indices(in[0], 1).values; }},
      {"topk values, sorted", {a}, [](const auto& in) { return topk(in[0], 2, 1).values; }},
      {"topk values, smallest, unsorted", {a}, [](const auto& in) { return topk(in[0], 3, -1, false, false).values; }},
      {"index_select (repeated index)", {a, index_tensor({3, 0, 3, 1, 3}, {5})},
       [](const auto& in) { return index_select(in[0], 2, in[1]); }},
      {"gather (repeated index)", {a, index_tensor({2, 0, 2, 1, 1, 1, 0, 2}, {2, 1, 4})},
       [](const auto& in) { return gather(in[0], 1, in[1]); }},
  };
}

// Ops whose results are int64 or 0/1 and carry no gradient: forward only, never gradchecked. Ties and a NaN
// make the first-extreme and NaN rules count.
std::vector<OpCase> selection_cases() {
  const Tensor t = tensor({1.0, 3.0, 3.0, -2.0, std::nan(""), 0.5, 2.0, 2.0, 2.0, -1.0, 4.0, 4.0}, DType::float64);
  const Tensor a = reshape(t, {3, 4}), b = reshape(tensor({1.0, 3.0, 0.0, -2.0, 1.0, 0.5, 2.5, 2.0, 1.0, -1.0, 4.0,
                                                           5.0}, DType::float64), {3, 4});
  const Tensor ids = index_tensor({3, 1, 4, 1, 5, 9}, {2, 3});
  return {
      {"argmax per row (ties, NaN)", {a}, [](const auto& in) { return argmax(in[0], 1); }},
      {"argmin per column", {a}, [](const auto& in) { return argmin(in[0], 0); }},
      {"argmax over all", {a}, [](const auto& in) { return argmax(in[0]); }},
      {"topk indices", {a}, [](const auto& in) { return topk(in[0], 3, 1).indices; }},
      {"comparisons", {a, b},
       [](const auto& in) {
         return eq(in[0], in[1]) + ne(in[0], in[1]) * 2.0 + lt(in[0], in[1]) * 4.0 + le(in[0], in[1]) * 8.0 +
                gt(in[0], in[1]) * 16.0 + ge(in[0], 2.0) * 32.0;
       }},
      {"int64 comparison and argmax", {ids, index_tensor({2, 2, 2, 2, 9, 2}, {2, 3})},
       [](const auto& in) { return argmax(gt(in[0], in[1]), 1); }},
      {"index_select of int64", {ids, index_tensor({2, 2, 0}, {3})},
       [](const auto& in) { return index_select(in[0], 1, in[1]); }},
  };
}

std::vector<OpCase> linalg_cases() {
  const Tensor m = leaf({3, 4}, 8), n = leaf({4, 5}, 9), bm = leaf({2, 1, 3, 4}, 10), bn = leaf({3, 4, 5}, 11);
  const Tensor v = leaf({4}, 12), x = leaf({2, 3, 4}, 13), w = leaf({4, 5}, 14), wt = leaf({5, 4}, 15),
               bias = leaf({5}, 16);
  return {
      {"matmul 2-D", {m, n}, [](const auto& in) { return matmul(in[0], in[1]); }},
      {"matmul batched, broadcast batch", {bm, bn}, [](const auto& in) { return matmul(in[0], in[1]); }},
      {"matmul transposed operands", {n, m}, [](const auto& in) { return matmul(in[0], in[1], true, true); }},
      {"matmul matrix-vector", {m, v}, [](const auto& in) { return matmul(in[0], in[1]); }},
      {"linear with bias", {x, w, bias}, [](const auto& in) { return linear(in[0], in[1], in[2]); }},
      {"linear, (out, in) weight", {x, wt, bias}, [](const auto& in) { return linear(in[0], in[1], in[2], true); }},
  };
}

std::vector<OpCase> nn_cases() {
  const Tensor x = leaf({3, 5}, 17, 2.0), y = leaf({3, 5}, 18), w = leaf({5}, 19), b = leaf({5}, 20);
  const Tensor x3 = leaf({2, 3, 4}, 21, 2.0), table = leaf({6, 3}, 22);
  const Tensor ids = index_tensor({0, 5, 2, 2, 0, 3}, {2, 3});
  const Tensor targets = index_tensor({1, 4, 0}, {3}), some_ignored = index_tensor({1, -100, 3}, {3});
  const Tensor inf_mask = index_tensor({0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1}, {3, 5});
  return {
      {"softmax, last axis", {x}, [](const auto& in) { return softmax(in[0], -1); }},
      {"softmax, middle axis", {x3}, [](const auto& in) { return softmax(in[0], 1); }},
      {"log_softmax", {x}, [](const auto& in) { return log_softmax(in[0], -1); }},
      {"softmax with an all -inf row", {x, inf_mask},
       [](const auto& in) { return softmax(masked_fill(in[0], in[1], -std::numeric_limits<double>::infinity())); }},
      {"log_softmax with an all -inf row", {x, inf_mask},
       [](const auto& in) {
         const Tensor z = log_softmax(masked_fill(in[0], in[1], -std::numeric_limits<double>::infinity()));
         return masked_fill(z, in[1], 0.0);  // -inf entries are -inf on every device; compare the rest
       }},
      {"layer_norm", {x3, leaf({4}, 23), leaf({4}, 24)},
       [](const auto& in) { return layer_norm(in[0], in[1], in[2], 1e-5); }},
      {"layer_norm without affine", {x}, [](const auto& in) { return layer_norm(in[0], {}, {}, 1e-3); }},
      {"embedding (repeated ids)", {ids, table}, [](const auto& in) { return embedding(in[0], in[1]); }},
      {"cross_entropy mean", {x, targets}, [](const auto& in) { return cross_entropy(in[0], in[1]); }},
      {"cross_entropy sum, smoothing, ignore_index", {x, some_ignored},
       [](const auto& in) { return cross_entropy(in[0], in[1], {.label_smoothing = 0.1, .mean = false}); }},
      {"cross_entropy per target", {x, some_ignored},
       [](const auto& in) { return cross_entropy(in[0], in[1], {.per_target = true}); }},
      {"mse", {x, y}, [](const auto& in) { return mse(in[0], in[1]); }},
      {"dropout", {x3},
       [](const auto& in) {
         Generator gen(77);
         return dropout(in[0], 0.4, gen);
       }},
  };
}

// The attention core with every option: keep-mask, additive bias, causal blocking, dropout, returned scores.
std::vector<OpCase> attention_cases() {
  const Tensor q = leaf({2, 3, 2, 2}, 25), k = leaf({2, 4, 2, 2}, 26), v = leaf({2, 4, 2, 3}, 27);
  const Tensor bias = leaf({1, 2, 1, 4}, 28);
  const Tensor keep = index_tensor({1, 1, 0, 1, 1, 0, 1, 1}, {2, 1, 1, 4});
  auto output = [](bool causal, double rate) {
    return [causal, rate](const std::vector<Tensor>& in) {
      Generator gen(5);
      return attention(in[0], in[1], in[2],
                       {.scale = 0.7, .mask = in[3], .bias = in[4], .causal = causal, .dropout = rate,
                        .training = rate > 0, .generator = &gen})
          .output;
    };
  };
  auto scores = [](bool after_dropout) {
    return [after_dropout](const std::vector<Tensor>& in) {
      Generator gen(5);
      return attention(in[0], in[1], in[2],
                       {.scale = 0.7, .mask = in[3], .bias = in[4], .dropout = 0.3, .training = true,
                        .generator = &gen, .return_scores = true, .scores_after_dropout = after_dropout})
          .scores;
    };
  };
  return {
      {"attention: mask and bias", {q, k, v, keep, bias}, output(false, 0.0)},
      {"attention: causal", {q, k, v, keep, bias}, output(true, 0.0)},
      {"attention: dropout", {q, k, v, keep, bias}, output(true, 0.3)},
      {"attention: returned scores", {q, k, v, keep, bias}, scores(false)},
      {"attention: returned scores after dropout", {q, k, v, keep, bias}, scores(true)},
  };
}

void run_all(const std::vector<OpCase>& cases) {
  for (const OpCase& c : cases) {
    SECTION(c.name) {
      check_forward_backward(c.name, c.fn, c.inputs, DType::float64);
      check_forward_backward(c.name, c.fn, c.inputs, DType::float32);
    }
  }
}

void gradcheck_all(const std::vector<OpCase>& cases) {
  for (const OpCase& c : cases) {
    SECTION(c.name) {
      std::vector<Tensor> inputs;
      for (const Tensor& t : c.inputs) inputs.push_back(on_device(t));
      const GradcheckReport r = gradcheck(c.fn, inputs);
      INFO(c.name << " on " << device_str(target()) << ": " << r.to_string());
      CHECK(r.passed);
    }
  }
}

}  // namespace

TEST_CASE("conformance: elementwise ops match the CPU", "[conformance][ops]") { run_all(elementwise_cases()); }
TEST_CASE("conformance: reductions and shape ops match the CPU", "[conformance][ops]") {
  run_all(reduction_and_shape_cases());
}
TEST_CASE("conformance: selections, comparisons and int64 indexing match the CPU", "[conformance][ops]") {
  for (const OpCase& c : selection_cases())
    SECTION(c.name) { check_forward_backward(c.name, c.fn, c.inputs, DType::float64); }
}
TEST_CASE("conformance: matrix products match the CPU", "[conformance][ops]") { run_all(linalg_cases()); }
TEST_CASE("conformance: fused nn ops (or their compositions) match the CPU", "[conformance][ops]") {
  run_all(nn_cases());
}
TEST_CASE("conformance: the attention core matches the CPU", "[conformance][ops]") { run_all(attention_cases()); }

TEST_CASE("conformance: float64 gradcheck of every op on the device", "[conformance][gradcheck]") {
  gradcheck_all(elementwise_cases());
  gradcheck_all(reduction_and_shape_cases());
  gradcheck_all(linalg_cases());
  gradcheck_all(nn_cases());
  gradcheck_all(attention_cases());
}
