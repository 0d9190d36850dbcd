// nn::accuracy, nn::top_k_accuracy and nn::RunningMean.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "testing.hpp"
#include "xgrad/nn/metrics.hpp"
#include "xgrad/ops/shape.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Four rows of three class logits; the best classes are 2, 0, 1, 0 and the second best 1, 2, 2, 1.
Tensor logits4() { return from_vector({0.1, 0.5, 0.9, /**/ 3, 1, 2, /**/ -1, 4, 0, /**/ 7, 6, -2}, {4, 3}); }
}  // namespace

TEST_CASE("accuracy: fraction of rows whose best logit is the target, by hand", "[metrics]") {
  // best 2, 0, 1, 0 against targets 2, 0, 2, 1: rows 0 and 1 hit.
  const Tensor targets = index_tensor({2, 0, 2, 1}, {4});
  CHECK(nn::accuracy(logits4(), targets) == 0.5);
  CHECK(nn::accuracy(logits4().to(DType::float64), targets) == 0.5);
  CHECK(nn::top_k_accuracy(logits4(), targets, 1) == 0.5);
  // Top 2: row 2's second best is 2 (hit), row 3's is 1 (hit): all four.
  CHECK(nn::top_k_accuracy(logits4(), targets, 2) == 1.0);
  CHECK(nn::top_k_accuracy(logits4(), index_tensor({0, 2, 0, 2}, {4}), 2) == 0.25);  // only row 1: 2 in {0, 2}
  CHECK(nn::top_k_accuracy(logits4(), index_tensor({0, 1, 0, 2}, {4}), 3) == 1.0);
}

TEST_CASE("accuracy: ignore_index leaves targets out, nothing left gives NaN", "[metrics]") {
  const Tensor targets = index_tensor({2, -100, 2, -100}, {4});  // rows 0 (hit) and 2 (miss) count
  CHECK(nn::accuracy(logits4(), targets) == 0.5);
  CHECK(nn::accuracy(logits4(), index_tensor({2, 7, 7, 7}, {4}), 7) == 1.0);
  CHECK(std::isnan(nn::accuracy(logits4(), index_tensor({-100, -100, -100, -100}, {4}))));
}

TEST_CASE("accuracy: ties go to the lower class, NaN logits count as the largest, any leading axes", "[metrics]") {
  const Tensor tied = from_vector({1, 1, 0}, {1, 3});
  CHECK(nn::accuracy(tied, index_tensor({0}, {1})) == 1.0);
  CHECK(nn::accuracy(tied, index_tensor({1}, {1})) == 0.0);
  const Tensor with_nan = from_vector({5, kNaN, 1}, {1, 3});
  CHECK(nn::accuracy(with_nan, index_tensor({1}, {1})) == 1.0);
  // (2, 2, 3) logits against (2, 2) targets: the rows of logits4, targets 2, 0, 2, 1 as before.
  CHECK(nn::accuracy(reshape(logits4(), {2, 2, 3}), index_tensor({2, 0, 2, 1}, {2, 2})) == 0.5);
}

TEST_CASE("accuracy: bad arguments are typed errors naming shapes and values", "[metrics]") {
  CHECK_ERROR(nn::accuracy(logits4(), index_tensor({0, 1, 2}, {3})), ShapeError,
              "accuracy: targets (3,) must have the shape of logits (4, 3) without its last (class) axis");
  CHECK_ERROR(nn::accuracy(logits4(), from_vector({0, 1, 2, 0}, {4})), TypeError,
              Contains("accuracy: argument 'targets' must be int64, got float32"));
  CHECK_ERROR(nn::accuracy(index_tensor({0, 1}, {1, 2}), index_tensor({0}, {1})), TypeError,
              Contains("argument 'logits' must be float32 or float64"));
  CHECK_ERROR(nn::accuracy(logits4(), index_tensor({0, 3, 1, 0}, {4})), IndexError,
              "accuracy: target 3 at position (1) of targets (4,) is not a class in [0, 3) nor ignore_index -100");
  CHECK_ERROR(nn::accuracy(logits4(), index_tensor({0, 0, -1, 0}, {4})), IndexError, Contains("target -1"));
  CHECK_ERROR(nn::top_k_accuracy(logits4(), index_tensor({0, 0, 0, 0}, {4}), 4), ValueError,
              "top_k_accuracy: k = 4 is outside [1, 3], the number of classes of logits (4, 3)");
  CHECK_ERROR(nn::top_k_accuracy(logits4(), index_tensor({0, 0, 0, 0}, {4}), 0), ValueError, Contains("k = 0"));
}

TEST_CASE("RunningMean: weighted mean of the updates, reset, NaN rules", "[metrics]") {
  nn::RunningMean m;
  CHECK(std::isnan(m.mean()));
  m.update(2.0, 3.0);  // (2*3 + 5*1) / 4 = 11/4
  m.update(5.0);
  CHECK(m.mean() == 2.75);
  CHECK(m.total_weight() == 4.0);
  CHECK(m.count() == 2);
  m.update(kNaN, 0.0);  // a batch with nothing to score adds nothing
  CHECK(m.mean() == 2.75);
  CHECK(m.count() == 3);
  m.update(scalar(0.25, DType::float64), 4.0);  // (11 + 1) / 8
  CHECK(m.mean() == 1.5);
  m.update(kNaN, 1.0);
  CHECK(std::isnan(m.mean()));
  m.reset();
  CHECK(m.count() == 0);
  CHECK(std::isnan(m.mean()));
  CHECK_ERROR(m.update(1.0, -1.0), ValueError, "RunningMean: weight must be finite and >= 0, got -1");
  CHECK_ERROR(m.update(1.0, kNaN), ValueError, Contains("RunningMean: weight"));
  CHECK_ERROR(m.update(Tensor()), ValueError, Contains("RunningMean") && Contains("'value'"));
  CHECK_ERROR(m.update(zeros({2})), ValueError, Contains("item"));
}
