#include "xgrad/dist/communicator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "mpi_types.hpp"

namespace xgrad::dist {

/// MPI itself: initialised by the first init(), finalized when the last communicator goes away.
struct Environment {
  Environment(int* argc, char*** argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;  // the program started MPI itself, and shuts it down itself
    int provided = 0;
    // Only the thread that calls backward() and synchronize() talks to MPI; the kernel threads never do.
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw IOError("dist::init: MPI_Init_thread failed");
    owned = true;
  }
  ~Environment() {
    // A rank that is failing must not wait in MPI_Finalize for ranks that are still inside a collective:
    // it leaves without finalizing, and mpirun then ends the whole job with a non-zero exit code.
    if (!owned || std::uncaught_exceptions() > 0) return;
    MPI_Finalize();
  }
  bool owned = false;
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
};

namespace {

std::mutex env_mutex;
std::weak_ptr<Environment> current_env;

std::shared_ptr<Environment> environment(int* argc, char*** argv) {
  std::lock_guard lock(env_mutex);
  if (auto env = current_env.lock()) return env;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized)
    throw ValueError("dist::init: MPI was already shut down in this process (every Communicator was destroyed); "
                     "MPI can be started only once, so keep one Communicator alive for the whole program");
  auto env = std::make_shared<Environment>(argc, argv);
  current_env = env;
  return env;
}

Communicator world(int* argc, char*** argv) {
  auto impl = std::make_shared<Communicator::Impl>();
  impl->env = environment(argc, argv);
  impl->comm = MPI_COMM_WORLD;
  return Communicator(std::move(impl));
}

}  // namespace

Communicator::Impl::~Impl() {
  if (owned && comm != MPI_COMM_NULL && std::uncaught_exceptions() == 0) MPI_Comm_free(&comm);
}

MPI_Comm mpi_comm(const Communicator& c) { return *static_cast<MPI_Comm*>(c.native_handle()); }

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::float32: return MPI_FLOAT;
    case DType::float64: return MPI_DOUBLE;
    case DType::int64: return MPI_INT64_T;
  }
  throw TypeError(fmt::format("dist: no MPI type for dtype {}", dtype_name(dtype)));
}

void check_collective_tensor(const Tensor& t, const char* op, const char* arg) {
  require_defined(t, op, arg);
  if (t.device().type != DeviceType::cpu)
    throw DeviceError(fmt::format("{}: {} is on {}; MPI collectives here move host memory, so copy it to the "
                                  "CPU first (.to(Device{{}}))", op, arg, device_str(t.device())));
}

Communicator init(int& argc, char**& argv) { return world(&argc, &argv); }

Communicator init() { return world(nullptr, nullptr); }

int Communicator::rank() const {
  int r = 0;
  MPI_Comm_rank(impl_->comm, &r);
  return r;
}

int Communicator::size() const {
  int s = 0;
  MPI_Comm_size(impl_->comm, &s);
  return s;
}

void* Communicator::native_handle() const { return &impl_->comm; }

void Communicator::allreduce_sum(const Tensor& t) const {
  check_collective_tensor(t, "allreduce_sum", "t");
  auto* data = static_cast<char*>(t.raw_data());
  const std::size_t item = dtype_size(t.dtype());
  for_each_mpi_chunk(t.numel(), [&](std::int64_t offset, int count) {
    MPI_Allreduce(MPI_IN_PLACE, data + std::size_t(offset) * item, count, mpi_type(t.dtype()), MPI_SUM, impl_->comm);
  });
}

double Communicator::allreduce_sum(double value) const {
  double total = 0;
  MPI_Allreduce(&value, &total, 1, MPI_DOUBLE, MPI_SUM, impl_->comm);
  return total;
}

std::int64_t Communicator::allreduce_max(std::int64_t value) const {
  std::int64_t result = 0;
  MPI_Allreduce(&value, &result, 1, MPI_INT64_T, MPI_MAX, impl_->comm);
  return result;
}

void Communicator::broadcast(const Tensor& t, int root) const {
  check_collective_tensor(t, "broadcast", "t");
  if (root < 0 || root >= size())
    throw ValueError(fmt::format("broadcast: root {} is not a rank of this {}-rank communicator", root, size()));
  auto* data = static_cast<char*>(t.raw_data());
  const std::size_t item = dtype_size(t.dtype());
  for_each_mpi_chunk(t.numel(), [&](std::int64_t offset, int count) {
    MPI_Bcast(data + std::size_t(offset) * item, count, mpi_type(t.dtype()), root, impl_->comm);
  });
}

std::string Communicator::broadcast(const std::string& text, int root) const {
  if (root < 0 || root >= size())
    throw ValueError(fmt::format("broadcast: root {} is not a rank of this {}-rank communicator", root, size()));
  std::int64_t length = static_cast<std::int64_t>(text.size());
  MPI_Bcast(&length, 1, MPI_INT64_T, root, impl_->comm);
  std::string out = rank() == root ? text : std::string(static_cast<std::size_t>(length), '\0');
  for_each_mpi_chunk(length, [&](std::int64_t offset, int count) {
    MPI_Bcast(out.data() + offset, count, MPI_CHAR, root, impl_->comm);
  });
  return out;
}

void Communicator::barrier() const { MPI_Barrier(impl_->comm); }

Communicator Communicator::duplicate() const {
  auto impl = std::make_shared<Impl>();
  impl->env = impl_->env;
  MPI_Comm_dup(impl_->comm, &impl->comm);
  impl->owned = true;
  return Communicator(std::move(impl));
}

void Communicator::abort(int code) const {
  MPI_Abort(impl_->comm, code);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest if an implementation does
}

}  // namespace xgrad::dist
