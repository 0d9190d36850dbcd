#include "xgrad/autograd/gradcheck.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad {

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Takes the inputs' gradients away for the check and puts them back however it ends, so that
// gradcheck neither reads nor disturbs what the caller has accumulated.
class GradStash {
 public:
  explicit GradStash(const std::vector<Tensor>& inputs) : inputs_(inputs), saved_(inputs.size()) {
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
      if (!inputs_[i].requires_grad()) continue;
      saved_[i] = inputs_[i].grad();
      inputs_[i].set_grad(Tensor());
    }
  }
  ~GradStash() {
    // Reverse order: an input listed twice gets back the grad its first entry saved.
    for (std::size_t i = inputs_.size(); i-- > 0;)
      if (inputs_[i].requires_grad()) inputs_[i].set_grad(saved_[i]);
  }
  GradStash(const GradStash&) = delete;
  GradStash& operator=(const GradStash&) = delete;

  // Empties every grad again (between the analytic passes).
  void clear() {
    for (Tensor& t : inputs_)
      if (t.requires_grad()) t.set_grad(Tensor());
  }

 private:
  std::vector<Tensor> inputs_;
  std::vector<Tensor> saved_;
};

void check_inputs(const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  if (!(options.eps > 0.0))
    throw ValueError(fmt::format("gradcheck: eps must be positive, got {}", options.eps));
  if (options.atol < 0.0 || options.rtol < 0.0)
    throw ValueError(fmt::format("gradcheck: tolerances must not be negative, got atol {} and rtol {}",
                                 options.atol, options.rtol));
  bool any_grad = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined()) throw ValueError(fmt::format("gradcheck: input {} is an undefined tensor", i));
    if (is_floating(t.dtype()) && t.dtype() != DType::float64)
      throw TypeError(fmt::format("gradcheck: input {} is {} of shape {}; finite differences need float64 "
                                  "(convert with .to(DType::float64))",
                                  i, dtype_name(t.dtype()), shape_str(t.shape())));
    any_grad = any_grad || t.requires_grad();
  }
  if (!any_grad)
    throw ValueError(fmt::format("gradcheck: none of the {} inputs requires grad, so there is nothing to "
                                 "check; call set_requires_grad() on the inputs to differentiate",
                                 inputs.size()));
}

// Runs fn and checks what it returns; `expected` (when given) is the shape of the first evaluation.
Tensor evaluate(const Fn& fn, const std::vector<Tensor>& inputs, const Shape* expected) {
  Tensor out = fn(inputs);
  if (!out.defined()) throw ValueError("gradcheck: fn returned an undefined tensor");
  if (out.dtype() != DType::float64)
    throw TypeError(fmt::format("gradcheck: fn returned {} of shape {}; it must compute in float64",
                                dtype_name(out.dtype()), shape_str(out.shape())));
  if (expected && out.shape() != *expected)
    throw ValueError(fmt::format("gradcheck: fn returned shape {} after a perturbation, {} before",
                                 shape_str(out.shape()), shape_str(*expected)));
  return out;
}

// fn(inputs) as host values, with recording off.
std::vector<double> values_at(const Fn& fn, const std::vector<Tensor>& inputs, const Shape& shape) {
  NoGradGuard no_grad;
  return evaluate(fn, inputs, &shape).to_vector();
}

// sum_k v_k * (a_k - b_k): differencing per output entry before summing keeps the cancellation
// error at the size of the perturbed entries instead of the size of the whole sum.
double directional_difference(const std::vector<double>& v, const std::vector<double>& a,
                              const std::vector<double>& b) {
  double sum = 0.0;
  for (std::size_t k = 0; k < v.size(); ++k) sum += v[k] * (a[k] - b[k]);
  return sum;
}

// Each input's gradient after one backward pass, as host values (zeros where none arrived).
std::vector<std::vector<double>> analytic_grads(const std::vector<Tensor>& inputs) {
  std::vector<std::vector<double>> grads(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    const Tensor g = inputs[i].grad();
    grads[i] = g.defined() ? g.to_vector() : std::vector<double>(static_cast<std::size_t>(inputs[i].numel()));
  }
  return grads;
}

struct Numeric {
  double slope = 0.0;
  bool kink = false;
};

