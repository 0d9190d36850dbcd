#pragma once
// What lib/dist shares about MPI: the communicator's implementation and dtype -> MPI_Datatype.
#include <mpi.h>

#include <memory>

#include "xgrad/dist/communicator.hpp"

namespace xgrad::dist {

struct Environment;

/// The MPI communicator behind a Communicator handle; keeps MPI initialised while alive.
struct Communicator::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  bool owned = false;                ///< a duplicate, freed with the handle
  std::shared_ptr<Environment> env;  ///< finalizes MPI after the last communicator is gone
  ~Impl();
};

/// The MPI communicator of `c`.
MPI_Comm mpi_comm(const Communicator& c);

/// The MPI datatype of a tensor dtype.
MPI_Datatype mpi_type(DType dtype);

/// Throws unless `t` is a defined CPU tensor; `op` and `arg` name the call in the message.
void check_collective_tensor(const Tensor& t, const char* op, const char* arg);

/// Calls fn(offset, count) over [0, n) in pieces that fit MPI's int counts.
template <class Fn>
void for_each_mpi_chunk(std::int64_t n, Fn&& fn) {
  constexpr std::int64_t kMaxCount = std::int64_t(1) << 30;
  for (std::int64_t offset = 0; offset < n; offset += kMaxCount)
    fn(offset, static_cast<int>(std::min(kMaxCount, n - offset)));
}

}  // namespace xgrad::dist
