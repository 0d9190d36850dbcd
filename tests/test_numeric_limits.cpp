// Numeric limits of shapes and integer conversions: an element count that does not fit in int64, and a
// NaN, infinite or out-of-range value converted to int64, are refused with a ValueError instead of wrapping
// around (a too-small allocation) or invoking undefined behaviour. 2^62 and 2^40 extents make products
// whose overflow is known by hand: 2^62 * 4 = 2^64 and 2^40 * 2^40 = 2^80 exceed int64's 2^63 - 1.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {
constexpr std::int64_t k62 = std::int64_t{1} << 62, k40 = std::int64_t{1} << 40;
}  // namespace

TEST_CASE("limits: an element count beyond int64 is a ValueError showing the shape", "[limits]") {
  CHECK_THROWS_MATCHES(zeros({k62 + 1, 4}), ValueError, Catch::Matchers::Message(
      "shape (4611686018427387905, 4) is too large: its element or byte count overflows int64"));
  CHECK_THROWS_AS(numel({k40, k40}), ValueError);
  CHECK_THROWS_AS(contiguous_strides({k40, k40, 2}), ValueError);
  CHECK(numel({k62, 1}) == k62);  // fits: counted, not refused
  CHECK(contiguous_strides({2, k62 / 2}) == std::vector<std::int64_t>{k62 / 2, 1});
  // A zero extent does not hide an overflow of the others: kernels form their partial products.
  CHECK_THROWS_AS(numel({0, k40, k40}), ValueError);
  CHECK(numel({0, k62}) == 0);
}

TEST_CASE("limits: a byte count beyond int64 is refused before allocating", "[limits]") {
  // 2^62 float32 elements are counted, but 2^64 bytes are not: the allocation would have wrapped to 0.
  CHECK_THROWS_WITH(zeros({k62}, DType::float32), Contains("(4611686018427387904,)"));
  CHECK_THROWS_AS(zeros({k62}, DType::int64), ValueError);
}

TEST_CASE("limits: result shapes of ops are counted before anything is allocated", "[limits]") {
  SECTION("broadcast") {
    Tensor a = zeros({k40, 1, 0}), b = zeros({1, k40, 0});
    CHECK_THROWS_AS(add(a, b), ValueError);
  }
  SECTION("matmul batch") {
    Tensor a = zeros({k40, 1, 0, 0}), b = zeros({1, k40, 0, 0});
    CHECK_THROWS_AS(matmul(a, b), ValueError);
  }
  SECTION("reshape") {
    CHECK_THROWS_AS(reshape(zeros({0}), {0, k62, 8}), ValueError);
    CHECK(reshape(zeros({0}), {0, k62}).shape() == Shape{0, k62});
  }
  SECTION("concat") {
    // Each piece holds no element, but the extents along axis 0 add up to 2^63.
    Tensor piece = zeros({k62, 0});
    CHECK_THROWS_WITH(concat({piece, piece}, 0), Contains("concat") && Contains("axis 0"));
  }
}

TEST_CASE("limits: NaN, infinity and out-of-range values are refused as int64", "[limits]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  SECTION("to_int64") {
    CHECK(to_int64(-9223372036854775808.0, "t") == std::numeric_limits<std::int64_t>::min());
    CHECK(to_int64(-2.9, "t") == -2);  // truncates toward zero, as a cast does
    CHECK_THROWS_WITH(to_int64(9223372036854775808.0, "t"), Contains("t: 9.223372036854776e+18"));
    CHECK_THROWS_AS(to_int64(nan, "t"), ValueError);
    CHECK_THROWS_AS(to_int64(-inf, "t"), ValueError);
  }
  SECTION("full and fill_") {
    CHECK_THROWS_WITH(full({2}, nan, DType::int64), Contains("fill") && Contains("nan"));
    CHECK_THROWS_AS(full({2}, 1e19, DType::int64), ValueError);
    Tensor t = full({2}, 7, DType::int64);
    CHECK_THROWS_AS(t.fill_(inf), ValueError);
    CHECK(t.to_vector() == std::vector<double>{7, 7});  // left as it was
    CHECK(full({1}, inf, DType::float32).item() == inf);  // floats hold it
  }
  SECTION("set") {
    Tensor t = zeros({1}, DType::int64);
    CHECK_THROWS_AS(t.set({0}, nan), ValueError);
  }
  SECTION("arange") {
    // The span (10 steps) is fine, the values 9.3e18 + i * 1e3 are beyond int64's 9.22e18.
    CHECK_THROWS_WITH(arange(9.3e18, 9.3e18 + 1e4, 1e3, DType::int64), Contains("arange"));
    CHECK(arange(-2.0, 2.0, 1.5, DType::int64).to_vector() == std::vector<double>{-2, 0, 1});
  }
  SECTION("dtype conversion") {
    Tensor f = from_vector({1.5, -2.5, nan}, {3});
    CHECK_THROWS_WITH(f.to(DType::int64), Contains("int64") && Contains("nan"));
    CHECK_THROWS_AS(from_vector({1e30}, {1}).to(DType::int64), ValueError);
    CHECK(from_vector({1.5, -2.5}, {2}).to(DType::int64).to_vector() == std::vector<double>{1, -2});
  }
}
