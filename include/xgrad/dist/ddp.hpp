#pragma once
// Data-parallel training (in the manner of PyTorch's DistributedDataParallel and Horovod): every rank
// holds the same model, runs forward and backward on its own rows of the batch, and the gradients are
// averaged over the ranks before the optimizer step, so every rank takes the same step.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "xgrad/dist/communicator.hpp"
#include "xgrad/dist/shard.hpp"
#include "xgrad/nn/module.hpp"

namespace xgrad::dist {

/// How DistributedDataParallel groups and reduces gradients.
struct DdpOptions {
  /// Size of the first bucket (the last parameters, whose gradients are final first), as PyTorch's 1 MiB.
  std::size_t first_bucket_bytes = std::size_t(1) << 20;
  /// Size at which every later bucket is closed, as PyTorch's 25 MiB.
  std::size_t bucket_cap_bytes = std::size_t(25) << 20;
  /// Start each bucket's allreduce during backward, as soon as its gradients are final (the tape's leaf hook,
  /// on the thread that constructed this object), instead of in synchronize(). Measured faster on a shared
  /// 2-core machine (docs/distributed.md). With it, backward passes that should only accumulate (several
  /// micro-batches per step) run inside no_sync().
  bool overlap = true;
};

/// One bucket: the gradients of some parameters laid end to end in one flat buffer that is reduced at once.
struct Bucket {
  std::vector<std::string> names;  ///< the parameters, in bucket order (reverse registration order)
  Tensor buffer;                   ///< flat 1-D gradient storage; each parameter's grad() is a view into it
};

/// Time spent communicating, for the "allreduce share of a step" figure.
struct DdpStats {
  std::int64_t synchronizations = 0;  ///< calls of synchronize()
  double communication_seconds = 0;   ///< wall time in reductions not hidden behind backward (synchronize() and
                                      ///< the launches during backward), waiting for slower ranks included
  std::int64_t bytes_per_step = 0;    ///< gradient bytes each rank sends into the allreduce per step
};

/// Wraps a built model for data-parallel training over `comm`. At construction (a collective call):
/// checks that every rank holds the same parameters (names, shapes, dtypes) and throws ValueError on
/// every rank naming the first difference; refuses a model without trainable parameters (layers that
/// build their weights on their first call must have been called once); copies rank 0's parameters and
/// buffers to every rank; and makes each trainable parameter's grad() a view into a bucket's flat buffer,
/// so the tape accumulates straight into the buffers that are reduced, with no copy.
/// Use: zero_grad(), forward on this rank's rows, backward(), synchronize(), optimizer step.
class DistributedDataParallel {
 public:
  /// Wraps `model` (kept by reference; it must outlive this object) for training over `comm`.
  DistributedDataParallel(nn::Module& model, const Communicator& comm, DdpOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  /// After backward(): replaces every gradient by the mean over ranks (weighted by set_share()), on every
  /// rank alike. Throws ValueError on every rank if the model's parameters changed since construction.
  void synchronize();
  /// This rank's share of the global batch for the coming steps: gradients are combined as the sum over
  /// ranks of share times the local gradient (of a mean loss), which is the gradient of the global mean.
  /// The default, 1 / size, is the plain mean, right when every rank has as many rows.
  void set_share(double share);
  /// set_share(shard.share()).
  void set_share(const Shard& shard) { set_share(shard.share()); }

  /// RAII: while alive, backward passes only accumulate locally (gradient accumulation over several
  /// micro-batches); the synchronize() after it reduces everything accumulated.
  class NoSync {
   public:
    ~NoSync();
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    friend class DistributedDataParallel;
    explicit NoSync(DistributedDataParallel& ddp);
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  /// A guard that defers every reduction to the first synchronize() after it is destroyed.
  [[nodiscard]] NoSync no_sync() { return NoSync(*this); }

  /// The buckets in reduction order.
  const std::vector<Bucket>& buckets() const { return buckets_; }
  /// The wrapped model.
  nn::Module& module() const { return model_; }
  /// The communicator of the reductions (a duplicate of the one given, so they never mix with the caller's).
  const Communicator& communicator() const { return comm_; }
  /// Communication time so far.
  const DdpStats& stats() const { return stats_; }

 private:
  struct Reducer;  // the bucket layout and the MPI requests (lib/dist/ddp.cpp)
  void on_grad_ready(TensorImpl& leaf);
  void launch_ready_buckets(bool all);
  void launch(std::size_t bucket);
  void wait_all();
  void check_parameters_unchanged() const;

  nn::Module& model_;
  Communicator comm_;
  std::vector<Bucket> buckets_;
  std::unique_ptr<Reducer> reducer_;
  DdpStats stats_;
};

/// Averages every trainable parameter's gradient over the ranks of `comm` (one allreduce per parameter), for
/// loops that do not use DistributedDataParallel. A parameter without a gradient counts as zeros and gets one.
void allreduce_gradients(const nn::Module& module, const Communicator& comm);

/// Runs `write` on rank 0 only, then waits on every rank until it has finished: rank 0 writes a checkpoint
/// while the others wait, and afterwards every rank can read it. An exception thrown by `write` is rethrown
/// as IOError on every rank, with its message.
void on_rank0_then_barrier(const Communicator& comm, const std::function<void()>& write);

}  // namespace xgrad::dist
