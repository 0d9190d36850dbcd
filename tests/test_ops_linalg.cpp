#include <catch2/catch.hpp>

#include <utility>

#include "testing.hpp"

#include "fixtures.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;


namespace {

Tensor leaf(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, DType::float64).set_requires_grad();
}

// gradcheck of matmul(a, b, ta, tb) at random float64 inputs of the given shapes.
void check_matmul_grads(const Shape& a_shape, const Shape& b_shape, bool ta = false, bool tb = false) {
  Tensor a = leaf(a_shape, 1), b = leaf(b_shape, 2);
  auto r = gradcheck([&](const std::vector<Tensor>& x) { return matmul(x[0], x[1], ta, tb); }, {a, b});
  INFO(shape_str(a_shape) << (ta ? ".T" : "") << " @ " << shape_str(b_shape) << (tb ? ".T" : ""));
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.accumulation_passed);
  CHECK(r.max_rel_error <= 1e-6);
}

void check_close(const Tensor& t, const nlohmann::json& expected) { test::check_close(t, test::fixture_tensor(expected)); }

}  // namespace

TEST_CASE("matmul: 2-D product computed by hand, float32 and float64", "[linalg]") {
  for (DType dt : {DType::float32, DType::float64}) {
    Tensor a = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, dt);
    Tensor b = from_vector({7, 8, 9, 10, 11, 12}, {3, 2}, dt);
    Tensor c = matmul(a, b);
    CHECK(c.shape() == Shape{2, 2});
    CHECK(c.dtype() == dt);
    // [1 2 3; 4 5 6] [7 8; 9 10; 11 12] = [58 64; 139 154]
    CHECK(c.to_vector() == std::vector<double>{58, 64, 139, 154});
  }
}

TEST_CASE("matmul: transpose flags read the operands transposed without copies", "[linalg]") {
  Tensor a = from_vector({1, 4, 2, 5, 3, 6}, {3, 2}, DType::float64);     // [1 2 3; 4 5 6] transposed
  Tensor b = from_vector({7, 9, 11, 8, 10, 12}, {2, 3}, DType::float64);  // [7 8; 9 10; 11 12] transposed
  CHECK(matmul(a, b, true, true).to_vector() == std::vector<double>{58, 64, 139, 154});
  // (3, 2)^T (3, 2) = [1 4; 2 5; 3 6]^T [1 4; 2 5; 3 6] = [14 32; 32 77]
  CHECK(matmul(a, a, true, false).to_vector() == std::vector<double>{14, 32, 32, 77});
  // [7 9 11; 8 10 12] [7 9 11; 8 10 12]^T = [251 278; 278 308]
  CHECK(matmul(b, b, false, true).to_vector() == std::vector<double>{251, 278, 278, 308});
}

TEST_CASE("matmul: 1-D operands follow numpy.matmul", "[linalg]") {
  Tensor m = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64);
  Tensor v3 = from_vector({1, 0, -1}, {3}, DType::float64);
  Tensor v2 = from_vector({2, -1}, {2}, DType::float64);
  Tensor mv = matmul(m, v3);  // (2, 3) @ (3,) -> (2,)
  CHECK(mv.shape() == Shape{2});
  CHECK(mv.to_vector() == std::vector<double>{-2, -2});
  Tensor vm = matmul(v2, m);  // (2,) @ (2, 3) -> (3,)
  CHECK(vm.shape() == Shape{3});
  CHECK(vm.to_vector() == std::vector<double>{-2, -1, 0});
  Tensor dot = matmul(v3, v3);  // (3,) @ (3,) -> ()
  CHECK(dot.shape() == Shape{});
  CHECK(dot.item() == 2.0);
  Tensor batch = from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 2, 3}, DType::float64);
  Tensor bv = matmul(batch, v3);  // (2, 2, 3) @ (3,) -> (2, 2)
  CHECK(bv.shape() == Shape{2, 2});
  CHECK(bv.to_vector() == std::vector<double>{-2, -2, -2, -2});
}

