#include <catch2/catch.hpp>

#include "testing.hpp"

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;


namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor leaf(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, DType::float64).set_requires_grad();
}

// 0, 1, 2, ... in `shape`, float64.
Tensor iota(const Shape& shape) { return reshape(arange(numel(shape), DType::float64), shape); }

void check_grads(const Fn& fn, const std::vector<Tensor>& inputs) {
  auto r = gradcheck(fn, inputs);
  INFO(r.to_string());
  CHECK(r.passed);
  CHECK(r.accumulation_passed);
  CHECK(r.max_rel_error <= 1e-6);
}

using V = std::vector<double>;

}  // namespace

TEST_CASE("reshape: shares storage and infers one -1 extent", "[shape]") {
  Tensor a = iota({2, 3});
  Tensor r = reshape(a, {3, -1});
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.raw_data() == a.raw_data());
  r.set({0, 1}, 42.0);  // the same bytes: a sees the write
  CHECK(a.at({0, 1}) == 42.0);
  CHECK(reshape(a, {-1}).shape() == Shape{6});
  CHECK(reshape(iota({1}), {}).shape() == Shape{});
  CHECK(reshape(zeros({0, 4}), {-1, 2}).shape() == Shape{0, 2});
}

TEST_CASE("reshape: bad shapes raise errors naming both shapes", "[shape]") {
  Tensor a = iota({2, 3});
  CHECK_ERROR(reshape(a, {4, -1}), ShapeError, "reshape: cannot view shape (2, 3) (6 elements) as (4, -1)");
  CHECK_ERROR(reshape(a, {5}), ShapeError, "reshape: cannot view shape (2, 3) (6 elements) as (5,)");
  CHECK_THROWS_AS(reshape(a, {-1, -1}), ValueError);
  CHECK_THROWS_AS(reshape(a, {-2, -3}), ValueError);
  CHECK_THROWS_AS(reshape(zeros({0, 3}), {0, -1}), ShapeError);  // -1 is ambiguous for 0 elements
  CHECK_THROWS_AS(reshape(Tensor(), {1}), ValueError);
}

TEST_CASE("transpose and permute: copy into row-major order", "[shape]") {
  Tensor a = iota({2, 3});
  Tensor t = transpose(a);
  CHECK(t.shape() == Shape{3, 2});
  CHECK(t.to_vector() == V{0, 3, 1, 4, 2, 5});
  CHECK(t.raw_data() != a.raw_data());
  Tensor b = iota({2, 3, 4});
  Tensor p = permute(b, {2, 0, 1});  // p[k, i, j] = b[i, j, k] = 12 i + 4 j + k
  CHECK(p.shape() == Shape{4, 2, 3});
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t k = 0; k < 4; ++k) CHECK(p.at({k, i, j}) == 12 * i + 4 * j + k);
  CHECK(transpose(b, 0, 2).at({3, 1, 0}) == 4 + 3);
  CHECK(permute(b, {0, 1, 2}).to_vector() == b.to_vector());
  // attention's head split (0, 2, 1, 3): the inner axis stays contiguous, whole rows are copied
  Tensor h = iota({2, 3, 4, 5});
  Tensor hp = permute(h, {0, 2, 1, 3});
  CHECK(hp.shape() == Shape{2, 4, 3, 5});
  CHECK(hp.at({1, 3, 2, 4}) == h.at({1, 2, 3, 4}));
  CHECK(hp.at({0, 1, 2, 0}) == h.at({0, 2, 1, 0}));
}

TEST_CASE("transpose: large matrices take the tiled path and stay exact", "[shape]") {
  // 70 x 130 float32 crosses several tiles with ragged edges; values are exact small integers.
  Tensor a = reshape(arange(70 * 130), {70, 130});
  Tensor t = transpose(a);
  CHECK(t.shape() == Shape{130, 70});
  bool all = true;
  for (std::int64_t i = 0; i < 70; ++i)
    for (std::int64_t j = 0; j < 130; ++j) all = all && t.at({j, i}) == 130 * i + j;
  CHECK(all);
  // batched swap of the last two axes, as in attention heads
  Tensor b = reshape(arange(3 * 40 * 50, DType::float64), {3, 40, 50});
  Tensor bt = transpose(b, 1, 2);
  CHECK(bt.at({2, 49, 39}) == 2 * 2000 + 39 * 50 + 49);
  CHECK(bt.at({1, 7, 33}) == 2000 + 33 * 50 + 7);
}

