// The tensor layer: creation, element access, dtype conversion, sharing semantics, xtensor
// interop and NumPy-identical printing. Expected strings were printed by NumPy 1.24 with
// `/usr/bin/python3 -c "import numpy as np; print(<the expression in the comment>)"`.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "xgrad/tensor/creation.hpp"
#include "xgrad/tensor/format.hpp"
#include "xgrad/tensor/xtensor.hpp"
#include "fixtures.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;
using Values = std::vector<double>;

namespace {

struct Moments {
  double mean = 0, variance = 0;
};

Moments moments(const Values& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.variance += (x - m.mean) * (x - m.mean);
  m.variance /= static_cast<double>(v.size());
  return m;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Creation

TEST_CASE("Tensor: zeros, ones, full and the _like variants fill shape and dtype", "[tensor]") {
  Tensor z = zeros({2, 3}, DType::float64);
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dim() == 2);
  CHECK(z.numel() == 6);
  CHECK(z.size(-1) == 3);
  CHECK(z.dtype() == DType::float64);
  CHECK(z.to_vector() == Values(6, 0.0));
  CHECK(ones({4}).to_vector() == Values(4, 1.0));
  CHECK(ones({4}).dtype() == DType::float32);
  CHECK(full({2, 2}, -2.5, DType::float64).to_vector() == Values(4, -2.5));
  CHECK(full({3}, 7, DType::int64).to_vector() == Values(3, 7.0));
  Tensor like = ones_like(z);
  CHECK(like.shape() == z.shape());
  CHECK(like.dtype() == DType::float64);
  CHECK(zeros_like(like).to_vector() == Values(6, 0.0));
  CHECK_FALSE(Tensor().defined());
  CHECK_THROWS_AS(z.size(2), IndexError);
}

TEST_CASE("Tensor: a scalar has rank 0 and one element", "[tensor]") {
  Tensor s = scalar(4.5, DType::float64);
  CHECK(s.dim() == 0);
  CHECK(s.shape().empty());
  CHECK(s.numel() == 1);
  CHECK(s.item() == 4.5);
  CHECK(s.at({}) == 4.5);
}

TEST_CASE("Tensor: a negative dimension is a ShapeError naming the shape", "[tensor]") {
  CHECK_THROWS_AS(zeros({2, -1}), ShapeError);
  CHECK_THROWS_WITH(Tensor::empty({2, -1}), Contains("(2, -1)"));
  Tensor empty = zeros({0, 3});
  CHECK(empty.numel() == 0);
  CHECK(empty.to_vector().empty());
}

TEST_CASE("Tensor: arange follows numpy.arange, edge cases included", "[tensor]") {
  CHECK(arange(5, DType::float64).to_vector() == Values{0, 1, 2, 3, 4});
  CHECK(arange(0, 1, 0.25, DType::float64).to_vector() == Values{0, 0.25, 0.5, 0.75});
  CHECK(arange(5, 0, -2, DType::float64).to_vector() == Values{5, 3, 1});
  CHECK(arange(-3, 3, 1.5, DType::float64).to_vector() == Values{-3, -1.5, 0, 1.5});
  // np.arange(1, 1.3, 0.1) has 4 elements: (1.3 - 1) / 0.1 rounds up past 3 in binary.
  CHECK(arange(1, 1.3, 0.1, DType::float64).numel() == 4);
  // Empty ranges: stop == start, and a step pointing away from stop.
  CHECK(arange(3, 3).shape() == Shape{0});
  CHECK(arange(5, 0).shape() == Shape{0});
  CHECK(arange(0, 5, -1).shape() == Shape{0});
  CHECK(arange(0).shape() == Shape{0});
  Tensor ints = arange(4, DType::int64);
  CHECK(ints.dtype() == DType::int64);
  CHECK(ints.to_vector() == Values{0, 1, 2, 3});
  CHECK_THROWS_AS(arange(0, 1, 0), ValueError);
  CHECK_THROWS_WITH(arange(0, 1, 0), Contains("step"));
  CHECK_THROWS_AS(arange(0, NAN), ValueError);
  CHECK_THROWS_AS(arange(0, INFINITY), ValueError);
  CHECK_THROWS_AS(arange(0, 1e300, 1), ValueError);
}

TEST_CASE("Tensor: randn and uniform are deterministic per seed", "[tensor]") {
  Generator a(7), b(7), c(8);
  const Values first = randn({100}, a, DType::float64).to_vector();
  CHECK(first == randn({100}, b, DType::float64).to_vector());
  CHECK(first != randn({100}, c, DType::float64).to_vector());
  CHECK(first != randn({100}, a, DType::float64).to_vector());  // the stream moves on
  a.seed(7);
  CHECK(first == randn({100}, a, DType::float64).to_vector());  // reseeding restarts it

  Generator u1(3), u2(3);
  CHECK(uniform({50}, u1, -1, 1).to_vector() == uniform({50}, u2, -1, 1).to_vector());
  // float32 draws are the float64 draws rounded: same stream, same order.
  Generator f32(11), f64(11);
  const Values single = randn({10}, f32, DType::float32).to_vector();
  const Values dbl = randn({10}, f64, DType::float64).to_vector();
  for (std::size_t i = 0; i < dbl.size(); ++i) CHECK(single[i] == static_cast<double>(static_cast<float>(dbl[i])));
}

TEST_CASE("Tensor: randn and uniform have the requested moments", "[tensor]") {
  // 20,000 samples: the standard error of the mean is 0.007 sigma, so 0.05 sigma is 7 errors out.
  Generator gen(123);
  const Moments standard = moments(randn({20000}, gen, DType::float64).to_vector());
  CHECK(std::abs(standard.mean) < 0.05);
  CHECK(std::abs(std::sqrt(standard.variance) - 1) < 0.05);

  const Moments shifted = moments(randn({100, 200}, gen, DType::float64, 3.0, 2.0).to_vector());
  CHECK(std::abs(shifted.mean - 3.0) < 0.1);
  CHECK(std::abs(std::sqrt(shifted.variance) - 2.0) < 0.1);

  const Values u = uniform({20000}, gen, -2.0, 4.0, DType::float64).to_vector();
  CHECK(*std::min_element(u.begin(), u.end()) >= -2.0);
  CHECK(*std::max_element(u.begin(), u.end()) < 4.0);
  const Moments flat = moments(u);
  CHECK(std::abs(flat.mean - 1.0) < 0.05);
  CHECK(std::abs(flat.variance - 36.0 / 12.0) < 0.1);  // (high - low)^2 / 12
}

TEST_CASE("Tensor: random creation rejects int64 and inverted bounds", "[tensor]") {
  Generator gen(0);
  CHECK_THROWS_AS(randn({2}, gen, DType::int64), TypeError);
  CHECK_THROWS_AS(uniform({2}, gen, 0, 1, DType::int64), TypeError);
  CHECK_THROWS_AS(uniform({2}, gen, 1, 0), ValueError);
  CHECK_THROWS_WITH(uniform({2}, gen, 1, 0), Contains("low") && Contains("high"));
  CHECK(uniform({3}, gen, 2, 2).to_vector() == Values(3, 2.0));  // an empty interval gives low
}

TEST_CASE("Tensor: uniform never returns high, even when rounding would give it", "[tensor]") {
  // [1, next float after 1) holds only 1: low + (high - low) * u rounds to high for u > 0.5.
  Generator gen(5);
  const double next32 = std::nextafter(1.0f, 2.0f);
  CHECK(uniform({1000}, gen, 1.0, next32, DType::float32).to_vector() == Values(1000, 1.0));
  const double next64 = std::nextafter(1.0, 2.0);
  CHECK(uniform({1000}, gen, 1.0, next64, DType::float64).to_vector() == Values(1000, 1.0));
}

TEST_CASE("Tensor: from_vector and index_tensor check the element count", "[tensor]") {
  Tensor t = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64);
  CHECK(t.at({1, 0}) == 4);
  CHECK(tensor({1.5, 2.5}).shape() == Shape{2});
  CHECK_THROWS_AS(from_vector({1, 2, 3}, {2, 3}), ShapeError);
  CHECK_THROWS_WITH(from_vector({1, 2, 3}, {2, 3}), Contains("(2, 3)") && Contains("3 values"));
  Tensor labels = index_tensor({2, 0, 1}, {3});
  CHECK(labels.dtype() == DType::int64);
  CHECK(labels.host_data<std::int64_t>()[0] == 2);
  CHECK_THROWS_AS(index_tensor({1, 2}, {3}), ShapeError);
  CHECK_THROWS_WITH(index_tensor({1, 2}, {3}), Contains("(3,)"));
  // float32 storage rounds: 0.1 is kept as the nearest float.
  CHECK(from_vector({0.1}, {1}).item() == static_cast<double>(0.1f));
}

