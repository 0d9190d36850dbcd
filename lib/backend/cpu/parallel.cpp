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

// Workers spin this long after a region before sleeping: a training step runs regions back to back,
// and a futex wake-up costs tens of microseconds, as much as a small kernel.
constexpr auto kSpin = std::chrono::microseconds(100);

thread_local bool in_region = false;  // nested parallel_for calls run inline

// A spin-wait hint: lets the sibling hardware thread run and saves power while polling.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
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
    std::unique_lock lock(region_, std::try_to_lock);
    if (!lock || in_region || workers_.empty()) {  // another thread's region, or nested: run inline
      fn(ctx, 0, n);
      return;
    }
    fn_ = fn, ctx_ = ctx, n_ = n, chunk_ = chunk, chunks_ = (n + chunk - 1) / chunk;
    error_ = nullptr;
    finished_.store(0, std::memory_order_relaxed);
    next_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    in_region = true;
    work();
    in_region = false;
    // Every worker must be done with this job before its fields are reused.
    const int workers = static_cast<int>(workers_.size());
    while (finished_.load(std::memory_order_acquire) != workers) cpu_relax();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void start(int threads) {
    openblas_set_num_threads(1);  // xgrad's workers own the cores (parallel.hpp); also undoes a caller's setting
    threads_.store(threads, std::memory_order_relaxed);
    stopping_ = false;
    // A worker counts generations from the one current now, not from when its thread happens to start.
    const std::uint64_t now = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, now] { worker(now); });
  }

  void stop() {
    stopping_ = true;
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  void worker(std::uint64_t seen) {
    in_region = true;
    for (;;) {
      const auto until = std::chrono::steady_clock::now() + kSpin;
      std::uint64_t g = seen;
      for (int i = 0; (g = generation_.load(std::memory_order_acquire)) == seen; ++i) {
        if ((i & 255) == 255 && std::chrono::steady_clock::now() > until) {
          generation_.wait(seen, std::memory_order_acquire);
        }
        cpu_relax();
      }
      seen = g;
      if (stopping_) return;
      work();
      finished_.fetch_add(1, std::memory_order_release);
    }
  }

  void work() {
    for (std::int64_t c; (c = next_.fetch_add(1, std::memory_order_relaxed)) < chunks_;) {
      try {
        fn_(ctx_, c * chunk_, std::min(n_, (c + 1) * chunk_));
      } catch (...) {
        std::lock_guard lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  std::mutex region_;  // one region at a time; a second caller runs inline
  std::vector<std::thread> workers_;
  std::atomic<int> threads_{1};
  std::atomic<std::uint64_t> generation_{0};
  bool stopping_ = false;  // published by the generation bump
  // The current job: written by the caller before the generation bump, read by workers after it.
  detail::RangeFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::int64_t n_ = 0, chunk_ = 1, chunks_ = 0;
  std::atomic<std::int64_t> next_{0};
  std::atomic<int> finished_{0};
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
