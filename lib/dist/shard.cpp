#include "xgrad/dist/shard.hpp"

#include <fmt/format.h>

#include "xgrad/ops/shape.hpp"

namespace xgrad::dist {

Shard shard_rows(std::int64_t global_rows, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size)
    throw ValueError(fmt::format("shard_rows: rank {} is not in [0, {})", rank, size));
  if (global_rows < size)
    throw ValueError(fmt::format("shard_rows: a global batch of {} rows cannot give each of {} ranks a row; use a "
                                 "batch of at least {} rows", global_rows, size, size));
  // rank r starts after r full shares plus one extra row for each earlier rank among the first `extra`
  const std::int64_t base = global_rows / size, extra = global_rows % size;
  auto start = [&](std::int64_t r) { return r * base + std::min(r, extra); };
  return Shard{start(rank), start(rank + 1), global_rows};
}

Shard shard_rows(std::int64_t global_rows, const Communicator& comm) {
  return shard_rows(global_rows, comm.rank(), comm.size());
}

Tensor take_rows(const Tensor& batch, const Shard& shard) {
  require_defined(batch, "take_rows", "batch");
  if (batch.dim() < 1 || batch.size(0) != shard.global_rows)
    throw ShapeError(fmt::format("take_rows: batch of shape {} does not have the shard's {} rows on axis 0",
                                 shape_str(batch.shape()), shard.global_rows));
  return narrow(batch, 0, shard.begin, shard.rows());
}

}  // namespace xgrad::dist
