#pragma once
// gradcheck: compares the tape's gradients with finite differences, in float64.
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

/// Settings of gradcheck.
struct GradcheckOptions {
  double eps = 1e-6;              ///< finite-difference step
  double atol = 1e-8;             ///< absolute tolerance
  double rtol = 1e-6;             ///< relative tolerance: pass when |a - n| <= atol + rtol * |n|
  bool four_point = false;        ///< use the 4-point stencil (error O(eps^4)) instead of central differences
  double kink_threshold = 0.0;    ///< skip entries where one-sided slopes differ by more than this (0: off)
  std::uint64_t seed = 0;         ///< seed of the random output direction
  bool check_accumulation = true; ///< also check that a second backward adds the same gradient again
};

/// The outcome of gradcheck: whether it passed and where the worst disagreement is.
struct GradcheckReport {
  bool passed = true;                 ///< every compared entry was within tolerance
  std::int64_t worst_input = -1;      ///< index of the input holding the worst entry
  std::vector<std::int64_t> worst_index;  ///< multi-index of the worst entry in that input
  double analytic = 0.0;              ///< the tape's derivative at the worst entry
  double numeric = 0.0;               ///< the finite-difference derivative there
  double abs_error = 0.0;             ///< |analytic - numeric| there
  double rel_error = 0.0;             ///< abs_error / max(|numeric|, atol / rtol): <= rtol means within tolerance
  double max_rel_error = 0.0;         ///< the largest relative error over all entries
  std::int64_t checked = 0;           ///< entries compared
  std::int64_t failed = 0;            ///< compared entries outside tolerance
  std::int64_t skipped_kinks = 0;     ///< entries skipped as kinks
  bool accumulation_passed = true;    ///< a second backward added the same gradient again (when checked)
  std::string message;                ///< a readable summary (also what to_string gives)

  /// A multi-line summary naming the worst input, index, both values and both errors.
  std::string to_string() const { return message; }
};

/// Writes report.to_string().
inline std::ostream& operator<<(std::ostream& os, const GradcheckReport& report) { return os << report.message; }

/// Checks d(sum(v * fn(inputs)))/d(inputs) from the tape against finite differences, for every input that
/// requires grad; v = randn(output shape, Generator(options.seed), float64). Floating inputs must be float64
/// (TypeError), int64 inputs may ride along as constants. Throws ValueError when no input requires grad or fn
/// returns an undefined tensor. `fn` must be deterministic (reseed generators inside it) and compute from the
/// tensors it is given (an input produced by a recorded op is handed to it as a leaf sharing the data). The
/// inputs' data and grads are restored before it returns.
GradcheckReport gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace xgrad
