// libFuzzer target: io::load_training_state into a model, Adam and a learning-rate scheduler.
// Whatever the bytes, it loads or throws a typed xgrad::Error; a state that loads is then trained one
// step (optimizer and scheduler), so a value the loader should have refused shows up as a sanitizer
// report.
#include <cstdint>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xgrad;
  static fuzz::InputFile file;
  const std::string& path = file.hold(data, size);
  fuzz::FuzzNet net;
  optim::Adam adam(net.named_trainable_parameters(), {.lr = 0.1});
  optim::LRScheduler scheduler(adam, fuzz::fuzz_schedule());
  io::TrainingState state{net, adam, &scheduler, {}};
  try {
    io::load_training_state(path, state);
  } catch (const Error&) {
    return 0;
  }
  fuzz::step_once(adam);
  scheduler.step();
  return 0;
}
