// save_training_state / load_training_state: one file holds module, optimizer, scheduler and the
// caller's metadata; a resumed run continues bit for bit; a file of another run, a damaged file or
// non-finite values are refused without changing anything.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "nn_helpers.hpp"
#include "scratch_files.hpp"
#include "training_state_helpers.hpp"
#include "xgrad/io/safetensors.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;
using test::TempDir;
using test::TinyRun;

TEST_CASE("training state: a run resumed from one file continues bit for bit", "[io]") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  TinyRun straight;
  for (int s = 0; s < 3; ++s) straight.step();
  auto saved = straight.state();
  saved.metadata = {{"step", "3"}, {"seed", "42"}, {"note", "héllo"}};
  io::save_training_state(path, saved);
  const auto at_save = straight.snapshot();
  for (int s = 0; s < 4; ++s) straight.step();

  TinyRun resumed(/*start=*/-3.0);  // another initialisation: everything must come from the file
  REQUIRE(resumed.snapshot() != at_save);
  auto state = resumed.state();
  state.metadata = {{"stale", "value"}};  // replaced by the file's
  io::load_training_state(path, state);
  CHECK(resumed.snapshot() == at_save);
  CHECK(state.metadata == std::map<std::string, std::string>{{"step", "3"}, {"seed", "42"}, {"note", "héllo"}});
  CHECK(resumed.sched.current_step() == 3);
  // warmup_cosine_lr(0.1, 2, 10, 0.01) at step 3: 0.01 + 0.09 (1 + cos(pi / 8)) / 2
  CHECK(resumed.opt.learning_rate() == Approx(0.01 + 0.09 * (1 + std::cos(3.14159265358979 / 8)) / 2));
  for (int s = 0; s < 4; ++s) resumed.step();
  CHECK(resumed.snapshot() == straight.snapshot());
}

TEST_CASE("training state: the file is one safetensors file with prefixed names and its kinds in the metadata", "[io]") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  TinyRun run;
  run.step();
  auto state = run.state();
  state.metadata = {{"step", "1"}};
  io::save_training_state(path, state);
  const SafetensorsFile file = read_safetensors(path);
  std::vector<std::string> names;
  for (const auto& [name, t] : file.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"model.w", "model.b", "model.seen", "optimizer.step", "optimizer.exp_avg.w",
                                          "optimizer.exp_avg.b", "optimizer.exp_avg_sq.w", "optimizer.exp_avg_sq.b"});
  // lr after one scheduler step: warmup 0.1 * (1 + 1) / 2 = 0.1
  CHECK(file.metadata == std::map<std::string, std::string>{{"format", "xgrad-training-state"},
                                                            {"format_version", "1"},
                                                            {"module", "TinyNet"},
                                                            {"optimizer", "Adam"},
                                                            {"optimizer.learning_rate", "0.1"},
                                                            {"scheduler.step", "1"},
                                                            {"user.step", "1"}});
}

TEST_CASE("training state: without a scheduler the saved learning rate is restored exactly", "[io]") {
  TempDir tmp;
  test::TinyNet net, other(2.0);
  optim::SGD opt(net.named_trainable_parameters(), {.lr = 0.1, .momentum = 0.9});
  opt.set_learning_rate(0.1 + 0.2);  // 0.30000000000000004: the text must round-trip the double
  io::save_training_state(tmp / "ckpt.safetensors", {net, opt, nullptr, {}});
  optim::SGD fresh(other.named_trainable_parameters(), {.lr = 0.5, .momentum = 0.9});
  io::TrainingState state{other, fresh, nullptr, {}};
  io::load_training_state(tmp / "ckpt.safetensors", state);
  CHECK(fresh.learning_rate() == 0.1 + 0.2);
  CHECK(other.w.to_vector() == net.w.to_vector());
}