TEST_CASE("matmul: batched product broadcasts the batch axes", "[linalg]") {
  // a: two 1x2 rows [1 2] and [3 4]; b: one shared (2, 2) matrix, then three batches of it.
  Tensor a = from_vector({1, 2, 3, 4}, {2, 1, 2}, DType::float64);
  Tensor b = from_vector({1, 0, 0, 1, 2, 0, 0, 2, 0, 1, 1, 0}, {3, 1, 2, 2}, DType::float64);
  Tensor c = matmul(a, b);  // (2, 1, 2) with (3, 1, 2, 2) -> (3, 2, 1, 2)
  CHECK(c.shape() == Shape{3, 2, 1, 2});
  // identity, 2 * identity, swap: [1 2],[3 4] | [2 4],[6 8] | [2 1],[4 3]
  CHECK(c.to_vector() == std::vector<double>{1, 2, 3, 4, 2, 4, 6, 8, 2, 1, 4, 3});
}

TEST_CASE("matmul: an empty inner dimension gives zeros", "[linalg]") {
  Tensor c = matmul(zeros({2, 0}, DType::float64), zeros({0, 3}, DType::float64));
  CHECK(c.shape() == Shape{2, 3});
  CHECK(c.to_vector() == std::vector<double>(6, 0.0));
}

TEST_CASE("matmul: values and gradients match PyTorch for broadcast batches with transposes", "[linalg]") {
  const auto fx = test::load_fixture("linalg.json");
  for (const auto& [name, c] : fx.items()) {
    INFO(name);
    Tensor a = test::fixture_tensor(c["a"]).set_requires_grad();
    Tensor b = test::fixture_tensor(c["b"]).set_requires_grad();
    Tensor out = matmul(a, b, c["transpose_a"].get<bool>(), c["transpose_b"].get<bool>());
    check_close(out, c["out"]);
    out.backward(test::fixture_tensor(c["g"]));
    check_close(a.grad(), c["da"]);
    check_close(b.grad(), c["db"]);
  }
}

TEST_CASE("matmul: gradcheck of every operand layout and transpose flag", "[linalg]") {
  SECTION("2-D with each transpose flag") {
    check_matmul_grads({3, 4}, {4, 5});
    check_matmul_grads({4, 3}, {4, 5}, true, false);
    check_matmul_grads({3, 4}, {5, 4}, false, true);
    check_matmul_grads({4, 3}, {5, 4}, true, true);
  }
  SECTION("1-D operands") {
    check_matmul_grads({4}, {4, 5});
    check_matmul_grads({4}, {5, 4}, false, true);
    check_matmul_grads({3, 4}, {4});
    check_matmul_grads({4, 3}, {4}, true, false);
    check_matmul_grads({4}, {4});
  }
  SECTION("batched, equal batches") {
    check_matmul_grads({2, 3, 4}, {2, 4, 5});
    check_matmul_grads({2, 4, 3}, {2, 5, 4}, true, true);
  }
  SECTION("broadcast batches") {
    check_matmul_grads({2, 3, 4}, {4, 5});  // shared weight, folded into one GEMM
    check_matmul_grads({2, 3, 4}, {5, 4}, false, true);
    check_matmul_grads({2, 4, 3}, {4, 5}, true, false);  // shared weight, transposed batch: per-batch GEMMs
    check_matmul_grads({3, 4}, {2, 4, 5});               // shared left operand
    check_matmul_grads({4, 3}, {2, 5, 4}, true, true);
    check_matmul_grads({2, 1, 3, 4}, {3, 4, 2});  // (2, 1) against (3,)
    check_matmul_grads({1, 3, 4}, {2, 2, 4, 5});
    check_matmul_grads({4}, {2, 4, 3});
  }
}

TEST_CASE("matmul: only the inputs that need a gradient get one", "[linalg]") {
  Tensor a = leaf({2, 3}, 3);
  Generator gen(4);
  Tensor b = randn({3, 2}, gen, DType::float64);
  Tensor c = matmul(a, b);
  c.backward(ones({2, 2}, DType::float64));
  REQUIRE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  // d(sum(a b))/da_ij = sum_k b_jk
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j) CHECK(a.grad().at({i, j}) == Approx(b.at({j, 0}) + b.at({j, 1})));
}

