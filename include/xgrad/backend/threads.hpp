#pragma once
// The CPU backend's threads: xgrad's own pool owns the cores; OpenBLAS runs single-threaded inside it.

namespace xgrad {

/// Sets the number of threads of xgrad's CPU pool (default: XGRAD_NUM_THREADS, else the cores this process
/// may run on); OpenBLAS runs single-threaded inside it. Throws ValueError below 1.
void set_num_threads(int threads);

/// Number of threads the CPU kernels currently use.
int num_threads();

}  // namespace xgrad
