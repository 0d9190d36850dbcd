// index_select, gather and randperm.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "fixtures.hpp"
#include "testing.hpp"
#include "xgrad/backend/threads.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/backend.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/indexing.hpp"
#include "xgrad/ops/reduction.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {
Tensor f64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::float64); }
}  // namespace

TEST_CASE("index_select: values and accumulated gradients match torch", "[indexing]") {
  const auto fx = test::load_fixture("ops_indexing.json").at("index_select");
  const Tensor index = test::fixture_tensor(fx.at("index"), DType::int64);  // [3, 0, 3, 1]
  test::check_value_and_grad(fx.at("axis1"), [&](const Tensor& x) { return index_select(x, 1, index); });
  test::check_value_and_grad(fx.at("axis0"),
                             [&](const Tensor& x) { return index_select(x, -3, index_tensor({2, 2, 0}, {3})); });
}

TEST_CASE("index_select: by hand, any dtype, 0-d and empty indices", "[indexing]") {
  const Tensor a = f64({0, 1, 2, 3, 4, 5}, {3, 2});
  CHECK(index_select(a, 0, index_tensor({2, 0}, {2})).to_vector() == std::vector<double>{4, 5, 0, 1});
  CHECK(index_select(a, 1, index_tensor({1}, {})).to_vector() == std::vector<double>{1, 3, 5});
  CHECK(index_select(a, 1, index_tensor({1}, {})).shape() == Shape{3, 1});
  CHECK(index_select(a, 0, index_tensor({}, {0})).shape() == Shape{0, 2});
  const Tensor ids = index_tensor({10, 11, 12}, {3});
  const Tensor picked = index_select(ids, 0, index_tensor({2, 2}, {2}));
  CHECK(picked.dtype() == DType::int64);
  CHECK(picked.to_vector() == std::vector<double>{12, 12});
}

TEST_CASE("index_select: gradcheck with repeated indices", "[indexing]") {
  Tensor x = test::randn64({4, 3, 2}, 3);
  const Tensor index = index_tensor({1, 1, 3, 0, 1}, {5});
  for (std::int64_t axis : {0, 1, 2}) {
    INFO("axis " << axis);
    const Tensor idx = axis == 0 ? index : index_tensor({1, 0, 1}, {3});
    test::check_gradcheck([&](const std::vector<Tensor>& in) { return index_select(in[0], axis, idx); }, {x});
  }
}

TEST_CASE("index_select: the backward is the same on one thread and many", "[indexing]") {
  // 4096 rows gathered from 8: every row of the gradient sums 512 float32 terms, in index order.
  Generator gen(9);
  Tensor x = randn({8, 64}, gen).set_requires_grad();
  std::vector<std::int64_t> ids(4096);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>((i * 5) % 8);
  const Tensor index = index_tensor(ids, {4096});
  const Tensor g = randn({4096, 64}, gen);
  auto grad_with = [&](int threads) {
    const int before = num_threads();
    set_num_threads(threads);
    x.set_grad({});
    index_select(x, 0, index).backward(g);
    set_num_threads(before);
    return x.grad().to_vector();
  };
  CHECK(grad_with(1) == grad_with(4));
}

TEST_CASE("index_select: bad arguments are typed errors naming position and value", "[indexing]") {
  const Tensor a = f64({0, 1, 2, 3, 4, 5}, {3, 2});
  CHECK_ERROR(index_select(a, 0, index_tensor({0, 3, 5}, {3})), IndexError,
              "index_select: index 3 at position (1) of index (3,) is out of range for axis 0 of extent 3 in a (3, 2)");
  CHECK_ERROR(index_select(a, 1, index_tensor({-1}, {1})), IndexError,
              Contains("index -1 at position (0)") && Contains("axis 1 of extent 2"));
  CHECK_ERROR(index_select(a, 2, index_tensor({0}, {1})), IndexError, Contains("index_select: axis 2"));
  CHECK_ERROR(index_select(a, 0, f64({0}, {1})), TypeError,
              Contains("index_select: argument 'index' must be int64, got float64"));
  CHECK_ERROR(index_select(a, 0, index_tensor({0, 1}, {1, 2})), ShapeError,
              Contains("index_select: index must be 1-D") && Contains("(1, 2)") && Contains("(3, 2)"));
}

