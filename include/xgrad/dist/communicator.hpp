#pragma once
// The processes of a data-parallel job and the collectives between them, over MPI's C API (Debian's Open MPI).
// This header does not include <mpi.h>: programs that use xgrad_dist compile without MPI's include path.
#include <cstdint>
#include <memory>
#include <string>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::dist {

/// The ranks of a job and the collective operations between them (a handle; copies share the same
/// MPI communicator). Every rank must call the same collectives in the same order, on tensors of the
/// same shape and dtype: MPI does not check, and a mismatch aborts the job or blocks it.
/// Tensors must live on the CPU (float32, float64 or int64); the operations block until done.
class Communicator {
 public:
  /// This process's index in [0, size()).
  int rank() const;
  /// Number of processes in the job.
  int size() const;

  /// Replaces `t` on every rank by the elementwise sum of `t` over all ranks, in place.
  void allreduce_sum(const Tensor& t) const;
  /// The sum of `value` over all ranks, returned on every rank.
  double allreduce_sum(double value) const;
  /// The maximum of `value` over all ranks, returned on every rank.
  std::int64_t allreduce_max(std::int64_t value) const;
  /// Copies `t` of rank `root` into `t` on every other rank, in place.
  void broadcast(const Tensor& t, int root = 0) const;
  /// Rank `root`'s `text`, returned on every rank (any length; the others' `text` is ignored).
  std::string broadcast(const std::string& text, int root = 0) const;
  /// Returns once every rank has called barrier().
  void barrier() const;
  /// A new communicator over the same ranks whose messages never mix with this one's (collective).
  Communicator duplicate() const;
  /// Ends every process of the job with exit code `code` (MPI_Abort); does not return.
  [[noreturn]] void abort(int code) const;

  /// The MPI_Comm this handle wraps, as an opaque pointer (for code that calls MPI itself).
  void* native_handle() const;

  /// The MPI communicator and the MPI session it keeps alive (lib/dist/mpi_types.hpp).
  struct Impl;
  /// Engine use: wraps an MPI communicator (see init()).
  explicit Communicator(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

/// Starts MPI (once per process; later calls share it) and returns the communicator over every process that
/// mpirun started; a program run without mpirun is a job of one rank. MPI shuts down when the last
/// Communicator is destroyed (unless the program had started MPI itself), and not while an exception is
/// unwinding: a failing rank must leave without waiting for the others, and mpirun then ends the whole job
/// with a non-zero exit code. A rank that returns normally while others still expect it makes them wait.
Communicator init(int& argc, char**& argv);
/// init() for programs that do not pass their command line.
Communicator init();

}  // namespace xgrad::dist