TEST_CASE("permute/transpose: bad axes raise errors", "[shape]") {
  Tensor a = iota({2, 3, 4});
  CHECK_ERROR(permute(a, {0, 1}), ValueError, Catch::Contains("(2, 3, 4)"));
  CHECK_ERROR(permute(a, {0, 1, 1}), ValueError, Catch::Contains("repeats axis 1"));
  CHECK_THROWS_AS(permute(a, {0, 1, 3}), IndexError);
  CHECK_THROWS_AS(transpose(a, 0, 3), IndexError);
  CHECK_THROWS_AS(transpose(iota({3})), IndexError);
}

TEST_CASE("slice: Python semantics for negative and out-of-range bounds and steps", "[shape]") {
  Tensor a = iota({6});  // [0 1 2 3 4 5]
  CHECK(slice(a, 0, 1, 4).to_vector() == V{1, 2, 3});
  CHECK(slice(a, 0, 0, 6, 2).to_vector() == V{0, 2, 4});
  CHECK(slice(a, 0, 1, 6, 2).to_vector() == V{1, 3, 5});
  CHECK(slice(a, 0, -2, 100).to_vector() == V{4, 5});   // a[-2:100]
  CHECK(slice(a, 0, -100, 2).to_vector() == V{0, 1});   // a[-100:2]
  CHECK(slice(a, 0, 4, 2).shape() == Shape{0});         // a[4:2] is empty
  CHECK(slice(a, 0, 0, -1, 4).to_vector() == V{0, 4});  // a[0:-1:4]
  Tensor m = iota({3, 4});
  Tensor s = slice(m, -1, 1, 4, 2);  // m[:, 1:4:2]
  CHECK(s.shape() == Shape{3, 2});
  CHECK(s.to_vector() == V{1, 3, 5, 7, 9, 11});
  CHECK(slice(m, 0, 1, 3).to_vector() == V{4, 5, 6, 7, 8, 9, 10, 11});
}

TEST_CASE("slice/narrow: bad arguments raise errors", "[shape]") {
  Tensor m = iota({3, 4});
  CHECK_ERROR(slice(m, 1, 0, 4, 0), ValueError, Catch::Contains("step") && Catch::Contains("(3, 4)"));
  CHECK_THROWS_AS(slice(m, 1, 0, 4, -1), ValueError);
  CHECK_THROWS_AS(slice(m, 2, 0, 1), IndexError);
  CHECK(narrow(m, 1, 1, 2).to_vector() == V{1, 2, 5, 6, 9, 10});
  CHECK(narrow(m, 0, -1, 1).to_vector() == V{8, 9, 10, 11});
  CHECK(narrow(m, 1, 4, 0).shape() == Shape{3, 0});
  CHECK_ERROR(narrow(m, 1, 3, 2), IndexError, Catch::Contains("(3, 4)"));
  CHECK_THROWS_AS(narrow(m, 1, 5, 0), IndexError);
  CHECK_THROWS_AS(narrow(m, 1, -5, 1), IndexError);
  CHECK_THROWS_AS(narrow(m, 1, 0, -1), IndexError);
  CHECK_THROWS_AS(narrow(m, 2, 0, 1), IndexError);
}

TEST_CASE("concat and stack: join along an axis", "[shape]") {
  Tensor a = iota({2, 2}), b = reshape(arange(4, 10, 1, DType::float64), {2, 3});
  Tensor c = concat({a, b}, 1);  // [0 1 | 4 5 6; 2 3 | 7 8 9]
  CHECK(c.shape() == Shape{2, 5});
  CHECK(c.to_vector() == V{0, 1, 4, 5, 6, 2, 3, 7, 8, 9});
  CHECK(concat({a, a}, 0).to_vector() == V{0, 1, 2, 3, 0, 1, 2, 3});
  CHECK(concat({a}, -1).to_vector() == a.to_vector());
  Tensor s = stack({a, a}, 0);
  CHECK(s.shape() == Shape{2, 2, 2});
  Tensor d = iota({2, 2});
  d.set({0, 0}, 10);
  Tensor s1 = stack({a, d}, 1);  // s1[i, k, j] = (a, d)[k][i, j]
  CHECK(s1.shape() == Shape{2, 2, 2});
  CHECK(s1.to_vector() == V{0, 1, 10, 1, 2, 3, 2, 3});
  CHECK(stack({a, d}, -1).to_vector() == V{0, 10, 1, 1, 2, 2, 3, 3});
  CHECK(stack({iota({2}), iota({2}), iota({2})}, 1).to_vector() == V{0, 0, 0, 1, 1, 1});
}