TEST_CASE("training state: a file of another run is refused by key and changes nothing", "[io]") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  TinyRun source;
  for (int s = 0; s < 2; ++s) source.step();
  io::save_training_state(path, source.state());
  TinyRun target(-3.0);
  target.step();
  const auto before = target.snapshot();
  auto state = target.state();
  state.metadata = {{"kept", "yes"}};
  auto unchanged = [&] {
    CHECK(target.snapshot() == before);
    CHECK(state.metadata == std::map<std::string, std::string>{{"kept", "yes"}});
  };
  /// Rewrites the saved file with its tensors and metadata edited by `edit`.
  auto tampered = [&](auto edit) {
    SafetensorsFile file = read_safetensors(path);
    edit(file);
    save_safetensors(tmp / "bad.safetensors", file.tensors, file.metadata);
    return tmp / "bad.safetensors";
  };

  SECTION("no scheduler given for a file that has scheduler state") {
    io::TrainingState no_sched{target.net, target.opt, nullptr, {}};
    CHECK_THAT(test::message_of<ValueError>([&] { io::load_training_state(path, no_sched); }),
               Contains(path) && Contains("pass the scheduler too"));
  }
  SECTION("another optimizer kind") {
    optim::SGD sgd(target.net.named_trainable_parameters(), {.lr = 0.1});
    io::TrainingState other{target.net, sgd, nullptr, {}};
    CHECK_THAT(test::message_of<ValueError>([&] { io::load_training_state(path, other); }),
               Contains("metadata 'optimizer' is 'Adam', expected 'SGD'"));
  }
  SECTION("a module file, not a training state") {
    io::save(target.net, tmp / "model.safetensors");
    CHECK_THAT(test::message_of<ValueError>([&] { io::load_training_state(tmp / "model.safetensors", state); }),
               Contains("metadata 'format' is 'xgrad', expected 'xgrad-training-state'"));
  }
  SECTION("another module kind") {
    const std::string bad = tampered([](SafetensorsFile& f) { f.metadata["module"] = "Dense"; });
    CHECK_THAT(test::message_of<ValueError>([&] { io::load_training_state(bad, state); }),
               Contains("metadata 'module' is 'Dense', expected 'TinyNet'"));
  }
  SECTION("a newer format version") {
    const std::string bad = tampered([](SafetensorsFile& f) { f.metadata["format_version"] = "2"; });
    CHECK_THAT(test::message_of<ValueError>([&] { io::load_training_state(bad, state); }), Contains("'format_version' is '2'"));
  }
  SECTION("a model tensor of the wrong shape") {
    const std::string bad = tampered([](SafetensorsFile& f) { f.tensors[0].second = zeros({3, 2}); });
    CHECK_THAT(test::message_of<ShapeError>([&] { io::load_training_state(bad, state); }),
               Contains("tensor 'w' has shape (3, 2), but the destination has shape (2, 3)"));
  }
  SECTION("a tensor outside model. and optimizer.") {
    const std::string bad = tampered([](SafetensorsFile& f) { f.tensors.emplace_back("extra", zeros({1})); });
    CHECK_THAT(test::message_of<ValueError>([&] { io::load_training_state(bad, state); }), Contains("unexpected tensor 'extra'"));
  }
  SECTION("optimizer state the update cannot use (checked after the scheduler was restored: rolled back)") {
    const std::string bad = tampered([](SafetensorsFile& f) {
      for (auto& [name, t] : f.tensors)
        if (name == "optimizer.exp_avg_sq.b") t = from_vector({-1.0, 0.0}, {2}, DType::float64);
    });
    CHECK_THAT(test::message_of<ValueError>([&] { io::load_training_state(bad, state); }),
               Contains(bad) && Contains("'exp_avg_sq.b'") && Contains(">= 0"));
  }
  SECTION("a malformed scheduler step or learning rate") {
    const std::string bad = tampered([](SafetensorsFile& f) { f.metadata["scheduler.step"] = "-4"; });
    CHECK_THAT(test::message_of<ValueError>([&] { io::load_training_state(bad, state); }),
               Contains("key 'step' must be an integer in [0, 2^53), got '-4'"));
    const std::string bad_lr = tampered([](SafetensorsFile& f) { f.metadata["optimizer.learning_rate"] = "nan"; });
    CHECK_THAT(test::message_of<ValueError>([&] { io::load_training_state(bad_lr, state); }),
               Contains("'optimizer.learning_rate' must be a finite number >= 0, got 'nan'"));
  }
  SECTION("a truncated file") {
    std::filesystem::copy_file(path, tmp / "short.safetensors");
    std::filesystem::resize_file(tmp / "short.safetensors", std::filesystem::file_size(path) - 1);
    CHECK_THROWS_AS(io::load_training_state(tmp / "short.safetensors", state), IOError);
  }
  unchanged();
}

