#pragma once
// DataLoader: mini-batches of a TensorDataset in a range-for, like torch.utils.data.DataLoader:
//
//   data::DataLoader loader(data::TensorDataset({points, labels}), {.batch_size = 32, .shuffle = true, .seed = 1});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const auto& batch : loader)             // each loop over the loader is the next epoch
//       train_step(batch[0], batch[1]);
//
// Epoch e's order is a function of (seed, e) alone, so a run resumed with set_epoch(e) sees exactly the
// batches an uninterrupted run would. Batches are gathered on the dataset's device (index_select) and
// carry no autograd history.
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "xgrad/data/dataset.hpp"

namespace xgrad::data {

/// DataLoader's arguments, as in torch.utils.data.DataLoader.
struct DataLoaderOptions {
  std::int64_t batch_size = 1;  ///< examples per batch (>= 1); the last batch may be smaller unless drop_last
  bool shuffle = false;         ///< a fresh random order every epoch (else dataset order)
  bool drop_last = false;       ///< skip a last batch smaller than batch_size
  std::uint64_t seed = 0;       ///< seed of the shuffling: the same seed gives the same order for each epoch
  bool prefetch = false;        ///< prepare the next batch on a background thread while this one is used
};

/// Iterates a TensorDataset in mini-batches, one epoch per loop. Each batch holds one tensor per dataset
/// tensor (batch[0] from tensors()[0], ...), their first extent the batch size.
class DataLoader {
 public:
  /// One epoch in progress; what begin() returns. Move-only; with `prefetch` it owns the background thread,
  /// which it stops and joins when destroyed (a loop left early by break or an exception).
  class Iterator {
   public:
    using value_type = std::vector<Tensor>;     ///< one batch
    using difference_type = std::ptrdiff_t;     ///< required of an iterator; unused

    /// Takes over `other`'s epoch (and its prefetch thread); `other` is left at the end.
    Iterator(Iterator&& other) noexcept;
    /// Ends this iterator's epoch (stopping its thread) and takes over `other`'s.
    Iterator& operator=(Iterator&& other) noexcept;
    /// Stops and joins the prefetch thread, if any.
    ~Iterator();

    /// The current batch.
    const std::vector<Tensor>& operator*() const;
    /// The current batch's members.
    const std::vector<Tensor>* operator->() const { return &**this; }
    /// Moves to the next batch (rethrows an error the prefetch thread met while preparing it).
    Iterator& operator++();
    /// Moves to the next batch.
    void operator++(int) { ++*this; }
    /// True once every batch of the epoch has been visited.
    friend bool operator==(const Iterator& it, std::default_sentinel_t) { return it.done(); }

   private:
    friend class DataLoader;
    struct Epoch;
    explicit Iterator(std::unique_ptr<Epoch> epoch);
    bool done() const;
    std::unique_ptr<Epoch> epoch_;
  };

  /// Batches `dataset` (kept by handle) with `options`; throws ValueError when batch_size < 1.
  explicit DataLoader(TensorDataset dataset, DataLoaderOptions options = {});

  /// Starts the next epoch (epoch() then advances by one) and returns its first batch's iterator. The
  /// loader must outlive the iterator.
  Iterator begin();
  /// The end of every epoch.
  std::default_sentinel_t end() const { return {}; }

  /// Batches per epoch: ceil(size / batch_size), or floor with drop_last.
  std::int64_t size() const;
  /// The epoch the next begin() iterates (0 at first).
  std::int64_t epoch() const { return epoch_; }
  /// Makes the next begin() iterate `epoch` (>= 0, else ValueError): to resume a run where it stopped.
  void set_epoch(std::int64_t epoch);
  /// The example order of `epoch`: int64 (size,) on the dataset's device, a permutation drawn from
  /// (seed, epoch) when shuffling, 0, 1, ... otherwise.
  Tensor order(std::int64_t epoch) const;

  /// The dataset being batched.
  const TensorDataset& dataset() const { return dataset_; }
  /// The options the loader was made with.
  const DataLoaderOptions& options() const { return options_; }

 private:
  TensorDataset dataset_;
  DataLoaderOptions options_;
  std::int64_t epoch_ = 0;
};

}  // namespace xgrad::data