// ---------------------------------------------------------------------------------------------
// Element access

TEST_CASE("Tensor: at and set address a full multi-index, negatives from the end", "[tensor]") {
  Tensor t = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64);
  CHECK(t.at({-1, -1}) == 6);
  CHECK(t.at(std::vector<std::int64_t>{0, 1}) == 2);
  t.set({-2, 2}, 30);
  CHECK(t.to_vector() == Values{1, 2, 30, 4, 5, 6});
  Tensor ints = index_tensor({5, 6}, {2});
  ints.set({1}, 9.0);
  CHECK(ints.at({1}) == 9);
}

TEST_CASE("Tensor: at, set and item reject bad indices and undefined tensors", "[tensor]") {
  Tensor t = zeros({2, 3});
  CHECK_THROWS_AS(t.at({0}), IndexError);
  CHECK_THROWS_WITH(t.at({0}), Contains("(2, 3)"));
  CHECK_THROWS_AS(t.at({2, 0}), IndexError);
  CHECK_THROWS_WITH(t.at({0, 3}), Contains("axis 1") && Contains("(2, 3)"));
  CHECK_THROWS_AS(t.at({-3, 0}), IndexError);
  CHECK_THROWS_AS(t.set({0, 5}, 1.0), IndexError);
  CHECK_THROWS_AS(t.item(), ValueError);
  CHECK_THROWS_WITH(t.item(), Contains("(2, 3)"));
  CHECK(zeros({1, 1}).item() == 0);
  CHECK_THROWS_AS(Tensor().item(), ValueError);
  CHECK_THROWS_AS(Tensor().shape(), ValueError);
  CHECK_THROWS_AS(t.host_data<double>(), TypeError);
  CHECK_THROWS_WITH(t.host_data<double>(), Contains("float64") && Contains("float32"));
}

