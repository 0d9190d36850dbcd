#include "xgrad/dist/ddp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <unordered_map>

#include "model_check.hpp"
#include "mpi_types.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/backend/optim.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::dist {

namespace {

constexpr const char* kWho = "DistributedDataParallel";

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A tensor of `shape` over `buffer`'s storage from element `offset` on: a parameter's gradient inside its bucket.
Tensor view_into(const Tensor& buffer, std::int64_t offset, const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = buffer.impl().storage;
  impl->offset = buffer.impl().offset + offset;
  impl->shape = shape;
  impl->dtype = buffer.dtype();
  return Tensor(std::move(impl));
}

// Groups the trainable parameters, last registered first (their gradients are final first in backward),
// into buckets of one dtype each: the first bucket of a dtype closes at first_bucket_bytes, later ones at
// bucket_cap_bytes, as PyTorch's reducer does. Returns indices into `params`, in reduction order.
std::vector<std::vector<std::size_t>> assign_buckets(const std::vector<nn::NamedTensor>& params,
                                                     const DdpOptions& options) {
  struct Open {
    std::vector<std::size_t> members{};
    std::size_t bytes = 0;
    bool first = true;
  };
  std::map<DType, Open> open;
  std::vector<std::vector<std::size_t>> closed;
  for (std::size_t i = params.size(); i-- > 0;) {
    const Tensor& p = params[i].second;
    Open& bucket = open[p.dtype()];
    bucket.members.push_back(i);
    bucket.bytes += static_cast<std::size_t>(p.numel()) * dtype_size(p.dtype());
    if (bucket.bytes >= (bucket.first ? options.first_bucket_bytes : options.bucket_cap_bytes)) {
      closed.push_back(std::move(bucket.members));
      bucket = Open{.first = false};
    }
  }
  for (auto& [dtype, bucket] : open)
    if (!bucket.members.empty()) closed.push_back(std::move(bucket.members));
  // Reduction order follows the reversed registration order: a bucket ranks by its first (latest) parameter.
  std::sort(closed.begin(), closed.end(), [](const auto& a, const auto& b) { return a.front() > b.front(); });
  return closed;
}

// Makes `view` the gradient of `param` again, keeping the values of a gradient that replaced it (zeros if
// it was cleared): backward then accumulates into the bucket.
void bring_home(Tensor& param, const Tensor& view) {
  const Tensor& grad = param.impl().grad;
  if (grad.is_same(view)) return;
  if (grad.defined())
    view.backend().copy(view.raw_data(), grad.raw_data(), std::size_t(grad.numel()) * dtype_size(grad.dtype()));
  else
    view.backend().fill(view.dtype(), view.raw_data(), view.numel(), 0.0);
  param.set_grad(view);
}

}  // namespace

/// The bucket layout, the per-backward readiness counts and the MPI requests in flight.
struct DistributedDataParallel::Reducer {
  struct Slot {
    Tensor param;  // the parameter
    Tensor view;   // its gradient's home inside the bucket buffer
  };
  DdpOptions options;
  double share = 1.0;
  bool syncing = true;                                  // false inside no_sync()
  std::vector<nn::NamedTensor> params;                  // trainable parameters at construction, registration order
  std::vector<std::vector<Slot>> slots;                 // per bucket
  std::unordered_map<const TensorImpl*, std::size_t> bucket_of;
  std::vector<std::size_t> pending;                     // per bucket: gradients not yet final in this backward
  std::vector<std::vector<MPI_Request>> requests;       // per bucket: reductions in flight
  std::vector<bool> launched;                           // per bucket: reduced or in flight since synchronize()
  std::size_t next_launch = 0;                          // buckets start in index order, the same on every rank
  std::size_t hook_id = 0;
  double hook_seconds = 0;                              // launches from backward, counted in the stats
};

