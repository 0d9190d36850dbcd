// The race's competing process: one core kept busy by another program, the situation where a thread pool
// that spins while waiting for a preempted worker loses to its own single thread.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "race.hpp"

namespace race {

namespace {
volatile double sink;  // the spin loop's result goes here, so the compiler keeps the loop
}  // namespace

void Competitor::spin(int cpu, int seconds) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with whoever started it, even by SIGKILL
  if (getppid() == 1) _exit(0);       // that parent is already gone
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);  // a CPU outside the allowed set leaves it unpinned: still busy
  alarm(static_cast<unsigned>(seconds));   // SIGALRM's default action ends it
  // A dependent chain of floating-point multiply-adds: the core stays busy, the caches and memory do not.
  for (double x = 1;;) {
    for (int i = 0; i < 1 << 20; ++i) x = x * 0.999999 + 1e-6;
    sink = x;
  }
}

Competitor::Competitor(int cpu, int seconds) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("competitor: fork failed: ") + std::strerror(errno));
  if (pid_ == 0) spin(cpu, seconds);
}

Competitor::~Competitor() {
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

int last_allowed_cpu() {
  cpu_set_t set;
  int last = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) last = c;
  return last;
}

}  // namespace race