// ---------------------------------------------------------------------------------------------
// Conversion and sharing

TEST_CASE("Tensor: to(dtype) converts values and always copies", "[tensor]") {
  Tensor t = from_vector({-1.7, 2.9, -0.2}, {3}, DType::float64);
  Tensor f = t.to(DType::float32);
  CHECK(f.dtype() == DType::float32);
  CHECK(f.to_vector() == Values{static_cast<float>(-1.7), static_cast<float>(2.9), static_cast<float>(-0.2)});
  // np.array([-1.7, 2.9, -0.2]).astype(np.int64) truncates toward zero: [-1 2 0]
  CHECK(t.to(DType::int64).to_vector() == Values{-1, 2, 0});
  CHECK(index_tensor({3, -4}, {2}).to(DType::float64).to_vector() == Values{3, -4});
  Tensor same = t.to(DType::float64);
  CHECK(same.raw_data() != t.raw_data());
  same.set({0}, 100);
  CHECK(t.at({0}) == -1.7);
}

TEST_CASE("Tensor: clone copies data, detach shares it, neither keeps history", "[tensor]") {
  Tensor x = from_vector({1, 2, 3}, {3}, DType::float64).set_requires_grad();
  Tensor copy = x.clone();
  Tensor view = x.detach();
  CHECK_FALSE(copy.requires_grad());
  CHECK_FALSE(view.requires_grad());
  CHECK(copy.raw_data() != x.raw_data());
  CHECK(view.raw_data() == x.raw_data());
  CHECK_FALSE(view.is_same(x));
  copy.set({0}, 10);
  view.set({1}, 20);
  CHECK(x.to_vector() == Values{1, 20, 3});  // the detached handle wrote through, the clone did not
  CHECK(copy.to_vector() == Values{10, 2, 3});
  Tensor handle = x;  // copying a Tensor copies the handle
  CHECK(handle.is_same(x));
  x.fill_(0);
  CHECK(view.to_vector() == Values{0, 0, 0});
}

TEST_CASE("Tensor: only floating leaves can require grad", "[tensor]") {
  Tensor ids = index_tensor({1}, {1});
  CHECK_THROWS_AS(ids.set_requires_grad(), TypeError);
  CHECK_THROWS_WITH(ids.set_requires_grad(), Contains("int64"));
  Tensor x = zeros({2}).set_requires_grad();
  CHECK(x.requires_grad());
  CHECK(x.is_leaf());
  x.set_requires_grad(false);
  CHECK_FALSE(x.requires_grad());
  CHECK_THROWS_AS(x.set_grad(zeros({3})), ShapeError);
  CHECK_THROWS_AS(x.set_grad(zeros({2}, DType::float64)), ShapeError);
}

