// xgrad_plugin_probe <device>: prints the device count of its type and what asking for the device gives, in
// a fresh process, so tests can check the loader under an environment of their choosing.
#include <cstdio>

#include "xgrad/backend/backend.hpp"
#include "xgrad/errors.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  try {
    const xgrad::Device device = xgrad::parse_device(argv[1]);
    std::printf("count %d\n", xgrad::device_count(device.type));
    xgrad::backend(device);
    std::printf("available\n");
  } catch (const xgrad::Error& e) {
    std::printf("error: %s\n", e.what());
  }
  return 0;
}
