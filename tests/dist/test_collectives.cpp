// Communicator collectives and the sharder, on however many ranks the job has (CTest runs 2 and 3).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "world.hpp"
#include "xgrad/dist/shard.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using namespace xgrad::dist;
using xgrad::dist::test::on_every_rank;
using xgrad::dist::test::world;

namespace {

// Rank r holds (r + 1) * (i % 97) + r at element i; the sum over n ranks is (i % 97) n(n+1)/2 + n(n-1)/2.
// Every value is a small integer, exact in float32, float64 and int64.
Tensor rank_values(std::int64_t n, DType dtype, int rank) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[std::size_t(i)] = double((rank + 1) * (i % 97) + rank);
  return dtype == DType::int64 ? index_tensor(std::vector<std::int64_t>(v.begin(), v.end()), {n})
                               : from_vector(v, {n}, dtype);
}

double expected_sum(std::int64_t i, int n) { return double((i % 97) * n * (n + 1) / 2 + n * (n - 1) / 2); }

}  // namespace

TEST_CASE("allreduce_sum: odd sizes in float32, float64 and int64 give the sum over ranks", "[collectives]") {
  const int n = world().size();
  for (DType dtype : {DType::float32, DType::float64, DType::int64}) {
    for (std::int64_t size : {0, 1, 7, 33, 1023, 100003}) {
      Tensor t = rank_values(size, dtype, world().rank());
      world().allreduce_sum(t);
      const auto got = t.to_vector();
      std::int64_t wrong = 0;
      for (std::int64_t i = 0; i < size; ++i) wrong += got[std::size_t(i)] != expected_sum(i, n);
      INFO(dtype_name(dtype) << " size " << size << " on " << n << " ranks");
      CHECK(t.dtype() == dtype);
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("allreduce_sum: a 2-d float64 tensor keeps its shape and sums elementwise", "[collectives]") {
  const int r = world().rank(), n = world().size();
  Tensor t = from_vector({0.5 * r, 1.0, -2.0 * r, 0.25, 3.0, r * 1e10}, {2, 3}, DType::float64);
  world().allreduce_sum(t);
  // sum over r of 0.5 r = n(n-1)/4; of 1 = n; of -2r = -n(n-1); of 0.25 = n/4; of 3 = 3n; of r 1e10 = 1e10 n(n-1)/2
  const double m = n * (n - 1);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.to_vector() == std::vector<double>{m / 4, double(n), -m, n / 4.0, 3.0 * n, 1e10 * m / 2});
}

TEST_CASE("allreduce_sum and allreduce_max of scalars", "[collectives]") {
  const int r = world().rank(), n = world().size();
  // sum over r of (r + 0.5) = n(n-1)/2 + n/2 = n^2 / 2
  CHECK(world().allreduce_sum(r + 0.5) == n * n / 2.0);
  CHECK(world().allreduce_max(std::int64_t(10 * r - 3)) == 10 * (n - 1) - 3);
}

TEST_CASE("broadcast: every root's tensor reaches every rank, in every dtype", "[collectives]") {
  const int n = world().size();
  for (DType dtype : {DType::float32, DType::float64, DType::int64}) {
    for (int root = 0; root < n; ++root) {
      // The root holds its own values; the others hold something else that must be overwritten.
      Tensor t = rank_values(1001, dtype, world().rank() == root ? root : 100 + world().rank());
      world().broadcast(t, root);
      INFO(dtype_name(dtype) << " from root " << root);
      CHECK(t.to_vector() == rank_values(1001, dtype, root).to_vector());
    }
  }
}

TEST_CASE("broadcast of a string: rank 0's text of any length", "[collectives]") {
  const std::string mine = world().rank() == 0 ? std::string(70000, 'x') + "end" : "short";
  const std::string got = world().broadcast(mine, 0);
  CHECK(got.size() == 70003);
  CHECK(got.substr(69998) == "xxend");
  CHECK(world().broadcast(std::string(), 0).empty());
}

TEST_CASE("barrier: what rank 0 wrote before the barrier is visible to every rank after it", "[collectives]") {
  namespace fs = std::filesystem;
  const fs::path flag = fs::temp_directory_path() / fmt::format("xgrad_barrier_{}", world().broadcast(
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()), 0));
  if (world().rank() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the others reach the barrier first
    std::ofstream(flag) << "written";
  }
  world().barrier();
  CHECK(fs::exists(flag));
  world().barrier();
  if (world().rank() == 0) fs::remove(flag);
}

TEST_CASE("duplicate: a second communicator over the same ranks", "[collectives]") {
  const Communicator dup = world().duplicate();
  CHECK(dup.rank() == world().rank());
  CHECK(dup.size() == world().size());
  const int n = world().size();
  CHECK(dup.allreduce_sum(1.0) == double(n));
}

TEST_CASE("collectives: bad arguments are typed errors naming the call", "[collectives]") {
  CHECK_THROWS_AS(world().allreduce_sum(Tensor()), ValueError);
  CHECK_THROWS_WITH(world().allreduce_sum(Tensor()), Catch::Contains("allreduce_sum"));
  const Tensor t = zeros({3});
  CHECK_THROWS_AS(world().broadcast(t, world().size()), ValueError);
  CHECK_THROWS_WITH(world().broadcast(t, -1), Catch::Contains("root -1 is not a rank"));
}

TEST_CASE("shard_rows: contiguous blocks that cover the batch once, sizes within one row", "[collectives]") {
  // 32 rows on 3 ranks: 32 = 3 * 10 + 2, so ranks 0 and 1 take 11 rows and rank 2 takes 10
  CHECK(shard_rows(32, 0, 3).begin == 0);
  CHECK(shard_rows(32, 0, 3).end == 11);
  CHECK(shard_rows(32, 1, 3).begin == 11);
  CHECK(shard_rows(32, 1, 3).end == 22);
  CHECK(shard_rows(32, 2, 3).begin == 22);
  CHECK(shard_rows(32, 2, 3).end == 32);
  CHECK(shard_rows(32, 2, 3).share() == 10.0 / 32.0);
  CHECK(shard_rows(16, 1, 2).begin == 8);
  CHECK(shard_rows(16, 1, 2).rows() == 8);
  // the union over this job's ranks is every row exactly once
  const Shard mine = shard_rows(37, world());
  CHECK(world().allreduce_sum(double(mine.rows())) == 37.0);
  CHECK(world().allreduce_max(mine.end) == 37);
  CHECK_THROWS_AS(shard_rows(2, 0, 3), ValueError);
  CHECK_THROWS_WITH(shard_rows(2, 0, 3), Catch::Contains("2 rows cannot give each of 3 ranks a row"));
  CHECK_THROWS_AS(shard_rows(8, 3, 3), ValueError);
}

TEST_CASE("take_rows: this rank's rows of a global batch", "[collectives]") {
  // a (5, 2) batch 0..9; on 2 ranks rank 0 takes rows 0-2 and rank 1 rows 3-4
  const Tensor batch = index_tensor({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {5, 2});
  const Tensor rows1 = take_rows(batch, shard_rows(5, 1, 2));
  CHECK(rows1.shape() == Shape{2, 2});
  CHECK(rows1.to_vector() == std::vector<double>{6, 7, 8, 9});
  CHECK_THROWS_AS(take_rows(batch, shard_rows(6, 0, 2)), ShapeError);
}
