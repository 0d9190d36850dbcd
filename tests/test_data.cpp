// data::TensorDataset and data::DataLoader.
#include <catch2/catch.hpp>

#include <algorithm>

#include "testing.hpp"
#include "xgrad/data/dataloader.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/shape.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {

// Example i has point row (i, i + 0.5) and label 10 i: every batch can be checked against its indices.
data::TensorDataset numbered(std::int64_t n) {
  std::vector<double> points;
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < n; ++i) {
    points.push_back(static_cast<double>(i));
    points.push_back(static_cast<double>(i) + 0.5);
    labels.push_back(10 * i);
  }
  return data::TensorDataset({from_vector(points, {n, 2}), index_tensor(labels, {n})});
}

// The example ids of one epoch's batches, in order, checking that points and labels stay paired.
std::vector<std::vector<double>> epoch_ids(data::DataLoader& loader) {
  std::vector<std::vector<double>> ids;
  for (const auto& batch : loader) {
    REQUIRE(batch.size() == 2);
    const auto points = batch[0].to_vector(), labels = batch[1].to_vector();
    REQUIRE(points.size() == 2 * labels.size());
    std::vector<double> these;
    for (std::size_t j = 0; j < labels.size(); ++j) {
      CHECK(points[2 * j + 1] == points[2 * j] + 0.5);
      CHECK(labels[j] == 10 * points[2 * j]);
      these.push_back(points[2 * j]);
    }
    ids.push_back(these);
  }
  return ids;
}

std::vector<double> flat(const std::vector<std::vector<double>>& batches) {
  std::vector<double> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

}  // namespace

TEST_CASE("TensorDataset: size, get by indices, any dtype", "[data]") {
  const data::TensorDataset ds = numbered(5);
  CHECK(ds.size() == 5);
  CHECK(ds.tensors().size() == 2);
  const auto batch = ds.get(index_tensor({4, 1}, {2}));
  CHECK(batch[0].shape() == Shape{2, 2});
  CHECK(batch[0].to_vector() == std::vector<double>{4, 4.5, 1, 1.5});
  CHECK(batch[1].dtype() == DType::int64);
  CHECK(batch[1].to_vector() == std::vector<double>{40, 10});
  CHECK_ERROR(ds.get(index_tensor({5}, {1})), IndexError, Contains("index 5") && Contains("extent 5"));
}

TEST_CASE("TensorDataset: bad tensors are typed errors naming them", "[data]") {
  CHECK_ERROR(data::TensorDataset({}), ValueError, "TensorDataset: needs at least one tensor");
  CHECK_ERROR(data::TensorDataset({zeros({3}), Tensor()}), ValueError, "TensorDataset: tensor 1 is undefined");
  CHECK_ERROR(data::TensorDataset({zeros({4, 3}), zeros({5})}), ShapeError,
              Contains("tensor 1 has shape (5,) but tensor 0 has shape (4, 3)"));
  CHECK_ERROR(data::TensorDataset({scalar(1.0)}), ShapeError, Contains("tensor 0 is 0-d"));
}

TEST_CASE("DataLoader: dataset order, a short last batch, drop_last", "[data]") {
  data::DataLoader loader(numbered(10), {.batch_size = 4});
  CHECK(loader.size() == 3);
  const auto ids = epoch_ids(loader);
  CHECK(ids == std::vector<std::vector<double>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}});
  data::DataLoader dropping(numbered(10), {.batch_size = 4, .drop_last = true});
  CHECK(dropping.size() == 2);
  CHECK(epoch_ids(dropping) == std::vector<std::vector<double>>{{0, 1, 2, 3}, {4, 5, 6, 7}});
  data::DataLoader exact(numbered(8), {.batch_size = 4, .drop_last = true});
  CHECK(epoch_ids(exact).size() == 2);
  data::DataLoader empty(data::TensorDataset({zeros({0, 3})}), {.batch_size = 2});
  CHECK(empty.size() == 0);
  CHECK(epoch_ids(empty).empty());
}

TEST_CASE("DataLoader: shuffling is a fresh permutation per epoch, fixed by seed and epoch", "[data]") {
  data::DataLoader a(numbered(23), {.batch_size = 5, .shuffle = true, .seed = 3});
  data::DataLoader b(numbered(23), {.batch_size = 5, .shuffle = true, .seed = 3});
  data::DataLoader c(numbered(23), {.batch_size = 5, .shuffle = true, .seed = 4});
  std::vector<std::vector<double>> epochs;
  for (int e = 0; e < 3; ++e) {
    const auto ids = flat(epoch_ids(a));
    auto sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == arange(23, DType::float64).to_vector());  // every example exactly once
    CHECK(ids == flat(epoch_ids(b)));                          // same seed, same epoch: same order
    CHECK(ids != flat(epoch_ids(c)));                          // another seed: another order
    CHECK(ids == a.order(e).to_vector());
    epochs.push_back(ids);
  }
  CHECK(a.epoch() == 3);
  CHECK(epochs[0] != epochs[1]);
  CHECK(epochs[1] != epochs[2]);
  // Resuming: set_epoch(1) replays epoch 1 and then 2.
  data::DataLoader resumed(numbered(23), {.batch_size = 5, .shuffle = true, .seed = 3});
  resumed.set_epoch(1);
  CHECK(flat(epoch_ids(resumed)) == epochs[1]);
  CHECK(flat(epoch_ids(resumed)) == epochs[2]);
}

TEST_CASE("DataLoader: prefetching gives exactly the batches of the plain loop", "[data]") {
  for (bool drop_last : {false, true}) {
    data::DataLoader plain(numbered(37), {.batch_size = 8, .shuffle = true, .drop_last = drop_last, .seed = 9});
    data::DataLoader ahead(numbered(37),
                           {.batch_size = 8, .shuffle = true, .drop_last = drop_last, .seed = 9, .prefetch = true});
    for (int e = 0; e < 3; ++e) CHECK(epoch_ids(plain) == epoch_ids(ahead));
  }
}

TEST_CASE("DataLoader: leaving a prefetching loop early stops its thread", "[data]") {
  data::DataLoader loader(numbered(100), {.batch_size = 3, .prefetch = true});
  int seen = 0;
  for (const auto& batch : loader) {
    CHECK(batch[0].size(0) == 3);
    if (++seen == 2) break;  // the iterator's destructor stops and joins the thread
  }
  CHECK(seen == 2);
  CHECK(epoch_ids(loader).size() == 34);  // the next epoch starts from its first batch
}

TEST_CASE("DataLoader: batches carry no autograd history", "[data]") {
  Tensor x = from_vector({1, 2, 3, 4}, {4, 1}, DType::float64).set_requires_grad();
  data::DataLoader loader(data::TensorDataset({x}), {.batch_size = 2});
  for (const auto& batch : loader) CHECK_FALSE(batch[0].requires_grad());
}

TEST_CASE("DataLoader: bad arguments and misuse are typed errors", "[data]") {
  CHECK_ERROR(data::DataLoader(numbered(3), {.batch_size = 0}), ValueError,
              "DataLoader: batch_size must be >= 1, got 0");
  data::DataLoader loader(numbered(3), {.batch_size = 2});
  CHECK_ERROR(loader.set_epoch(-1), ValueError, "DataLoader: set_epoch needs an epoch >= 0, got -1");
  auto it = loader.begin();
  ++it;
  ++it;
  CHECK(it == loader.end());
  CHECK_ERROR(*it, IndexError, "DataLoader: the epoch has no batch left to read");
  CHECK_ERROR(++it, IndexError, "DataLoader: cannot advance past the end of the epoch");
}