TEST_CASE("matmul: bad inputs raise typed errors naming the shapes", "[linalg]") {
  auto f32 = [](const Shape& s) { return zeros(s); };
  CHECK_ERROR(matmul(f32({2, 3}), f32({4, 5})), ShapeError,
              "matmul: cannot multiply (2, 3) by (4, 5): inner dimensions 3 and 4 differ");
  CHECK_ERROR(matmul(f32({2, 3}), f32({4, 5}), false, true), ShapeError,
              "matmul: cannot multiply (2, 3) by (4, 5).T: inner dimensions 3 and 5 differ");
  CHECK_ERROR(matmul(f32({3}), f32({4})), ShapeError,
              "matmul: cannot multiply (3,) by (4,): inner dimensions 3 and 4 differ");
  CHECK_ERROR(matmul(f32({2, 3, 4}), f32({5, 4, 6})), ShapeError,
              Catch::Contains("(2, 3, 4)") && Catch::Contains("(5, 4, 6)") && Catch::Contains("do not broadcast"));
  CHECK_ERROR(matmul(f32({}), f32({2})), ShapeError, Catch::Contains("'a' has shape ()"));
  CHECK_ERROR(matmul(f32({3}), f32({3, 2}), true), ValueError,
              Catch::Contains("transpose_a") && Catch::Contains("(3,)"));
  CHECK_ERROR(matmul(f32({2, 2}), zeros({2, 2}, DType::float64)), TypeError,
              Catch::Contains("float32 (2, 2)") && Catch::Contains("float64 (2, 2)"));
  CHECK_THROWS_AS(matmul(index_tensor({1, 2}, {1, 2}), index_tensor({1, 2}, {2, 1})), TypeError);
  CHECK_THROWS_AS(matmul(Tensor(), f32({2})), ValueError);
}

TEST_CASE("linear: x·W + b computed by hand, and x·Wᵀ + b in PyTorch's (out, in) layout", "[linalg]") {
  const Tensor x = from_vector({1, 2, 3, 4}, {2, 2}, DType::float64);
  const Tensor w = from_vector({1, 0, -1, 2, 1, 0}, {2, 3}, DType::float64);  // (in 2, out 3)
  const Tensor b = from_vector({10, 20, 30}, {3}, DType::float64);
  // rows: [1 2]·W = [5 2 -1], [3 4]·W = [11 4 -3]
  test::check_close(linear(x, w, b), from_vector({15, 22, 29, 21, 24, 27}, {2, 3}, DType::float64));
  const Tensor wt = from_vector({1, 2, 0, 1, -1, 0}, {3, 2}, DType::float64);  // the same W stored (out, in)
  test::check_close(linear(x, wt, b, true), from_vector({15, 22, 29, 21, 24, 27}, {2, 3}, DType::float64));
  test::check_close(linear(x, w), from_vector({5, 2, -1, 11, 4, -3}, {2, 3}, DType::float64));  // no bias
  // A wider bias (copied row by row) on more rows than one chunk: the same as the separate product and sum.
  const Tensor xs = test::randn64({3000, 7}, 5), ws = test::randn64({7, 20}, 6), bs = test::randn64({20}, 7);
  test::check_close(linear(xs, ws, bs), add(matmul(xs, ws), bs));
}

TEST_CASE("linear: gradcheck of input, weight and bias for 3-D inputs and both weight layouts", "[linalg]") {
  for (bool transposed : {false, true}) {
    INFO("transpose_weight " << transposed);
    const Tensor x = test::randn64({2, 3, 4}, 1), b = test::randn64({5}, 3);
    const Tensor w = test::randn64(transposed ? Shape{5, 4} : Shape{4, 5}, 2);
    test::check_gradcheck(
        [&](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2], transposed); }, {x, w, b});
  }
}

TEST_CASE("linear: bad shapes raise ShapeError naming them", "[linalg]") {
  const Tensor x = test::randn64({2, 4}, 1), w = test::randn64({4, 5}, 2);
  CHECK_ERROR(linear(x, w, test::randn64({4}, 3)), ShapeError,
              Catch::Contains("bias must have shape (5,) for 5 outputs, got (4,)"));
  CHECK_ERROR(linear(x, test::randn64({2, 4, 5}, 4), test::randn64({5}, 3)), ShapeError,
              Catch::Contains("2-D weight, got x (2, 4) and weight (2, 4, 5)"));
  CHECK_ERROR(linear(x, test::randn64({3, 5}, 4), test::randn64({5}, 3)), ShapeError,
              Catch::Contains("linear: x (2, 4) has 4 features but weight (3, 5) (in, out) takes 3"));
  // Without a bias too, and with PyTorch's (out, in) weight: the message names linear, not the matmul inside it.
  CHECK_ERROR(linear(x, test::randn64({5, 3}, 4), Tensor(), true), ShapeError,
              Catch::Contains("linear: x (2, 4) has 4 features but weight (5, 3) (out, in) takes 3"));
  CHECK_ERROR(linear(x, test::randn64({4, 5}, 4).to(DType::float32)), TypeError,
              Catch::Contains("linear: weight (4, 5) is float32 but x (2, 4) is float64"));
}

