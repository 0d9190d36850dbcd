// char_lm progress: a redrawn bar on a terminal, plain lines elsewhere.
#ifdef XGRAD_CHAR_LM_TESTS  // defined where examples/CMakeLists.txt links char_lm_support
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "char_lm/progress.hpp"

using namespace char_lm;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {
// Everything written to a FILE* by `fn`.
template <class Fn>
std::string capture(Fn fn) {
  std::FILE* f = std::tmpfile();
  fn(f);
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s += char(c);
  std::fclose(f);
  return s;
}
}  // namespace

TEST_CASE("format_duration: seconds, minutes, hours", "[lm]") {
  CHECK(format_duration(42.4) == "42s");
  CHECK(format_duration(185) == "3m05s");
  CHECK(format_duration(3720) == "1h02m");
  CHECK(format_duration(-1) == "?");
}

TEST_CASE("Progress::status: step, loss, tokens/s and ETA on one line", "[lm]") {
  CHECK(Progress::status(120, 2000, 2.31404, 18234, 92) == "step 120/2000 loss 2.3140 18.2k tok/s ETA 1m32s");
  CHECK(Progress::status(1, 10, 4.0, 512, 9) == "step 1/10 loss 4.0000 512 tok/s ETA 9s");
}

TEST_CASE("Progress: not a terminal, one plain line every log_every steps and at the end", "[lm]") {
  const std::string out = capture([](std::FILE* f) {
    Progress p(f, 5, 0, 2, /*tty=*/false);
    for (long s = 1; s <= 5; ++s) p.update(s, 1.0, 100.0 * double(s));
    p.note("val loss 0.9");
    p.finish();
  });
  CHECK(out.find('\r') == std::string::npos);
  CHECK(out.find("\x1b") == std::string::npos);
  // Steps 2, 4 and the last one (5), then the note.
  CHECK_THAT(out, StartsWith("step 2/5 loss 1.0000"));
  CHECK_THAT(out, Contains("\nstep 4/5") && Contains("\nstep 5/5") && Contains("\nval loss 0.9\n"));
  CHECK(std::count(out.begin(), out.end(), '\n') == 4);
}

TEST_CASE("Progress: on a terminal the bar redraws one line and notes clear it first", "[lm]") {
  const std::string out = capture([](std::FILE* f) {
    Progress p(f, 4, 0, 100, /*tty=*/true);
    p.update(1, 2.0, 64);
    p.update(2, 1.5, 128);
    p.note("checkpoint saved");
    p.update(4, 1.0, 256);
    p.finish();
  });
  CHECK_THAT(out, StartsWith("\r[######..................] step 1/4"));  // 1/4 of 24 cells
  CHECK_THAT(out, Contains("\r[############............] step 2/4 loss 1.5000"));
  CHECK_THAT(out, Contains("\r\x1b[Kcheckpoint saved\n"));
  CHECK_THAT(out, Contains("\r[########################] step 4/4"));
  CHECK(out.back() == '\n');
}
#endif
