// DataLoader epochs. Without prefetch a batch is gathered when the iterator reaches it; with prefetch one
// background thread gathers the batches in order and hands each over through a one-batch slot, so the
// next batch is being prepared while the caller uses the current one.
#include "xgrad/data/dataloader.hpp"

#include <fmt/format.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/indexing.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::data {

namespace {

// SplitMix64's finaliser: a seed per (seed, epoch) pair, so neighbouring epochs get unrelated streams.
std::uint64_t mix(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

struct DataLoader::Iterator::Epoch {
  const DataLoader* loader = nullptr;
  Tensor order;
  std::int64_t batches = 0;
  std::int64_t next = 0;  // the batch operator++ moves to
  std::vector<Tensor> current;
  bool finished = false;

  // The prefetch thread and the one-batch slot it fills.
  std::thread worker;
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<std::vector<Tensor>> slot;
  std::exception_ptr error;
  bool stop = false;

  std::vector<Tensor> make(std::int64_t b) const {
    NoGradGuard no_grad;  // batches are data: nothing to differentiate through the gather
    const std::int64_t bs = loader->options().batch_size;
    const std::int64_t count = std::min(bs, loader->dataset().size() - b * bs);
    return loader->dataset().get(narrow(order, 0, b * bs, count));
  }

  void produce() {
    for (std::int64_t b = 0; b < batches; ++b) {
      std::vector<Tensor> batch;
      try {
        batch = make(b);
      } catch (...) {
        std::lock_guard lock(mutex);
        error = std::current_exception();
        changed.notify_all();
        return;
      }
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return stop || !slot; });
      if (stop) return;
      slot = std::move(batch);
      changed.notify_all();
    }
  }

  void advance() {
    if (next == batches) {
      finished = true;
      current.clear();
      return;
    }
    if (!worker.joinable()) {
      current = make(next++);
      return;
    }
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return slot.has_value() || error; });
    if (!slot) std::rethrow_exception(error);
    current = std::move(*slot);
    slot.reset();
    ++next;
    changed.notify_all();
  }

  ~Epoch() {
    if (!worker.joinable()) return;
    {
      std::lock_guard lock(mutex);
      stop = true;
    }
    changed.notify_all();
    worker.join();
  }
};

DataLoader::Iterator::Iterator(std::unique_ptr<Epoch> epoch) : epoch_(std::move(epoch)) {}
DataLoader::Iterator::Iterator(Iterator&&) noexcept = default;
DataLoader::Iterator& DataLoader::Iterator::operator=(Iterator&&) noexcept = default;
DataLoader::Iterator::~Iterator() = default;

const std::vector<Tensor>& DataLoader::Iterator::operator*() const {
  if (done()) throw IndexError("DataLoader: the epoch has no batch left to read");
  return epoch_->current;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  if (done()) throw IndexError("DataLoader: cannot advance past the end of the epoch");
  epoch_->advance();
  return *this;
}

bool DataLoader::Iterator::done() const { return !epoch_ || epoch_->finished; }

DataLoader::DataLoader(TensorDataset dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  if (options_.batch_size < 1)
    throw ValueError(fmt::format("DataLoader: batch_size must be >= 1, got {}", options_.batch_size));
}

std::int64_t DataLoader::size() const {
  const std::int64_t n = dataset_.size(), bs = options_.batch_size;
  return options_.drop_last ? n / bs : (n + bs - 1) / bs;
}

void DataLoader::set_epoch(std::int64_t epoch) {
  if (epoch < 0) throw ValueError(fmt::format("DataLoader: set_epoch needs an epoch >= 0, got {}", epoch));
  epoch_ = epoch;
}

Tensor DataLoader::order(std::int64_t epoch) const {
  const Device device = dataset_.tensors()[0].device();
  if (!options_.shuffle) return arange(dataset_.size(), DType::int64, device);
  Generator gen(mix(options_.seed ^ mix(static_cast<std::uint64_t>(epoch))));
  return randperm(dataset_.size(), gen, device);
}

DataLoader::Iterator DataLoader::begin() {
  auto epoch = std::make_unique<Iterator::Epoch>();
  epoch->loader = this;
  epoch->order = order(epoch_++);
  epoch->batches = size();
  Iterator::Epoch& e = *epoch;
  if (options_.prefetch && e.batches > 0) e.worker = std::thread([&e] { e.produce(); });
  e.advance();
  return Iterator(std::move(epoch));
}

}  // namespace xgrad::data