// The step actually taken from x0: eps rounded so that x0 +- h and x0 +- 2h are exact (for
// |x0| = 1e4 an unrounded 1e-6 step is off by 2e-6 relative, more than the default rtol).
double exact_step(double x0, double eps) {
  const double h = (x0 + eps) - x0;
  return h != 0 ? h : eps * std::abs(x0);  // eps below half an ulp of x0: step relative to x0
}

// Writes `value` into element j of the float64 tensor t, on whatever device it lives.
void write_entry(const Tensor& t, std::int64_t j, double value) {
  t.backend().copy_from_host(t.data<double>() + j, &value, sizeof value);
}

// d(sum(v * fn))/d(x_j) by finite differences, perturbing element j of `x` (holding x0) in place and restoring
// it exactly.
Numeric numeric_slope(const Fn& fn, const std::vector<Tensor>& inputs, const Tensor& x, std::int64_t j, double x0,
                      const std::vector<double>& v, const std::vector<double>& at_x, const Shape& shape,
                      const GradcheckOptions& o) {
  const double h = exact_step(x0, o.eps);
  auto at = [&](double offset) {
    struct Restore {  // even when fn throws: the caller's data must come back intact
      const Tensor& x;
      std::int64_t j;
      double x0;
      ~Restore() { write_entry(x, j, x0); }
    } restore{x, j, x0};
    write_entry(x, j, x0 + offset);
    return values_at(fn, inputs, shape);
  };
  const auto plus = at(h);
  const auto minus = at(-h);
  Numeric n;
  if (o.kink_threshold > 0.0) {
    // Across a kink the one-sided slopes disagree by O(1); on smooth ground by O(h * f'').
    const double right = directional_difference(v, plus, at_x) / h;
    const double left = directional_difference(v, at_x, minus) / h;
    n.kink = std::abs(right - left) > o.kink_threshold;
  }
  const double central = directional_difference(v, plus, minus);
  if (!o.four_point) {
    n.slope = central / (2 * h);
  } else {
    // f'(x) = (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h + O(h^4)
    const double wide = directional_difference(v, at(2 * h), at(-2 * h));
    n.slope = (8 * central - wide) / (12 * h);
  }
  return n;
}

// Checks that a second backward added the first pass's gradient again; returns a note on failure.
std::string check_accumulation(const std::vector<Tensor>& args, const std::vector<std::vector<double>>& once,
                               const GradcheckOptions& o) {
  const auto twice = analytic_grads(args);
  for (std::size_t i = 0; i < args.size(); ++i)
    for (std::size_t j = 0; j < twice[i].size(); ++j) {
      const double want = 2 * once[i][j];
      if (!(std::abs(twice[i][j] - want) <= o.atol + o.rtol * std::abs(want)))
        return fmt::format("accumulation FAILED: input {} at index ({}) holds {:.10g} after two backward passes, "
                           "expected twice {:.10g}",
                           i, fmt::join(unravel_index(static_cast<std::int64_t>(j), args[i].shape()), ", "), twice[i][j],
                           once[i][j]);
    }
  return {};
}

// fn evaluated twice at the same point must agree, or finite differences measure noise.
void check_deterministic(const Fn& fn, const std::vector<Tensor>& args, const std::vector<double>& at_x,
                         const Shape& shape) {
  const auto again = values_at(fn, args, shape);
  for (std::size_t k = 0; k < at_x.size(); ++k)
    if (at_x[k] != again[k] && !(std::isnan(at_x[k]) && std::isnan(again[k])))
      throw ValueError(fmt::format("gradcheck: fn is not deterministic: output entry {} was {} and then {}; "
                                   "reseed generators inside fn",
                                   k, at_x[k], again[k]));
}