TEST_CASE("activated_linear: values and gradients equal linear(act(a)) bit for bit, for every activation",
          "[linalg]") {
  const std::pair<LinearInputActivation, Tensor (*)(const Tensor&)> cases[] = {
      {LinearInputActivation::relu, relu},
      {LinearInputActivation::gelu, [](const Tensor& t) { return gelu(t, false); }},
      {LinearInputActivation::gelu_tanh, [](const Tensor& t) { return gelu(t, true); }},
      {LinearInputActivation::tanh, tanh},
      {LinearInputActivation::sigmoid, sigmoid}};
  for (const DType dt : {DType::float64, DType::float32})
    for (const auto& [activation, act] : cases)
      for (const bool transposed : {false, true}) {
        INFO("activation " << static_cast<int>(activation) << (transposed ? ", (out, in) weight" : "")
                           << (dt == DType::float32 ? ", float32" : ", float64"));
        Tensor results[2][4];
        for (int fused = 0; fused < 2; ++fused) {
          Tensor a = test::randn64({2, 3, 6}, 11).detach().to(dt).set_requires_grad();
          Tensor w = test::randn64(transposed ? Shape{5, 6} : Shape{6, 5}, 12).detach().to(dt).set_requires_grad();
          Tensor b = test::randn64({5}, 13).detach().to(dt).set_requires_grad();
          const Tensor r = test::randn64({2, 3, 5}, 14).detach().to(dt);
          const Tensor y = fused ? activated_linear(a, activation, w, b, transposed) : linear(act(a), w, b, transposed);
          sum(y * r).backward();
          results[fused][0] = y;
          results[fused][1] = a.grad();
          results[fused][2] = w.grad();
          results[fused][3] = b.grad();
        }
        for (int i = 0; i < 4; ++i) {
          INFO("output, then the gradients of a, weight, bias: " << i);
          test::check_close(results[1][i], results[0][i], 0.0);
        }
      }
}

TEST_CASE("activated_linear: gradcheck of input, weight and bias, with and without a bias", "[linalg]") {
  const Tensor a = test::randn64({2, 3, 4}, 1), w = test::randn64({4, 5}, 2), b = test::randn64({5}, 3);
  for (const auto activation : {LinearInputActivation::gelu_tanh, LinearInputActivation::sigmoid}) {
    INFO("activation " << static_cast<int>(activation));
    test::check_gradcheck(
        [&](const std::vector<Tensor>& in) { return activated_linear(in[0], activation, in[1], in[2]); }, {a, w, b});
    test::check_gradcheck([&](const std::vector<Tensor>& in) { return activated_linear(in[0], activation, in[1]); },
                          {a, w});
  }
}

TEST_CASE("activated_linear: only the inputs that need a gradient get one, and bad shapes name a", "[linalg]") {
  Tensor a = test::randn64({3, 4}, 1);
  const Tensor w = test::randn64({4, 2}, 2).detach(), b = test::randn64({2}, 3).detach();
  sum(activated_linear(a, LinearInputActivation::tanh, w, b)).backward();
  CHECK(a.grad().defined());
  CHECK_FALSE(w.grad().defined());
  CHECK_ERROR(activated_linear(a, LinearInputActivation::relu, test::randn64({3, 5}, 4)), ShapeError,
              Catch::Contains("activated_linear: a (3, 4) has 4 features but weight (3, 5) (in, out) takes 3"));
  CHECK_ERROR(activated_linear(a, LinearInputActivation::relu, w, test::randn64({4}, 5)), ShapeError,
              Catch::Contains("activated_linear: bias must have shape (2,) for 2 outputs, got (4,)"));
}
