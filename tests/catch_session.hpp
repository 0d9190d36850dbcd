#pragma once
// Catch2 for the test programs that bring their own main() (the conformance suite and the mpi tests): they
// call run_catch_session() instead of building a Catch::Session themselves.

namespace xgrad::test {

/// Runs every test case the command line selects, as Catch2's own main() would; returns the failed count.
int run_catch_session(int argc, char** argv);

}  // namespace xgrad::test
