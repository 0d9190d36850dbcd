#pragma once
// The processes one char_lm run spans. Built with xgrad_dist (XGRAD_CHAR_LM_MPI), these are the ranks that
// mpirun started, and training is data parallel: every rank draws the same global batch for a step, trains
// on its own rows, and the gradients are averaged before the optimizer step, so the ranks take the steps one
// process would. Otherwise (and on a single rank) this process alone, and every call below does nothing.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "corpus.hpp"
#include "xgrad/nn/module.hpp"

namespace char_lm {

/// This run's ranks; rank 0 alone prints and writes files.
class Ranks {
 public:
  /// Starts MPI when built with it. On ranks other than 0 standard output is discarded from here on.
  Ranks(int& argc, char**& argv);
  ~Ranks();
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;

  /// This process's rank (0 without MPI).
  int rank() const;
  /// Number of ranks (1 without MPI).
  int size() const;
  /// Whether this rank prints and writes files (rank 0).
  bool leader() const { return rank() == 0; }
  /// The log line naming the ranks and how the global batch is split; empty on a single process.
  std::string describe(std::int64_t global_batch) const;

  /// Averages `model`'s gradients over the ranks from now on (and copies rank 0's weights to every rank).
  void wrap(xgrad::nn::Module& model);
  /// This rank's rows of a global batch of `context`-token rows: all of them on a single process.
  Batch shard(const Batch& global, std::int64_t context);
  /// After backward(): every gradient becomes the gradient of the global batch's mean loss.
  void average_gradients();
  /// The global batch's mean loss, from this rank's mean loss over its rows.
  double global_loss(double local_loss) const;
  /// Runs `write` on rank 0; every rank returns once it is done (a checkpoint every rank may then read).
  void on_leader(const std::function<void()>& write) const;
  /// The seed of this rank's dropout masks: `seed` itself on rank 0, a different one on every other rank.
  std::uint64_t dropout_seed(std::uint64_t seed) const;
  /// Where progress goes: stderr on rank 0, nowhere elsewhere.
  std::FILE* progress_stream() const;
  /// A line on the allreduce's cost per step since wrap(); empty on a single process.
  std::string communication_summary() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace char_lm
