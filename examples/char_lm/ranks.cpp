#include "ranks.hpp"

#include <fmt/format.h>

#include <chrono>
#include <optional>

#ifdef XGRAD_CHAR_LM_MPI
#include "xgrad/dist/communicator.hpp"
#include "xgrad/dist/ddp.hpp"
#include "xgrad/dist/shard.hpp"
#endif

namespace char_lm {

#ifdef XGRAD_CHAR_LM_MPI

struct Ranks::State {
  explicit State(xgrad::dist::Communicator c) : world(std::move(c)) {}
  xgrad::dist::Communicator world;
  std::optional<xgrad::dist::DistributedDataParallel> ddp;
  xgrad::dist::Shard shard;
  std::FILE* sink = nullptr;
  // The step time for the summary: from the first to the latest average_gradients().
  std::chrono::steady_clock::time_point first_sync, last_sync;
};

Ranks::Ranks(int& argc, char**& argv) : state_(std::make_unique<State>(xgrad::dist::init(argc, argv))) {
  if (leader()) return;
  state_->sink = std::fopen("/dev/null", "w");
  if (!state_->sink || !std::freopen("/dev/null", "w", stdout))
    throw xgrad::IOError(fmt::format("rank {}: cannot open /dev/null to silence its output", rank()));
}

Ranks::~Ranks() {
  if (state_->sink) std::fclose(state_->sink);
}

int Ranks::rank() const { return state_->world.rank(); }
int Ranks::size() const { return state_->world.size(); }

std::string Ranks::describe(std::int64_t global_batch) const {
  if (size() == 1) return {};
  const auto first = xgrad::dist::shard_rows(global_batch, 0, size()),
             last = xgrad::dist::shard_rows(global_batch, size() - 1, size());
  const std::string rows = first.rows() == last.rows() ? std::to_string(first.rows())
                                                       : fmt::format("{}-{}", last.rows(), first.rows());
  return fmt::format("data parallel: {} MPI ranks, global batch {} = {} rows per rank, gradients averaged every step",
                     size(), global_batch, rows);
}

void Ranks::wrap(xgrad::nn::Module& model) {
  if (size() > 1) state_->ddp.emplace(model, state_->world);
}

Batch Ranks::shard(const Batch& global, std::int64_t context) {
  if (size() == 1) return global;
  const auto rows = std::int64_t(global.inputs.size()) / context;
  state_->shard = xgrad::dist::shard_rows(rows, state_->world);
  if (state_->ddp) state_->ddp->set_share(state_->shard);
  const auto begin = std::size_t(state_->shard.begin * context), end = std::size_t(state_->shard.end * context);
  return {{global.inputs.begin() + begin, global.inputs.begin() + end},
          {global.targets.begin() + begin, global.targets.begin() + end}};
}

void Ranks::average_gradients() {
  if (!state_->ddp) return;
  state_->ddp->synchronize();
  state_->last_sync = std::chrono::steady_clock::now();
  if (state_->ddp->stats().synchronizations == 1) state_->first_sync = state_->last_sync;
}

double Ranks::global_loss(double local_loss) const {
  return size() == 1 ? local_loss : state_->world.allreduce_sum(local_loss * state_->shard.share());
}

void Ranks::on_leader(const std::function<void()>& write) const {
  xgrad::dist::on_rank0_then_barrier(state_->world, write);
}

std::uint64_t Ranks::dropout_seed(std::uint64_t seed) const {
  // rank 0 keeps the single-process seed; the others are moved far from it and from each other
  return seed ^ (std::uint64_t(rank()) * 0x9E3779B97F4A7C15ull);
}

std::FILE* Ranks::progress_stream() const { return leader() ? stderr : state_->sink; }

std::string Ranks::communication_summary() const {
  if (!state_->ddp) return {};
  const auto& stats = state_->ddp->stats();
  const std::int64_t steps = stats.synchronizations;
  if (steps < 2) return {};
  const double step_s = std::chrono::duration<double>(state_->last_sync - state_->first_sync).count() / double(steps - 1);
  const double comm_s = stats.communication_seconds / double(steps);
  const std::size_t buckets = state_->ddp->buckets().size();
  return fmt::format("allreduce: {:.2f} MB per step in {} bucket{}, {:.2f} ms of a {:.1f} ms step ({:.1f} %), rank 0",
                     double(stats.bytes_per_step) / 1e6, buckets, buckets == 1 ? "" : "s", comm_s * 1e3, step_s * 1e3,
                     100.0 * comm_s / step_s);
}

#else  // a single process: nothing to coordinate

struct Ranks::State {};

Ranks::Ranks(int&, char**&) : state_(std::make_unique<State>()) {}
Ranks::~Ranks() = default;
int Ranks::rank() const { return 0; }
int Ranks::size() const { return 1; }
std::string Ranks::describe(std::int64_t) const { return {}; }
void Ranks::wrap(xgrad::nn::Module&) {}
Batch Ranks::shard(const Batch& global, std::int64_t) { return global; }
void Ranks::average_gradients() {}
double Ranks::global_loss(double local_loss) const { return local_loss; }
void Ranks::on_leader(const std::function<void()>& write) const { write(); }
std::uint64_t Ranks::dropout_seed(std::uint64_t seed) const { return seed; }
std::FILE* Ranks::progress_stream() const { return stderr; }
std::string Ranks::communication_summary() const { return {}; }

#endif

}  // namespace char_lm
