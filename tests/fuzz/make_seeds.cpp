// Writes the seed corpus of the fuzz targets: a few valid checkpoints of fuzz_support.hpp's model
// and run, and a few damaged ones, each well under 1 KB. The committed tests/fuzz/corpus/ is its
// output; regenerate it with
//   build-fuzz/tests/fuzz/xgrad_fuzz_make_seeds tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz_support.hpp"
#include "xgrad/io/safetensors.hpp"

namespace fs = std::filesystem;
using namespace xgrad;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A file made by hand: the 8-byte little-endian header length, the header, then `data`.
std::string craft(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

/// Rewrites the safetensors file `from` as `to` with its tensors and metadata edited by `edit`.
template <class Edit>
void tampered(const fs::path& from, const fs::path& to, Edit edit) {
  SafetensorsFile file = read_safetensors(from.string());
  edit(file);
  save_safetensors(to.string(), file.tensors, file.metadata);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  const fs::path root(argv[1]);
  for (const char* target : {"safetensors", "module_load", "optimizer_load", "training_state_load"})
    fs::create_directories(root / target);

  // safetensors: every dtype, half precision, and three kinds of damage.
  const fs::path mixed = root / "safetensors" / "mixed.safetensors";
  save_safetensors(mixed.string(),
                   {{"w", from_vector({0.5, -1.5, 2.0, 3.0, -4.0, 1e-3}, {2, 3})},
                    {"b", from_vector({0.25, -0.5}, {2}, DType::float64)},
                    {"ids", index_tensor({7}, {1})},
                    {"none", zeros({0, 2})}},
                   {{"format", "pt"}});
  const std::string mixed_bytes = read_file(mixed);
  write_file(root / "safetensors" / "truncated.safetensors", mixed_bytes.substr(0, mixed_bytes.size() - 5));
  write_file(root / "safetensors" / "half.safetensors",
             craft(R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                   R"("g":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})",
                   std::string("\x00\x3c\x00\xfc\x80\x3f\xc0\x7f", 8)));  // 1, -inf; 1, NaN
  write_file(root / "safetensors" / "overlap.safetensors",
             craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   std::string(12, '\x01')));
  write_file(root / "safetensors" / "nested.safetensors", craft(R"({"a":[[[[[[[[[[[[1]]]]]]]]]]]]})", ""));

  // module: its own file, a training state (io::load reads the model out of it), a wrong dtype.
  fuzz::FuzzNet net;
  optim::Adam adam(net.named_trainable_parameters(), {.lr = 0.1, .amsgrad = true});
  optim::RMSprop rmsprop(net.named_trainable_parameters(), {.momentum = 0.9, .centered = true});
  optim::SGD sgd(net.named_trainable_parameters(), {.lr = 0.1, .momentum = 0.9});
  for (optim::Optimizer* opt : {static_cast<optim::Optimizer*>(&adam), static_cast<optim::Optimizer*>(&rmsprop),
                                static_cast<optim::Optimizer*>(&sgd)})
    for (int step = 0; step < 2; ++step) fuzz::step_once(*opt);
  net.seen.set({0}, 2);
  io::save(net, (root / "module_load" / "module.safetensors").string());
  tampered(root / "module_load" / "module.safetensors", root / "module_load" / "wrong_dtype.safetensors",
           [](SafetensorsFile& f) { f.tensors.at(1).second = zeros({2}); });

  // optimizer: each kind's state, and a step count past the limit.
  io::save(adam, (root / "optimizer_load" / "adam.safetensors").string());
  io::save(rmsprop, (root / "optimizer_load" / "rmsprop.safetensors").string());
  io::save(sgd, (root / "optimizer_load" / "sgd.safetensors").string());
  tampered(root / "optimizer_load" / "adam.safetensors", root / "optimizer_load" / "adam_step_too_large.safetensors",
           [](SafetensorsFile& f) { f.tensors.at(0).second = index_tensor({std::int64_t{1} << 53, 2}, {2}); });

  // training_state: a valid one (also a module seed), one without its scheduler, one with a negative moment.
  fuzz::FuzzNet run_net;
  optim::Adam run_adam(run_net.named_trainable_parameters(), {.lr = 0.1});
  optim::LRScheduler scheduler(run_adam, fuzz::fuzz_schedule());
  for (int step = 0; step < 3; ++step) {
    fuzz::step_once(run_adam);
    scheduler.step();
  }
  const fs::path state = root / "training_state_load" / "state.safetensors";
  io::save_training_state(state.string(), {run_net, run_adam, &scheduler, {{"step", "3"}, {"seed", "1"}}});
  fs::copy_file(state, root / "module_load" / "training_state.safetensors", fs::copy_options::overwrite_existing);
  io::save_training_state((root / "training_state_load" / "no_scheduler.safetensors").string(),
                          {run_net, run_adam, nullptr, {}});
  tampered(state, root / "training_state_load" / "negative_moment.safetensors", [](SafetensorsFile& f) {
    for (auto& [name, t] : f.tensors)
      if (name == "optimizer.exp_avg_sq.b") t = from_vector({-1.0, 0.0}, {2}, DType::float64);
  });
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "xgrad_fuzz_make_seeds: %s\n", e.what());
  return 1;
}
