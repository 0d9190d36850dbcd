#pragma once
// Deterministic sharding of a global batch: every rank draws the same global batch for a step (same
// seed, same step) and keeps only its own rows, so the ranks' rows together are exactly the batch one
// process would have trained on.
#include <cstdint>

#include "xgrad/dist/communicator.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::dist {

/// The rows [begin, end) of a global batch of `global_rows` that one rank trains on.
struct Shard {
  std::int64_t begin = 0;        ///< first row of this rank
  std::int64_t end = 0;          ///< one past this rank's last row
  std::int64_t global_rows = 0;  ///< rows of the whole batch, over every rank

  /// Number of rows of this rank.
  std::int64_t rows() const { return end - begin; }
  /// This rank's fraction of the batch, rows() / global_rows: the weight of its mean loss in the global mean.
  double share() const { return double(rows()) / double(global_rows); }
};

/// Rank `rank` of `size` takes a contiguous block of rows; the first global_rows % size ranks take one row
/// more. Throws ValueError when a rank would get no row (global_rows < size) or the arguments are out of range.
Shard shard_rows(std::int64_t global_rows, int rank, int size);
/// shard_rows for this process's rank in `comm`.
Shard shard_rows(std::int64_t global_rows, const Communicator& comm);

/// Rows [shard.begin, shard.end) of `batch` along axis 0, copied (`narrow`); throws ShapeError when the
/// batch's first axis is not shard.global_rows long.
Tensor take_rows(const Tensor& batch, const Shard& shard);

}  // namespace xgrad::dist