DistributedDataParallel::DistributedDataParallel(nn::Module& model, const Communicator& comm, DdpOptions options)
    : model_(model), comm_(comm.duplicate()), reducer_(std::make_unique<Reducer>()) {
  Reducer& r = *reducer_;
  r.options = options;
  r.share = 1.0 / comm_.size();
  check_same_model(model, comm_, kWho);
  try {
    r.params = model.named_trainable_parameters();  // refuses layers whose weights do not exist yet
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: cannot wrap the model: {}", kWho, e.what()));
  }
  if (r.params.empty())
    throw ValueError(fmt::format("{}: the model has no trainable parameters{}; a layer that builds its weights on "
                                 "its first call (Dense, LayerNorm, MultiHeadAttention without input sizes) must be "
                                 "called once on an example batch, or given its input size, before it is wrapped",
                                 kWho, model.named_parameters().empty() ? "" : " (every parameter is frozen)"));
  for (const auto& [name, t] : model.state())
    if (t.device().type != DeviceType::cpu)
      throw DeviceError(fmt::format("{}: '{}' is on {}; the MPI reductions work on CPU tensors", kWho, name,
                                    device_str(t.device())));
  {
    NoGradGuard no_grad;
    for (const auto& [name, t] : model.state()) comm_.broadcast(t, 0);  // rank 0's weights everywhere
  }
  for (const auto& members : assign_buckets(r.params, options)) {
    const DType dtype = r.params[members.front()].second.dtype();
    std::int64_t numel = 0;
    for (std::size_t i : members) numel += r.params[i].second.numel();
    Bucket bucket{{}, zeros({numel}, dtype)};
    std::vector<Reducer::Slot> slots;
    std::int64_t offset = 0;
    for (std::size_t i : members) {
      Tensor p = r.params[i].second;
      Tensor view = view_into(bucket.buffer, offset, p.shape());
      bring_home(p, view);  // a gradient it already has moves into the bucket
      r.bucket_of[&p.impl()] = buckets_.size();
      bucket.names.push_back(r.params[i].first);
      slots.push_back({p, view});
      offset += p.numel();
    }
    stats_.bytes_per_step += numel * static_cast<std::int64_t>(dtype_size(dtype));
    buckets_.push_back(std::move(bucket));
    r.slots.push_back(std::move(slots));
  }
  r.requests.resize(buckets_.size());
  r.launched.assign(buckets_.size(), false);
  r.pending.resize(buckets_.size());
  for (std::size_t b = 0; b < buckets_.size(); ++b) r.pending[b] = r.slots[b].size();
  if (options.overlap)
    r.hook_id = add_leaf_grad_ready_hook([this](TensorImpl& leaf) { on_grad_ready(leaf); });
}

DistributedDataParallel::~DistributedDataParallel() {
  Reducer& r = *reducer_;
  if (r.hook_id != 0) remove_leaf_grad_ready_hook(r.hook_id);
  const bool in_flight = std::any_of(r.requests.begin(), r.requests.end(), [](const auto& q) { return !q.empty(); });
  if (!in_flight) return;
  if (std::uncaught_exceptions() == 0) {
    wait_all();
  } else {
    // A failing rank cannot wait for peers that may never answer; MPI may still write into the buffers, so
    // they are never freed (the job is ending).
    static std::vector<Tensor> abandoned;
    for (auto& bucket : buckets_) abandoned.push_back(bucket.buffer);
  }
}

void DistributedDataParallel::set_share(double share) {
  if (!(share > 0.0 && share <= 1.0))
    throw ValueError(fmt::format("{}: set_share: a rank's share of the batch must be in (0, 1], got {}", kWho, share));
  reducer_->share = share;
}

DistributedDataParallel::NoSync::NoSync(DistributedDataParallel& ddp) : ddp_(ddp), previous_(ddp.reducer_->syncing) {
  ddp.reducer_->syncing = false;
}

DistributedDataParallel::NoSync::~NoSync() { ddp_.reducer_->syncing = previous_; }

void DistributedDataParallel::on_grad_ready(TensorImpl& leaf) {
  Reducer& r = *reducer_;
  if (!r.syncing) return;
  const auto it = r.bucket_of.find(&leaf);
  if (it == r.bucket_of.end()) return;  // a leaf of another model, or an input
  const std::size_t b = it->second;
  if (r.launched[b])
    throw ValueError(fmt::format("{}: a second backward() reached the parameters before synchronize(); call "
                                 "synchronize() after every backward(), or accumulate micro-batches inside no_sync()",
                                 kWho));
  const auto t0 = Clock::now();
  if (--r.pending[b] == 0) launch_ready_buckets(false);
  // Open MPI advances non-blocking collectives only inside MPI calls: poke the ones in flight.
  for (auto& q : r.requests) {
    if (q.empty()) continue;
    int done = 0;
    MPI_Testall(static_cast<int>(q.size()), q.data(), &done, MPI_STATUSES_IGNORE);
  }
  r.hook_seconds += seconds_since(t0);
}

void DistributedDataParallel::launch_ready_buckets(bool all) {
  Reducer& r = *reducer_;
  while (r.next_launch < buckets_.size() && (all || r.pending[r.next_launch] == 0)) launch(r.next_launch++);
}