TEST_CASE("training state: the optimizer must update the module's own tensors", "[io]") {
  TempDir tmp;
  test::TinyNet net;
  Tensor outside = zeros({2}).set_requires_grad();
  optim::Adam opt({{"w", net.w}, {"outside", outside}});
  io::TrainingState state{net, opt, nullptr, {}};
  CHECK_THAT(test::message_of<ValueError>([&] { io::save_training_state(tmp / "ckpt.safetensors", state); }),
             Contains("the optimizer's parameter 'outside' is not a tensor of the module (TinyNet)"));
  CHECK(tmp.files().empty());
  CHECK_THROWS_AS(io::load_training_state(tmp / "ckpt.safetensors", state), ValueError);
}

TEST_CASE("training state: NaN or inf never replaces the last good checkpoint unless allowed", "[io]") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  TinyRun run;
  run.step();
  io::save_training_state(path, run.state());
  io::save(run.net, tmp / "model.safetensors");
  const std::string good = test::read_bytes(path), good_model = test::read_bytes(tmp / "model.safetensors");

  run.net.w.set({1, 2}, std::numeric_limits<double>::quiet_NaN());
  CHECK_THAT(test::message_of<ValueError>([&] { io::save_training_state(path, run.state()); }),
             Contains("save_training_state: tensor 'model.w' (2, 3) holds NaN or inf") &&
                 Contains("allow_non_finite"));
  CHECK_THROWS_AS(io::save(run.net, tmp / "model.safetensors"), ValueError);
  run.net.w.set({1, 2}, 1.0);
  run.net.b.set({0}, -std::numeric_limits<double>::infinity());
  CHECK_THAT(test::message_of<ValueError>([&] { io::save_training_state(path, run.state()); }), Contains("'model.b'"));
  CHECK(test::read_bytes(path) == good);
  CHECK(test::read_bytes(tmp / "model.safetensors") == good_model);
  CHECK(tmp.files() == std::vector<std::string>{"ckpt.safetensors", "model.safetensors"});

  // An optimizer moment that overflowed is refused the same way.
  run.net.b.set({0}, 0.5);
  Tensor exp_avg = run.opt.state().at(1).second;
  exp_avg.set({0, 0}, std::numeric_limits<double>::infinity());
  CHECK_THAT(test::message_of<ValueError>([&] { io::save_training_state(path, run.state()); }),
             Contains("'optimizer.exp_avg.w'"));

  io::save_training_state(path, run.state(), {.allow_non_finite = true});
  CHECK(std::isinf(read_safetensors(path).tensors.at(4).second.to_vector().at(0)));
}

TEST_CASE("training state: io::load takes the module out of a training-state file", "[io]") {
  TempDir tmp;
  TinyRun run;
  for (int s = 0; s < 2; ++s) run.step();
  io::save_training_state(tmp / "ckpt.safetensors", run.state());
  test::TinyNet inference(7.0);
  io::load(inference, tmp / "ckpt.safetensors");
  CHECK(inference.w.to_vector() == run.net.w.to_vector());
  CHECK(inference.seen.to_vector() == std::vector<double>{2.0});
}

TEST_CASE("LRScheduler: state() and load_state() carry the step, bad state names the key", "[optim][io]") {
  test::TinyNet net;
  optim::SGD opt(net.named_trainable_parameters());
  optim::LRScheduler sched(opt, optim::step_lr(1.0, 2, 0.5));
  for (int s = 0; s < 5; ++s) sched.step();
  CHECK(sched.state() == std::map<std::string, std::string>{{"step", "5"}});
  optim::LRScheduler other(opt, optim::step_lr(1.0, 2, 0.5));
  other.load_state(sched.state());
  CHECK(other.current_step() == 5);
  CHECK(opt.learning_rate() == 0.25);  // 1.0 * 0.5^floor(5 / 2)
  CHECK_THROWS_WITH(other.load_state({}), "LRScheduler.load_state: missing key 'step'");
  CHECK_THROWS_WITH(other.load_state({{"step", "3x"}}), Contains("must be an integer in [0, 2^53), got '3x'"));
  // INT64_MAX would overflow in the next step(); 2^53 is the first count refused.
  CHECK_THROWS_WITH(other.load_state({{"step", "9223372036854775807"}}), Contains("got '9223372036854775807'"));
  CHECK_THROWS_WITH(other.load_state({{"step", "9007199254740992"}}), Contains("[0, 2^53)"));
  CHECK_THROWS_WITH(other.load_state({{"step", "1"}, {"epoch", "2"}}), Contains("unexpected key 'epoch'"));
  CHECK(other.current_step() == 5);
  CHECK(opt.learning_rate() == 0.25);
}
