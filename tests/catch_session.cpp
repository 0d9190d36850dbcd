// Catch2's implementation, compiled once for the test programs that bring their own main() (the conformance
// suite and the mpi tests): Catch::Session is declared only where CATCH_CONFIG_RUNNER builds the whole of
// Catch2, so the session runs here, and each main() calls run_catch_session().
#define CATCH_CONFIG_RUNNER
#include "catch_session.hpp"

#include <catch2/catch.hpp>

namespace xgrad::test {

int run_catch_session(int argc, char** argv) { return Catch::Session().run(argc, argv); }

}  // namespace xgrad::test
