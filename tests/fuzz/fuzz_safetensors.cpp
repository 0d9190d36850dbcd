// libFuzzer target: the safetensors reader. Whatever the bytes, load_safetensors_metadata and
// load_safetensors return or throw IOError (any other exception escapes and is reported as a crash),
// and they agree on whether the file is valid: the metadata reader applies the same checks.
#include <cstdint>
#include <cstdlib>

#include "fuzz_support.hpp"
#include "xgrad/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static xgrad::fuzz::InputFile file;
  const std::string& path = file.hold(data, size);
  bool header_ok = true, file_ok = true;
  try {
    (void)xgrad::load_safetensors_metadata(path);
  } catch (const xgrad::IOError&) {
    header_ok = false;
  }
  try {
    (void)xgrad::load_safetensors(path);
  } catch (const xgrad::IOError&) {
    file_ok = false;
  }
  if (header_ok != file_ok) std::abort();
  return 0;
}
