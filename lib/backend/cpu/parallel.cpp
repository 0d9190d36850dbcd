#include "backend/cpu/parallel.hpp"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace xgrad::cpu {

namespace {

// How long a thread polls before it sleeps on a futex, waiting either for the next region (a worker) or for
// the last chunks of its own region (the caller). A training step runs regions back to back, and a futex
// wake-up costs tens of microseconds, as much as a small kernel; sleeping sooner would pay that on every
// region, polling longer burns a core that another process, or a preempted worker, could use.
constexpr auto kSpin = std::chrono::microseconds(100);
// While polling, every this many pauses the poller also yields its core: when a worker that holds a chunk
// was preempted onto the poller's own core, it gets to finish its chunk at once rather than after the
// poller's time slice.
constexpr int kPausesPerYield = 64;

thread_local bool in_region = false;  // a region opened inside a region runs its chunks on its caller

// A spin-wait hint: lets the sibling hardware thread run and saves power while polling.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Waits until done(word) holds: polls for kSpin (pausing, and now and then yielding the core), then sleeps
// on the word's futex (std::atomic::wait) until a change that satisfies `done`. Returns the word's value.
// The thread that changes the word calls notify_*() after the change; notify costs a system call only when
// a waiter sleeps.
template <class Done>
std::uint32_t await(const std::atomic<std::uint32_t>& word, Done done) {
  std::uint32_t v = word.load(std::memory_order_acquire);
  if (done(v)) return v;
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 1; !done(v = word.load(std::memory_order_acquire)); ++i) {
    if (i % kPausesPerYield != 0) {
      cpu_relax();
      continue;
    }
    if (std::chrono::steady_clock::now() > until) {
      while (!done(v = word.load(std::memory_order_acquire))) word.wait(v, std::memory_order_acquire);
      return v;
    }
    std::this_thread::yield();
  }
  return v;
}

