// libFuzzer target: io::load into a module, strict and not. Whatever the bytes, it loads or throws a
// typed xgrad::Error; any other exception or a sanitizer report is a finding.
#include <cstdint>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static xgrad::fuzz::InputFile file;
  const std::string& path = file.hold(data, size);
  for (bool strict : {true, false}) {
    xgrad::fuzz::FuzzNet net;
    try {
      xgrad::io::load(net, path, strict);
    } catch (const xgrad::Error&) {
    }
  }
  return 0;
}