void DistributedDataParallel::launch(std::size_t b) {
  Reducer& r = *reducer_;
  Tensor& buffer = buckets_[b].buffer;
  const std::size_t item = dtype_size(buffer.dtype());
  for (auto& slot : r.slots[b]) bring_home(slot.param, slot.view);  // in case the caller replaced a gradient
  if (r.share != 1.0) buffer.backend().optim().scale(buffer.dtype(), buffer.raw_data(), buffer.numel(), r.share);
  r.launched[b] = true;
  if (comm_.size() == 1) return;
  auto* data = static_cast<char*>(buffer.raw_data());
  const MPI_Comm comm = mpi_comm(comm_);
  for_each_mpi_chunk(buffer.numel(), [&](std::int64_t offset, int count) {
    void* chunk = data + std::size_t(offset) * item;
    // With overlap every launch is non-blocking, also those from synchronize(): a blocking collective on one
    // rank never matches a non-blocking one on another.
    if (r.options.overlap) {
      r.requests[b].emplace_back();
      MPI_Iallreduce(MPI_IN_PLACE, chunk, count, mpi_type(buffer.dtype()), MPI_SUM, comm, &r.requests[b].back());
    } else {
      MPI_Allreduce(MPI_IN_PLACE, chunk, count, mpi_type(buffer.dtype()), MPI_SUM, comm);
    }
  });
}

void DistributedDataParallel::wait_all() {
  for (auto& q : reducer_->requests) {
    MPI_Waitall(static_cast<int>(q.size()), q.data(), MPI_STATUSES_IGNORE);
    q.clear();
  }
}

void DistributedDataParallel::synchronize() {
  Reducer& r = *reducer_;
  const auto t0 = Clock::now();
  launch_ready_buckets(true);
  wait_all();
  r.next_launch = 0;
  std::fill(r.launched.begin(), r.launched.end(), false);
  for (std::size_t b = 0; b < buckets_.size(); ++b) r.pending[b] = r.slots[b].size();
  ++stats_.synchronizations;
  stats_.communication_seconds += seconds_since(t0) + r.hook_seconds;
  r.hook_seconds = 0;
  check_parameters_unchanged();
}

void DistributedDataParallel::check_parameters_unchanged() const {
  const Reducer& r = *reducer_;
  const auto now = model_.named_trainable_parameters();
  auto entry = [](const nn::NamedTensor& t) {
    return fmt::format("'{}' ({} {})", t.first, dtype_name(t.second.dtype()), shape_str(t.second.shape()));
  };
  for (std::size_t i = 0; i < std::max(now.size(), r.params.size()); ++i) {
    if (i < now.size() && i < r.params.size() && now[i].first == r.params[i].first &&
        now[i].second.is_same(r.params[i].second) && now[i].second.dtype() == r.params[i].second.dtype() &&
        now[i].second.shape() == r.params[i].second.shape())
      continue;
    const auto was = std::find_if(r.params.begin(), r.params.end(), [&](const auto& p) { return i < now.size() && p.first == now[i].first; });
    std::string what;
    if (i < now.size() && was == r.params.end())
      what = fmt::format("{} appeared after it was wrapped (a layer built its weights on its first call: call the "
                         "model once on an example batch before wrapping it)", entry(now[i]));
    else if (i < now.size())
      what = fmt::format("{} was replaced or converted since it was wrapped as {} (convert or rebuild the model "
                         "before wrapping it)", entry(now[i]), entry(*was));
    else
      what = fmt::format("{} is no longer a trainable parameter", entry(r.params[i]));
    throw ValueError(fmt::format("{}: the model's trainable parameters changed: {}; their gradients were not averaged",
                                 kWho, what));
  }
}

void allreduce_gradients(const nn::Module& module, const Communicator& comm) {
  const double inverse = 1.0 / comm.size();
  for (const auto& [name, p] : module.named_trainable_parameters()) {
    Tensor param = p;
    if (!param.grad().defined()) param.set_grad(zeros(param.shape(), param.dtype(), param.device()));
    const Tensor grad = param.grad();
    comm.allreduce_sum(grad);
    if (comm.size() > 1) grad.backend().optim().scale(grad.dtype(), grad.raw_data(), grad.numel(), inverse);
  }
}

void on_rank0_then_barrier(const Communicator& comm, const std::function<void()>& write) {
  std::string error;
  if (comm.rank() == 0) {
    try {
      write();
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
  }
  // The broadcast is the barrier: the other ranks receive rank 0's outcome only after it finished writing.
  error = comm.broadcast(error, 0);
  if (!error.empty()) throw IOError(fmt::format("rank 0 failed to write: {}", error));
}

}  // namespace xgrad::dist
