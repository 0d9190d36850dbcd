#pragma once
// Running part of a test in a forked child: for behaviour that would take the test binary down with
// it (a stack overflow on hostile input, a process killed in the middle of a save).
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

namespace xgrad::test {

/// How a child process ended.
struct ChildExit {
  bool exited = false;  ///< it returned or called exit (otherwise a signal killed it)
  int code = -1;        ///< the exit code, or the signal number when !exited
  pid_t pid = -1;       ///< the child's process id (gone by the time run_in_child returns)

  /// "exit code 3" or "killed by signal 11 (Segmentation fault)", for INFO().
  std::string describe() const {
    return exited ? "exit code " + std::to_string(code)
                  : "killed by signal " + std::to_string(code) + " (" + strsignal(code) + ")";
  }
  /// True when the child exited with `expected`.
  bool exited_with(int expected) const { return exited && code == expected; }
};

/// Runs `body` in a forked child that exits with body's return value (99 if it throws) without
/// running the parent's exit handlers, and waits for it. The child must not use Catch2 assertions.
/// Fatal signals take their default action in the child (Catch2's reporting handler could deadlock
/// on a lock the crash left held), and a child still running after `timeout_s` seconds is killed by
/// SIGALRM.
inline ChildExit run_in_child(const std::function<int()>& body, unsigned timeout_s = 120) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM}) std::signal(sig, SIG_DFL);
    ::alarm(timeout_s);
    int rc = 99;
    try {
      rc = body();
    } catch (...) {
    }
    ::_exit(rc);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error(std::string("waitpid failed: ") + std::strerror(errno));
  if (WIFEXITED(status)) return {true, WEXITSTATUS(status), pid};
  return {false, WTERMSIG(status), pid};
}

}  // namespace xgrad::test
