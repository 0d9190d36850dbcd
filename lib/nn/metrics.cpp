// Accuracy composed from the ops (topk or argmax, comparisons, a sum), read back once; a running mean.
#include "xgrad/nn/metrics.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "ops/checks.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/compare.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/shape.hpp"

namespace xgrad::nn {

namespace {

// 1.0 where `mask` (0/1 of any dtype) is set, as float64, for counting with sum.
Tensor as_count(const Tensor& mask) { return mask.to(DType::float64); }

double top_k_hits(const char* op, const Tensor& logits, const Tensor& targets, std::int64_t k,
                  std::int64_t ignore_index) {
  detail::check_floating(op, "logits", logits);
  detail::check_index_tensor(op, "targets", targets);
  if (logits.dim() == 0 || targets.shape() != Shape(logits.shape().begin(), logits.shape().end() - 1))
    throw ShapeError(fmt::format("{}: targets {} must have the shape of logits {} without its last (class) axis", op,
                                 shape_str(targets.shape()), shape_str(logits.shape())));
  detail::check_same_device(op, "targets", targets, logits);
  const std::int64_t classes = logits.size(-1);
  if (k < 1 || k > classes)
    throw ValueError(fmt::format("{}: k = {} is outside [1, {}], the number of classes of logits {}", op, k, classes,
                                 shape_str(logits.shape())));
  NoGradGuard no_grad;
  const Tensor scored = as_count(ne(targets, static_cast<double>(ignore_index)));
  const Tensor bad = (as_count(lt(targets, 0.0)) + as_count(ge(targets, static_cast<double>(classes)))) * scored;
  if (sum(bad).item() > 0) {
    const auto at = static_cast<std::int64_t>(argmax(bad).item());
    throw IndexError(fmt::format("{}: target {} at position ({}) of targets {} is not a class in [0, {}) nor "
                                 "ignore_index {}",
                                 op, detail::index_at(targets, at), fmt::join(unravel_index(at, targets.shape()), ", "),
                                 shape_str(targets.shape()), classes, ignore_index));
  }
  // A target is hit when one of the k best classes equals it.
  const Tensor hit = k == 1 ? as_count(eq(argmax(logits, -1), targets))
                            : max(as_count(eq(topk(logits, k, -1).indices, unsqueeze(targets, -1))), {-1});
  const double total = sum(scored).item();
  return total == 0 ? std::numeric_limits<double>::quiet_NaN() : sum(hit * scored).item() / total;
}

}  // namespace

double accuracy(const Tensor& logits, const Tensor& targets, std::int64_t ignore_index) {
  return top_k_hits("accuracy", logits, targets, 1, ignore_index);
}

double top_k_accuracy(const Tensor& logits, const Tensor& targets, std::int64_t k, std::int64_t ignore_index) {
  return top_k_hits("top_k_accuracy", logits, targets, k, ignore_index);
}

void RunningMean::update(double value, double weight) {
  if (!(weight >= 0.0 && std::isfinite(weight)))
    throw ValueError(fmt::format("RunningMean: weight must be finite and >= 0, got {}", weight));
  ++count_;
  if (weight == 0.0) return;
  sum_ += value * weight;
  weight_ += weight;
}

void RunningMean::update(const Tensor& value, double weight) {
  require_defined(value, "RunningMean", "value");
  update(value.item(), weight);
}

double RunningMean::mean() const {
  return weight_ == 0.0 ? std::numeric_limits<double>::quiet_NaN() : sum_ / weight_;
}

}  // namespace xgrad::nn