TEST_CASE("Tensor: xarray round trip through xgrad/tensor/xtensor.hpp", "[tensor]") {
  xt::xarray<double> a = {{1.0, -2.0, 3.5}, {4.0, 5.0, -6.25}};
  Tensor t = from_xarray(a);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.dtype() == DType::float64);
  CHECK(t.at({1, 2}) == -6.25);
  xt::xarray<double> back = to_xarray<double>(t);
  const bool equal = back == a;  // xtensor's == would capture Catch's decomposer
  CHECK(equal);
  CHECK(back.shape() == a.shape());
  // A copy both ways: changing the tensor leaves the arrays alone.
  t.set({0, 0}, 99);
  CHECK(back(0, 0) == 1.0);

  xt::xarray<std::int64_t> ids = {3, 1, 4};
  Tensor labels = from_xarray(ids);
  CHECK(labels.dtype() == DType::int64);
  const bool ids_equal = to_xarray<std::int64_t>(labels) == ids;
  CHECK(ids_equal);
  CHECK(from_xarray(xt::xarray<float>{1.5f}).dtype() == DType::float32);
  CHECK_THROWS_AS(to_xarray<float>(t), TypeError);
}

TEST_CASE("Shape: helpers spell shapes like Python and check axes and broadcasting", "[tensor]") {
  CHECK(shape_str({2, 3}) == "(2, 3)");
  CHECK(shape_str({4}) == "(4,)");
  CHECK(shape_str({}) == "()");
  CHECK(xgrad::numel({}) == 1);
  CHECK(contiguous_strides({2, 3, 4}) == std::vector<std::int64_t>{12, 4, 1});
  CHECK(normalize_axis(-1, 3, "op") == 2);
  CHECK_THROWS_AS(normalize_axis(3, 3, "op"), IndexError);
  CHECK_THROWS_WITH(normalize_axis(-4, 3, "sum"), Contains("sum") && Contains("-4"));
  CHECK(normalize_axes({-1, 0}, 3, "op") == std::vector<std::int64_t>{0, 2});
  CHECK(normalize_axes({}, 2, "op") == std::vector<std::int64_t>{0, 1});
  CHECK_THROWS_AS(normalize_axes({1, -2}, 3, "op"), IndexError);
  CHECK(broadcast_shapes({2, 1, 3}, {4, 1}, "add") == Shape{2, 4, 3});
  CHECK_THROWS_AS(broadcast_shapes({2, 3}, {4, 3}, "add"), ShapeError);
  CHECK_THROWS_WITH(broadcast_shapes({2, 3}, {4, 3}, "add"), Contains("add") && Contains("(2, 3)") && Contains("(4, 3)"));
  CHECK(broadcast_strides({3, 1}, {2, 3, 4}) == std::vector<std::int64_t>{0, 1, 0});
}

// ---------------------------------------------------------------------------------------------
// Printing: identical to NumPy's str() (the dtype and requires_grad suffixes are xgrad's own)

TEST_CASE("Tensor: prints 1-D, 2-D and 3-D tensors like NumPy", "[tensor]") {
  // np.array([1., 2., 3.], dtype=np.float32)
  CHECK(to_string(from_vector({1, 2, 3}, {3})) == "[1. 2. 3.]");
  // np.array([[1.5, -2., 3.25], [4., 5.125, -6.]], dtype=np.float32)
  CHECK(to_string(from_vector({1.5, -2, 3.25, 4, 5.125, -6}, {2, 3})) ==
        "[[ 1.5   -2.     3.25 ]\n"
        " [ 4.     5.125 -6.   ]]");
  // np.arange(12, dtype=np.float32).reshape(2, 2, 3) - 5
  Values v(12);
  std::iota(v.begin(), v.end(), -5.0);
  CHECK(to_string(from_vector(v, {2, 2, 3})) ==
        "[[[-5. -4. -3.]\n"
        "  [-2. -1.  0.]]\n"
        "\n"
        " [[ 1.  2.  3.]\n"
        "  [ 4.  5.  6.]]]");
}

TEST_CASE("Tensor: prints negatives, integers and non-finite values like NumPy", "[tensor]") {
  // np.array([-1., -0.5, 2.], dtype=np.float32)
  CHECK(to_string(from_vector({-1, -0.5, 2}, {3})) == "[-1.  -0.5  2. ]");
  // np.array([[1, -20, 3], [400, 5, 6]])
  CHECK(to_string(index_tensor({1, -20, 3, 400, 5, 6}, {2, 3})) ==
        "[[  1 -20   3]\n"
        " [400   5   6]], dtype=int64");
  // np.array([np.nan, 1., -np.inf], dtype=np.float32)
  CHECK(to_string(from_vector({NAN, 1, -INFINITY}, {3})) == "[ nan   1. -inf]");
}

