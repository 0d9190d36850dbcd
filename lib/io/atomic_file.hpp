#pragma once
// Crash-consistent replacement of a file: readers of the target see the old file or the new one,
// never a part of either, whatever stops the writer (an exception, a full disk, a kill, a power loss
// after the directory sync).
#include <cstdint>
#include <string>

#include "xgrad/io/testing.hpp"

namespace xgrad::io::detail {

/// Reports `stage` to the test hook, if one is installed.
void enter_stage(testing::SaveStage stage);

/// A temporary file `<target>.tmp-<pid>-<n>` beside `target` that replaces it only on commit(); if
/// commit() is not reached it is removed (or, after a kill, removed by the next save to `target`).
class AtomicOutput {
 public:
  /// Removes stale temporary files of `target`, then creates a new one; IOError prefixed by `op`.
  AtomicOutput(std::string target, std::string op);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  /// Appends `n` bytes (IOError on failure, e.g. a full disk).
  void write(const void* src, std::uint64_t n);
  /// Syncs the data, renames it over the target and syncs the directory so the rename survives a crash.
  void commit();

 private:
  [[noreturn]] void fail(const std::string& what, const std::string& path) const;

  std::string target_, op_, temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace xgrad::io::detail
