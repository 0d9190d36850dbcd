#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>

#include <fmt/format.h>

#include "xgrad/errors.hpp"

namespace xgrad::io {

namespace {

std::mutex hook_mutex;
std::function<void(testing::SaveStage)> save_hook;

/// Names (without directory) of the temporary files this process is writing right now: a save
/// running on another thread must not lose its file to this one's clean-up.
std::mutex live_mutex;
std::set<std::string> live_temps;

std::string errno_str() { return std::system_category().message(errno); }

/// The pid in a temporary file's suffix "<pid>-<n>", or nothing if the suffix is not exactly that.
std::optional<pid_t> temp_owner(std::string_view suffix) {
  const std::size_t dash = suffix.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == suffix.size()) return std::nullopt;
  long long pid = 0;
  const auto [end, err] = std::from_chars(suffix.data(), suffix.data() + dash, pid);
  if (err != std::errc() || end != suffix.data() + dash || pid <= 0 || pid > INT_MAX) return std::nullopt;
  for (char c : suffix.substr(dash + 1))
    if (c < '0' || c > '9') return std::nullopt;
  return static_cast<pid_t>(pid);
}

/// Whether a process with this pid exists (EPERM: it does, owned by someone else).
bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

/// Deletes `<target>.tmp-<pid>-<n>` files that saves killed before their rename left behind: those of
/// processes that no longer exist, and this process's own that no save in it is writing. A temporary
/// file of another live process is left alone (it may be saving right now). Best effort: a directory
/// that cannot be listed or a file that cannot be removed does not stop the save.
void remove_stale_temps(const std::string& target) {
  namespace fs = std::filesystem;
  const fs::path target_path(target);
  const fs::path dir = target_path.has_parent_path() ? target_path.parent_path() : fs::path(".");
  const std::string prefix = target_path.filename().string() + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const std::optional<pid_t> pid = temp_owner(std::string_view(name).substr(prefix.size()));
    if (!pid) continue;
    if (*pid == ::getpid()) {
      const std::lock_guard lock(live_mutex);
      if (live_temps.count(name)) continue;
    } else if (process_exists(*pid)) {
      continue;
    }
    ::unlink((dir / name).c_str());
  }
}

}  // namespace

namespace testing {

void set_save_hook(std::function<void(SaveStage)> hook) {
  const std::lock_guard lock(hook_mutex);
  save_hook = std::move(hook);
}

}  // namespace testing

namespace detail {

void enter_stage(testing::SaveStage stage) {
  std::function<void(testing::SaveStage)> hook;
  {
    const std::lock_guard lock(hook_mutex);
    hook = save_hook;
  }
  if (hook) hook(stage);
}

AtomicOutput::AtomicOutput(std::string target, std::string op) : target_(std::move(target)), op_(std::move(op)) {
  enter_stage(testing::SaveStage::remove_stale_temps);
  remove_stale_temps(target_);
  enter_stage(testing::SaveStage::create_temp);
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; fd_ < 0; ++attempt) {
    temp_ = fmt::format("{}.tmp-{}-{}", target_, ::getpid(), counter++);
    const std::string name = std::filesystem::path(temp_).filename().string();
    {
      const std::lock_guard lock(live_mutex);
      live_temps.insert(name);
    }
    // O_EXCL: never clobber a file we did not create; 0666 lets the umask pick the final mode.
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) {
      const int error = errno;
      {
        const std::lock_guard lock(live_mutex);
        live_temps.erase(name);
      }
      errno = error;
      if (error != EEXIST || attempt == 100) fail("cannot create", temp_);
    }
  }
}

AtomicOutput::~AtomicOutput() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
  const std::lock_guard lock(live_mutex);
  live_temps.erase(std::filesystem::path(temp_).filename().string());
}

void AtomicOutput::write(const void* src, std::uint64_t n) {
  const auto* p = static_cast<const char*>(src);
  while (n > 0) {
    const ssize_t put = ::write(fd_, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) fail("cannot write", temp_);
    if (put == 0) {
      errno = ENOSPC;  // write(2) returning 0 for a non-empty buffer: no progress is possible
      fail("cannot write", temp_);
    }
    p += put, n -= static_cast<std::uint64_t>(put);
  }
}

void AtomicOutput::commit() {
  using testing::SaveStage;
  enter_stage(SaveStage::sync_temp);
  if (::fsync(fd_) != 0) fail("cannot sync", temp_);
  enter_stage(SaveStage::close_temp);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("cannot close", temp_);
  enter_stage(SaveStage::rename);
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail(fmt::format("cannot rename {} to", temp_), target_);
  committed_ = true;
  enter_stage(SaveStage::sync_directory);
  const std::filesystem::path parent = std::filesystem::path(target_).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail("saved, but cannot open the directory to sync it", dir);
  // Some file systems cannot sync a directory (EINVAL); the rename itself has happened.
  const bool synced = ::fsync(dfd) == 0 || errno == EINVAL;
  ::close(dfd);
  if (!synced) fail("saved, but cannot sync the directory", dir);
  enter_stage(SaveStage::finished);
}

void AtomicOutput::fail(const std::string& what, const std::string& path) const {
  throw IOError(fmt::format("{}: {} {}: {}", op_, what, path, errno_str()));
}

}  // namespace detail

}  // namespace xgrad::io