TEST_CASE("concat/stack: bad inputs name the offending tensor and shapes", "[shape]") {
  Tensor a = iota({2, 3}), b = iota({3, 3});
  CHECK_ERROR(concat({a, a, b}, 1), ShapeError,
              "concat: tensor 2 has shape (3, 3) but tensor 0 has shape (2, 3); all extents except axis 1 must match");
  CHECK_ERROR(concat({a, iota({6})}, 0), ShapeError, Catch::Contains("tensor 1 has shape (6,)"));
  CHECK_ERROR(concat({a, zeros({2, 3})}, 0), TypeError, Catch::Contains("tensor 1"));
  CHECK_THROWS_AS(concat({}, 0), ValueError);
  CHECK_THROWS_AS(concat({a, a}, 2), IndexError);
  CHECK_THROWS_AS(concat({a, Tensor()}, 0), ValueError);
  CHECK_ERROR(stack({a, b}, 0), ShapeError,
              "stack: tensor 1 has shape (3, 3) but tensor 0 has shape (2, 3); stacked tensors must have equal shapes");
  CHECK_THROWS_AS(stack({}, 0), ValueError);
  CHECK_THROWS_AS(stack({a, a}, 3), IndexError);
}

TEST_CASE("squeeze/unsqueeze: add or drop a unit axis as a view", "[shape]") {
  Tensor a = iota({2, 3});
  CHECK(unsqueeze(a, 0).shape() == Shape{1, 2, 3});
  CHECK(unsqueeze(a, -1).shape() == Shape{2, 3, 1});
  CHECK(unsqueeze(a, 1).raw_data() == a.raw_data());
  CHECK(squeeze(iota({2, 1, 3}), 1).shape() == Shape{2, 3});
  CHECK(squeeze(iota({1}), 0).shape() == Shape{});
  CHECK_ERROR(squeeze(a, 1), ShapeError, "squeeze: axis 1 of shape (2, 3) has extent 3, not 1");
  CHECK_THROWS_AS(squeeze(a, 2), IndexError);
  CHECK_THROWS_AS(unsqueeze(a, 3), IndexError);
}

TEST_CASE("shape ops: gradcheck of every op", "[shape]") {
  Tensor x = leaf({2, 3, 4}, 1), y = leaf({2, 5, 4}, 2), z = leaf({2, 3, 4}, 3);
  SECTION("reshape, squeeze, unsqueeze") {
    check_grads([](const auto& v) { return reshape(v[0], {4, -1}); }, {x});
    check_grads([](const auto& v) { return squeeze(unsqueeze(v[0], 1), 1); }, {x});
    check_grads([](const auto& v) { return unsqueeze(v[0], -1); }, {x});
  }
  SECTION("transpose, permute") {
    check_grads([](const auto& v) { return transpose(v[0]); }, {x});
    check_grads([](const auto& v) { return permute(v[0], {2, 0, 1}); }, {x});
    check_grads([](const auto& v) { return permute(v[0], {1, 0, 2}); }, {x});
  }
  SECTION("slice with step, narrow") {
    check_grads([](const auto& v) { return slice(v[0], 2, 0, 4, 2); }, {x});
    check_grads([](const auto& v) { return slice(v[0], 1, -2, 10); }, {x});
    check_grads([](const auto& v) { return narrow(v[0], 0, 1, 1); }, {x});
    // two overlapping windows of one input: both gradients must add up in its buffer
    check_grads([](const auto& v) { return concat({narrow(v[0], 2, 0, 3), slice(v[0], 2, 1, 4)}, 0); }, {x});
  }
  SECTION("concat, stack") {
    check_grads([](const auto& v) { return concat({v[0], v[1], v[0]}, 1); }, {x, y});
    check_grads(
        [](const auto& v) {
          return concat({v[0], v[1]}, -1);
        },
        {transpose(x).detach().set_requires_grad(), transpose(y).detach().set_requires_grad()});
    check_grads([](const auto& v) { return stack({v[0], v[1]}, 0); }, {x, z});
    check_grads([](const auto& v) { return stack({v[0], v[1], v[0]}, 2); }, {x, z});
  }
}

TEST_CASE("concat: an input that needs no gradient gets none", "[shape]") {
  Tensor x = leaf({2, 2}, 4);
  Tensor c = iota({2, 2});
  Tensor out = concat({c, x}, 0);
  out.backward(iota({4, 2}));
  CHECK_FALSE(c.grad().defined());
  CHECK(x.grad().to_vector() == V{4, 5, 6, 7});
}
