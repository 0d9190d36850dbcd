// Catch2 main of the mpi tests: every rank runs the same test cases, so every collective is matched.
// Assertions are CHECKs, never REQUIREs, around collectives: a rank that left a test case early would
// leave the others waiting in a collective (CTest's TIMEOUT bounds that, should it happen).

#include <cstdio>
#include <cstring>
#include <optional>

#include "catch_session.hpp"
#include "world.hpp"
#include "xgrad/backend/threads.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::dist::test {

namespace {
std::optional<Communicator> communicator;
}

const Communicator& world() { return *communicator; }

bool on_every_rank(bool ok) { return world().allreduce_max(ok ? 0 : 1) == 0; }

bool same_bits_on_every_rank(const Tensor& t) {
  const Tensor root = t.clone();
  world().broadcast(root, 0);
  const auto bytes = std::size_t(t.numel()) * dtype_size(t.dtype());
  return on_every_rank(std::memcmp(root.raw_data(), t.raw_data(), bytes) == 0);
}

}  // namespace xgrad::dist::test

int main(int argc, char** argv) {
  using namespace xgrad::dist::test;
  communicator = xgrad::dist::init(argc, argv);
  if (world().size() < 2) {
    std::fprintf(stderr, "mpi tests: they compare ranks, so run them on 2 or more: mpiexec -n 2 %s\n", argv[0]);
    return 1;
  }
  // One kernel thread per rank: the ranks already share the cores.
  xgrad::set_num_threads(1);
  const int failed = xgrad::test::run_catch_session(argc, argv);
  const int rank = world().rank(), size = world().size();
  if (failed != 0) std::fprintf(stderr, "mpi tests: rank %d of %d: %d test cases failed\n", rank, size, failed);
  // Every rank leaves together, so no rank is still inside a collective when another finalizes.
  const bool all_passed = on_every_rank(failed == 0);
  if (rank == 0) std::printf("mpi tests on %d ranks: %s\n", size, all_passed ? "every rank passed" : "FAILED");
  communicator.reset();
  return failed == 0 ? 0 : 1;
}
