#pragma once
// Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_), in place on grad().
// Parameters without a gradient are ignored.
#include <limits>
#include <vector>

#include "xgrad/optim/optimizer.hpp"

namespace xgrad::optim {

/// Scales every gradient by min(1, max_norm / (total + 1e-6)), where total is the norm of all
/// gradients taken together ((sum |g|^p)^(1/p), or max |g| for norm_type = infinity); returns total
/// (before clipping). ValueError for norm_type <= 0 or max_norm < 0, and, with `error_if_nonfinite`,
/// for a NaN or infinite total (then nothing is scaled).
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                      bool error_if_nonfinite = false);
/// clip_grad_norm over named parameters (e.g. module.named_trainable_parameters()).
double clip_grad_norm(const std::vector<NamedTensor>& params, double max_norm, double norm_type = 2.0,
                      bool error_if_nonfinite = false);

/// Clamps every gradient element into [-clip_value, clip_value]; ValueError when clip_value < 0.
void clip_grad_value(const std::vector<Tensor>& params, double clip_value);
/// clip_grad_value over named parameters.
void clip_grad_value(const std::vector<NamedTensor>& params, double clip_value);

/// Positive infinity, the norm_type of the max norm.
inline constexpr double inf_norm = std::numeric_limits<double>::infinity();

}  // namespace xgrad::optim