int default_threads() {
  if (const char* env = std::getenv("XGRAD_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// Runs chunk c of the region (fn, ctx, n, chunk).
inline void run_chunk(detail::RangeFn fn, void* ctx, std::int64_t n, std::int64_t chunk, std::int64_t c) {
  fn(ctx, c * chunk, std::min(n, (c + 1) * chunk));
}

// The pool: the thread that opens a region (the caller) and the workers take its chunks one at a time from a
// shared counter, so the chunks of a worker that is not running (preempted by another process, or not yet
// awake) go to whoever is free, the caller included. The caller waits only for chunks that were taken and are
// still running, never for a worker to show up: a worker that wakes after the region ended finds nothing
// left to take and goes back to waiting.
//
// The claim word packs (region number, chunk count, next chunk), so that taking a chunk is one compare-and-
// swap that fails once the region is over; the region's description (fn, ctx, n, chunk) is read before it
// and is valid whenever the swap succeeds, because the caller rewrites it only after every chunk was done.
class Pool {
 public:
  explicit Pool(int threads) { start(threads); }
  ~Pool() = delete;  // pools live until the process ends (see pool())

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void resize(int threads) {
    std::lock_guard lock(region_);
    stop();
    start(threads);
  }

  void run(std::int64_t n, std::int64_t chunk, detail::RangeFn fn, void* ctx) {
    const std::int64_t chunks = (n + chunk - 1) / chunk;
    std::unique_lock lock(region_, std::try_to_lock);
    if (!lock || in_region || workers_.empty()) {
      // Another user thread holds the pool, or a nested region: the same chunks, one after another here, so
      // the result never depends on which thread got the workers.
      for (std::int64_t c = 0; c < chunks; ++c) run_chunk(fn, ctx, n, chunk, c);
      return;
    }
    fn_.store(fn, std::memory_order_relaxed), ctx_.store(ctx, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed), chunk_.store(chunk, std::memory_order_relaxed);
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    region_number_ = (region_number_ + 1) & kNumberMask;
    claim_.store(pack(region_number_, chunks, 0), std::memory_order_release);  // publishes the fields above
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_all();
    in_region = true;
    take_chunks();
    in_region = false;
    // Chunks taken by workers may still run: they use fn and ctx, which live on this caller's stack.
    await(done_, [&](std::uint32_t d) { return d == chunks; });
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Claim word: region number in the high 32 bits, chunk count and next chunk in 16 bits each.
  static constexpr std::uint64_t kNumberMask = 0xffffffff, kChunkMask = 0xffff;
  static std::uint64_t pack(std::uint64_t number, std::int64_t chunks, std::int64_t next) {
    return number << 32 | static_cast<std::uint64_t>(chunks) << 16 | static_cast<std::uint64_t>(next);
  }

  void start(int threads) {
    openblas_set_num_threads(1);  // xgrad's workers own the cores (parallel.hpp); also undoes a caller's setting
    threads_.store(threads, std::memory_order_relaxed);
    stopping_.store(false, std::memory_order_relaxed);
    // A worker counts wake-ups from the one current now, not from when its thread happens to start.
    const std::uint32_t now = wake_.load(std::memory_order_relaxed);
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, now] { worker(now); });
  }

  void stop() {
    stopping_.store(true, std::memory_order_relaxed);
    wake_.fetch_add(1, std::memory_order_release);  // publishes stopping_
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  void worker(std::uint32_t seen) {
    in_region = true;
    for (;;) {
      seen = await(wake_, [seen](std::uint32_t w) { return w != seen; });
      if (stopping_.load(std::memory_order_relaxed)) return;
      take_chunks();
    }
  }

  // Takes and runs chunks of the current region until none is left (or the region is over).
  void take_chunks() {
    std::uint64_t claim = claim_.load(std::memory_order_acquire);
    for (;;) {
      const auto chunks = static_cast<std::int64_t>(claim >> 16 & kChunkMask);
      const auto next = static_cast<std::int64_t>(claim & kChunkMask);
      if (next >= chunks) return;
      const detail::RangeFn fn = fn_.load(std::memory_order_relaxed);
      void* const ctx = ctx_.load(std::memory_order_relaxed);
      const std::int64_t n = n_.load(std::memory_order_relaxed), chunk = chunk_.load(std::memory_order_relaxed);
      if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel, std::memory_order_acquire))
        continue;
      try {
        run_chunk(fn, ctx, n, chunk, next);
      } catch (...) {
        std::lock_guard lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<std::uint32_t>(chunks)) done_.notify_all();
      claim = claim_.load(std::memory_order_acquire);
    }
  }

  std::mutex region_;  // one region at a time; a second caller runs its chunks inline
  std::vector<std::thread> workers_;
  std::atomic<int> threads_{1};
  std::atomic<bool> stopping_{false};      // published by the wake_ bump
  std::atomic<std::uint32_t> wake_{0};     // bumped once per region (and by stop); workers sleep on it
  std::uint64_t region_number_ = 0;        // the caller's count of regions, under region_
  std::atomic<std::uint64_t> claim_{0};    // (region number, chunks, next chunk): see pack()
  std::atomic<std::uint32_t> done_{0};     // chunks of the current region finished; the caller sleeps on it
  // The current region: written by the caller before claim_ publishes them, read by whoever takes a chunk.
  std::atomic<detail::RangeFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<std::int64_t> n_{0}, chunk_{1};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

// The pool lives until the process ends: a kernel run from another static object's destructor must still
// find it. After fork() the child has none of the parent's workers (only the forking thread survives), so a
// child that had inherited a pool with workers would wait for them forever; it gets a fresh pool instead,
// built on its first parallel region (the fork handler itself only sets a flag: it may do little else).
std::atomic<bool> forked{false};

Pool& pool() {
  static Pool* instance = [] {
    pthread_atfork(nullptr, nullptr, [] { forked.store(true, std::memory_order_relaxed); });
    return new Pool(default_threads());
  }();
  if (forked.exchange(false, std::memory_order_relaxed)) {
    instance = new Pool(instance->threads());  // the parent's pool is abandoned: its workers do not exist here
  }
  return *instance;
}

}  // namespace

int pool_threads() { return pool().threads(); }

void set_pool_threads(int threads) { pool().resize(threads); }

namespace detail {
void run_parallel(std::int64_t n, std::int64_t chunk, RangeFn fn, void* ctx) { pool().run(n, chunk, fn, ctx); }
}  // namespace detail

}  // namespace xgrad::cpu
