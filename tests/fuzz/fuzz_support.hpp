#pragma once
// What the libFuzzer harnesses share: the fuzz input as a file the loaders can open, and the small
// model and training run whose checkpoints the seed corpus holds (tests/fuzz/make_seeds.cpp).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "xgrad/io/checkpoint.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/optim/schedule.hpp"
#include "xgrad/tensor/creation.hpp"

namespace xgrad::fuzz {

/// The current input as a path: an in-memory file (memfd) rewritten for every input, so the loaders
/// run their real open/fstat/pread path without touching the disk.
class InputFile {
 public:
  InputFile() : fd_(::memfd_create("xgrad-fuzz-input", MFD_CLOEXEC)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  /// Replaces the file's contents with the input and returns its path.
  const std::string& hold(const std::uint8_t* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    for (std::size_t done = 0; done < size;) {
      const ssize_t put = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (put <= 0) std::abort();
      done += static_cast<std::size_t>(put);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

/// A model with a float32 and a float64 parameter and an int64 buffer.
struct FuzzNet : nn::Module {
  Tensor w = register_parameter("w", from_vector({0.5, -1.0, 2.0, 0.25, -0.75, 1.5}, {2, 3}));
  Tensor b = register_parameter("b", from_vector({0.1, -0.2}, {2}, DType::float64));
  Tensor seen = register_buffer("seen", index_tensor({0}, {1}));
  FuzzNet() : nn::Module("FuzzNet") {}
};

/// Gives every parameter of `optimizer` a small finite gradient and takes one step: after a load
/// that was accepted, the update must be defined behaviour (UBSan checks the step count's increment).
inline void step_once(optim::Optimizer& optimizer) {
  for (auto [name, p] : optimizer.parameters()) p.set_grad(full(p.shape(), 0.25, p.dtype()));
  optimizer.step();
}

/// The schedule of the training-state target (and of its seeds).
inline optim::LRSchedule fuzz_schedule() { return optim::warmup_cosine_lr(0.1, 2, 10, 0.01); }

}  // namespace xgrad::fuzz
