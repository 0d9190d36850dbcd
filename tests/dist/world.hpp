#pragma once
// The communicator of the mpi test programs, started by their main (tests/dist/main.cpp).
#include "xgrad/dist/communicator.hpp"

namespace xgrad::dist::test {

/// Every rank of the test job.
const Communicator& world();

/// Whether `t` holds exactly the same bytes on every rank (compared with rank 0's copy); collective.
bool same_bits_on_every_rank(const Tensor& t);

/// Whether `ok` is true on every rank; collective, so a failure on any rank is seen everywhere.
bool on_every_rank(bool ok);

}  // namespace xgrad::dist::test