// Records one compared entry in the report; the worst is the one furthest outside its tolerance.
void compare(GradcheckReport& r, double& worst_score, std::size_t input, std::int64_t flat, const Shape& shape,
             double analytic, double numeric, const GradcheckOptions& o) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const double rel_floor = o.rtol > 0.0 ? std::max(o.atol / o.rtol, 1e-300) : 1e-300;
  const double abs_error = std::abs(analytic - numeric);
  const double rel_error = abs_error / std::max(std::abs(numeric), rel_floor);
  const double tolerance = o.atol + o.rtol * std::abs(numeric);
  const double score = std::isnan(abs_error) ? kInf : abs_error / std::max(tolerance, 1e-300);
  ++r.checked;
  r.max_rel_error = std::max(r.max_rel_error, std::isnan(rel_error) ? kInf : rel_error);
  if (!(abs_error <= tolerance)) {
    r.passed = false;
    ++r.failed;
  }
  if (score <= worst_score) return;
  worst_score = score;
  r.worst_input = static_cast<std::int64_t>(input);
  r.worst_index = unravel_index(flat, shape);
  r.analytic = analytic;
  r.numeric = numeric;
  r.abs_error = abs_error;
  r.rel_error = rel_error;
}

std::string describe(const GradcheckReport& r, std::size_t inputs, const GradcheckOptions& o,
                     const std::string& accumulation_note) {
  std::string s = fmt::format("gradcheck {}: ", r.passed ? "passed" : "FAILED");
  if (r.worst_input >= 0)
    s += fmt::format("worst entry is input {} at index ({}): analytic {:.10g}, numeric {:.10g}, abs error "
                     "{:.3g}, rel error {:.3g}",
                     r.worst_input, fmt::join(r.worst_index, ", "), r.analytic, r.numeric, r.abs_error,
                     r.rel_error);
  else
    s += "no entry compared";
  s += fmt::format("\n  {} of {} entries outside |analytic - numeric| <= {:g} + {:g} * |numeric|; max rel error {:.3g}",
                   r.failed, r.checked, o.atol, o.rtol, r.max_rel_error);
  s += fmt::format("\n  {} inputs, {} differences (eps {:g}), {} entries skipped as kinks", inputs,
                   o.four_point ? "4-point" : "central", o.eps, r.skipped_kinks);
  if (!accumulation_note.empty()) s += "\n  " + accumulation_note;
  return s;
}

// The tensors fn receives: the inputs themselves, except that an input produced by a recorded op
// becomes a leaf sharing its data, so that its gradient is kept in its grad().
std::vector<Tensor> as_leaves(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> args = inputs;
  for (Tensor& t : args)
    if (t.requires_grad() && !t.is_leaf()) t = t.detach().set_requires_grad();
  return args;
}

}  // namespace

GradcheckReport gradcheck(const Fn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  check_inputs(inputs, options);
  const std::vector<Tensor> args = as_leaves(inputs);
  GradStash stash(args);

  // Analytic: backward of the direction v through the recorded graph.
  Tensor out = evaluate(fn, args, nullptr);
  const Shape shape = out.shape();
  if (!out.requires_grad())
    throw ValueError(fmt::format("gradcheck: fn's output {} does not require grad; it must be computed from "
                                 "the inputs with recording on",
                                 shape_str(shape)));
  Generator gen(options.seed);
  const Tensor direction = randn(shape, gen, DType::float64, 0.0, 1.0, out.device());
  out.backward(BackwardOptions{direction, options.check_accumulation});
  const auto analytic = analytic_grads(args);
  GradcheckReport r;
  std::string accumulation_note;
  if (options.check_accumulation) {
    out.backward(BackwardOptions{direction, false});  // ops must accumulate, never overwrite
    accumulation_note = check_accumulation(args, analytic, options);
    r.accumulation_passed = accumulation_note.empty();
  }
  out = Tensor();
  stash.clear();

  // Numeric: central (or 4-point) differences of sum(v * fn), entry by entry.
  const std::vector<double> v = direction.to_vector();
  const std::vector<double> at_x = values_at(fn, args, shape);
  check_deterministic(fn, args, at_x, shape);
  double worst_score = -1.0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (!args[i].requires_grad()) continue;
    const std::vector<double> x = args[i].to_vector();
    for (std::int64_t j = 0; j < args[i].numel(); ++j) {
      const Numeric n = numeric_slope(fn, args, args[i], j, x[static_cast<std::size_t>(j)], v, at_x, shape, options);
      if (n.kink)
        ++r.skipped_kinks;
      else
        compare(r, worst_score, i, j, args[i].shape(), analytic[i][static_cast<std::size_t>(j)], n.slope, options);
    }
  }
  r.passed = r.passed && r.accumulation_passed;
  r.message = describe(r, inputs.size(), options, accumulation_note);
  return r;
}

}  // namespace xgrad