TEST_CASE("Tensor: prints the shortest digits of the tensor's own dtype", "[tensor]") {
  // np.array([1.1, 0.1], dtype=np.float32): not 1.10000002, the float's double value
  CHECK(to_string(from_vector({1.1, 0.1}, {2})) == "[1.1 0.1]");
  CHECK(to_string(from_vector({1.1, 0.1}, {2}, DType::float64)) == "[1.1 0.1], dtype=float64");
  // np.array([1e-5, 1., 250.]): a range over 1000 switches to scientific notation
  CHECK(to_string(from_vector({1e-5, 1, 250}, {3}, DType::float64)) == "[1.0e-05 1.0e+00 2.5e+02], dtype=float64");
}

TEST_CASE("Tensor: wraps long rows at 75 columns like NumPy", "[tensor]") {
  // np.arange(20, dtype=np.float32) / 3
  Values v(20);
  for (int i = 0; i < 20; ++i) v[static_cast<std::size_t>(i)] = static_cast<double>(static_cast<float>(i) / 3.0f);
  CHECK(to_string(from_vector(v, {20})) ==
        "[0.         0.33333334 0.6666667  1.         1.3333334  1.6666666\n"
        " 2.         2.3333333  2.6666667  3.         3.3333333  3.6666667\n"
        " 4.         4.3333335  4.6666665  5.         5.3333335  5.6666665\n"
        " 6.         6.3333335 ]");
}

TEST_CASE("Tensor: summarises more than 1000 elements like NumPy", "[tensor]") {
  // np.arange(2000, dtype=np.float32): only the shown values choose the notation
  CHECK(to_string(arange(2000)) == "[0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03]");
  // np.arange(1200, dtype=np.int64).reshape(40, 30)
  std::vector<std::int64_t> ids(1200);
  std::iota(ids.begin(), ids.end(), 0);
  CHECK(to_string(index_tensor(ids, {40, 30})) ==
        "[[   0    1    2 ...   27   28   29]\n"
        " [  30   31   32 ...   57   58   59]\n"
        " [  60   61   62 ...   87   88   89]\n"
        " ...\n"
        " [1110 1111 1112 ... 1137 1138 1139]\n"
        " [1140 1141 1142 ... 1167 1168 1169]\n"
        " [1170 1171 1172 ... 1197 1198 1199]], dtype=int64");
  // Exactly 1000 elements are printed in full.
  CHECK(to_string(arange(1000)).find("...") == std::string::npos);
}

TEST_CASE("Tensor: prints scalars, empty tensors and xgrad's suffixes", "[tensor]") {
  // np.array(3.5, dtype=np.float32), np.array(1.0, dtype=np.float32), np.array(-4)
  CHECK(to_string(scalar(3.5)) == "3.5");
  CHECK(to_string(scalar(1.0)) == "1.0");
  CHECK(to_string(full({}, -4, DType::int64)) == "-4, dtype=int64");
  // np.zeros((2, 0), dtype=np.float32)
  CHECK(to_string(zeros({2, 0})) == "[]");
  CHECK(to_string(Tensor()) == "Tensor(undefined)");
  Tensor x = from_vector({1, 2, 3}, {3}, DType::float64).set_requires_grad();
  CHECK(to_string(x) == "[1. 2. 3.], dtype=float64, requires_grad=True");
  CHECK(fmt::format("{}", x) == to_string(x));
  std::ostringstream os;
  os << x;
  CHECK(os.str() == to_string(x));
}

TEST_CASE("Tensor: prints 163 random arrays exactly as NumPy's str() does", "[tensor]") {
  // tests/fixtures/numpy_print.json, written by tools/make_print_fixture.py with NumPy.
  const auto fixture = test::load_fixture("numpy_print.json");
  for (const auto& c : fixture.at("cases")) {
    const std::string dtype = c.at("dtype");
    const DType d = dtype == "float32" ? DType::float32 : dtype == "float64" ? DType::float64 : DType::int64;
    const Tensor t = test::fixture_tensor(c, d);
    const std::string expected = c.at("str").get<std::string>() + (d == DType::float32 ? "" : ", dtype=" + dtype);
    INFO(dtype << " " << shape_str(t.shape()));
    CHECK(to_string(t) == expected);
  }
}