TEST_CASE("gather: values and accumulated gradients match torch", "[indexing]") {
  const auto fx = test::load_fixture("ops_indexing.json").at("gather");
  const Tensor index = test::fixture_tensor(fx.at("index"), DType::int64);  // (2, 3, 4) into (3, 4, 5)
  test::check_value_and_grad(fx.at("axis1"), [&](const Tensor& x) { return gather(x, 1, index); });
}

TEST_CASE("gather: by hand, the picked class of each row", "[indexing]") {
  // out[i][j] = a[i][index[i][j]]
  const Tensor a = f64({10, 11, 12, 20, 21, 22}, {2, 3});
  const Tensor out = gather(a, 1, index_tensor({2, 0, 1, 1}, {2, 2}));
  CHECK(out.to_vector() == std::vector<double>{12, 10, 21, 21});
  // out[i][j] = a[index[i][j]][j]
  CHECK(gather(a, 0, index_tensor({1, 0, 1}, {1, 3})).to_vector() == std::vector<double>{20, 11, 22});
  const Tensor ids = gather(index_tensor({5, 6, 7}, {3}), 0, index_tensor({2, 2, 0}, {3}));
  CHECK(ids.to_vector() == std::vector<double>{7, 7, 5});
}

TEST_CASE("gather: gradcheck along every axis with repeats", "[indexing]") {
  Tensor x = test::randn64({3, 4, 2}, 4);
  Generator gen(2);
  for (std::int64_t axis : {0, 1, 2}) {
    INFO("axis " << axis);
    const Shape shape = {2, 3, 2};
    std::vector<std::int64_t> ids(12);
    for (auto& v : ids) v = static_cast<std::int64_t>(gen.next() % static_cast<std::uint64_t>(x.size(axis)));
    const Tensor index = index_tensor(ids, shape);
    test::check_gradcheck([&](const std::vector<Tensor>& in) { return gather(in[0], axis, index); }, {x});
  }
}

TEST_CASE("gather: bad arguments are typed errors naming shapes, position and value", "[indexing]") {
  const Tensor a = f64({0, 1, 2, 3, 4, 5}, {2, 3});
  CHECK_ERROR(gather(a, 1, index_tensor({0, 1, 2, 3}, {2, 2})), IndexError,
              "gather: index 3 at position (1, 1) of index (2, 2) is out of range for axis 1 of extent 3 in a (2, 3)");
  CHECK_ERROR(gather(a, 1, index_tensor({0, 1}, {2})), ShapeError,
              Contains("gather: index (2,) must have the rank of a (2, 3)"));
  CHECK_ERROR(gather(a, 1, index_tensor({0, 0, 0}, {3, 1})), ShapeError,
              Contains("no larger extent off axis 1"));
  CHECK_ERROR(gather(a, -3, index_tensor({0}, {1, 1})), IndexError, Contains("gather: axis -3"));
  CHECK_ERROR(gather(a, 0, a), TypeError, Contains("gather: argument 'index' must be int64"));
}

TEST_CASE("randperm: a permutation, fixed by the seed, every order equally likely", "[indexing]") {
  Generator g1(5), g2(5), g3(6);
  const auto p = randperm(100, g1).to_vector();
  CHECK(p == randperm(100, g2).to_vector());
  CHECK(p != randperm(100, g3).to_vector());
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == arange(100, DType::float64).to_vector());
  CHECK(randperm(0, g1).shape() == Shape{0});
  CHECK(randperm(7, g1).dtype() == DType::int64);
  // 6000 permutations of 3: each of the 6 orders expects 1000, standard deviation ~29; allow 5 of them.
  std::map<std::vector<double>, int> counts;
  Generator gen(11);
  for (int i = 0; i < 6000; ++i) ++counts[randperm(3, gen).to_vector()];
  CHECK(counts.size() == 6);
  for (const auto& [order, count] : counts) CHECK(std::abs(count - 1000) < 150);
  CHECK_ERROR(randperm(-1, gen), ValueError, "randperm: n must be >= 0, got -1");
}
