// libFuzzer target: io::load into Adam (amsgrad), centered RMSprop with momentum and SGD with
// momentum. Whatever the bytes, each loads or throws a typed xgrad::Error; state that loads is then
// stepped once, so a value load_state should have refused (a step count that overflows, ...) shows
// up as a sanitizer report.
#include <cstdint>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xgrad;
  static fuzz::InputFile file;
  const std::string& path = file.hold(data, size);
  fuzz::FuzzNet net;
  optim::Adam adam(net.named_trainable_parameters(), {.lr = 0.1, .amsgrad = true});
  optim::RMSprop rmsprop(net.named_trainable_parameters(), {.momentum = 0.9, .centered = true});
  optim::SGD sgd(net.named_trainable_parameters(), {.lr = 0.1, .momentum = 0.9});
  for (optim::Optimizer* optimizer : {static_cast<optim::Optimizer*>(&adam), static_cast<optim::Optimizer*>(&rmsprop),
                                      static_cast<optim::Optimizer*>(&sgd)}) {
    try {
      io::load(*optimizer, path);
    } catch (const Error&) {
      continue;
    }
    fuzz::step_once(*optimizer);
  }
  return 0;
}
