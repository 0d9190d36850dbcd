// A checkpoint survives whatever stops its save: an error or a kill at every step of the save
// sequence (injected through io::testing::set_save_hook, never by timing), or a full disk. The file
// on disk is always the previous checkpoint or the new one, each complete and loadable, and the
// temporary files a kill leaves behind are removed by the next save.
#include <sys/resource.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <thread>

#include "child_process.hpp"
#include "scratch_files.hpp"
#include "training_state_helpers.hpp"
#include "xgrad/io/safetensors.hpp"
#include "xgrad/io/testing.hpp"

using namespace xgrad;
using io::testing::SaveStage;
using Catch::Matchers::Contains;
using test::TempDir;
using test::TinyRun;

namespace {

const char* stage_name(SaveStage stage) {
  switch (stage) {
    case SaveStage::remove_stale_temps: return "remove_stale_temps";
    case SaveStage::create_temp: return "create_temp";
    case SaveStage::write_header: return "write_header";
    case SaveStage::write_tensors: return "write_tensors";
    case SaveStage::sync_temp: return "sync_temp";
    case SaveStage::close_temp: return "close_temp";
    case SaveStage::rename: return "rename";
    case SaveStage::sync_directory: return "sync_directory";
    case SaveStage::finished: return "finished";
  }
  return "?";
}

/// Whether a save stopped just before `stage` has already published the new file.
bool published_before(SaveStage stage) { return stage == SaveStage::sync_directory || stage == SaveStage::finished; }

/// Installs a save hook for the scope of the object.
struct SaveHook {
  explicit SaveHook(std::function<void(SaveStage)> hook) { io::testing::set_save_hook(std::move(hook)); }
  ~SaveHook() { io::testing::set_save_hook(nullptr); }
  SaveHook(const SaveHook&) = delete;
  SaveHook& operator=(const SaveHook&) = delete;
};

/// Two checkpoints of one run, at steps 2 and 3, and their bytes.
struct TwoCheckpoints {
  TempDir tmp;
  std::string path = tmp / "ckpt.safetensors";
  TinyRun run;
  std::string old_bytes, new_bytes;
  std::vector<std::vector<double>> old_values, new_values;
  TwoCheckpoints() {
    for (int s = 0; s < 2; ++s) run.step();
    save(2);
    old_bytes = test::read_bytes(path), old_values = run.snapshot();
    run.step();
    new_values = run.snapshot();
    // The bytes the step-3 save will write, made in a scratch file for comparison.
    io::TrainingState state = run.state();
    state.metadata = {{"step", "3"}};
    io::save_training_state(tmp / "expected.safetensors", state);
    new_bytes = test::read_bytes(tmp / "expected.safetensors");
    std::filesystem::remove(tmp / "expected.safetensors");
  }
  /// Saves the run's current state as the checkpoint of `step`.
  void save(int step) {
    io::TrainingState state = run.state();
    state.metadata = {{"step", std::to_string(step)}};
    io::save_training_state(path, state);
  }
  /// Loads the checkpoint on disk into a fresh run and returns its values and the saved step.
  std::pair<std::vector<std::vector<double>>, std::string> load() {
    TinyRun fresh(-5.0);
    io::TrainingState state = fresh.state();
    io::load_training_state(path, state);
    return {fresh.snapshot(), state.metadata.at("step")};
  }
};

}  // namespace

TEST_CASE("crash consistency: an error at every step of a save leaves the old or the new checkpoint", "[io]") {
  for (SaveStage stage : io::testing::kSaveStages) {
    INFO("error before " << stage_name(stage));
    TwoCheckpoints c;
    {
      SaveHook hook([stage](SaveStage now) {
        if (now == stage) throw IOError(std::string("injected fault before ") + stage_name(stage));
      });
      CHECK_THROWS_WITH(c.save(3), Contains("injected fault"));
    }
    const bool published = published_before(stage);
    CHECK(test::read_bytes(c.path) == (published ? c.new_bytes : c.old_bytes));
    const auto [values, step] = c.load();
    CHECK(values == (published ? c.new_values : c.old_values));
    CHECK(step == (published ? "3" : "2"));
    CHECK(c.tmp.files() == std::vector<std::string>{"ckpt.safetensors"});  // the failed save cleaned up
  }
}

TEST_CASE("crash consistency: a kill at every step of a save leaves the old or the new checkpoint", "[io]") {
  for (SaveStage stage : io::testing::kSaveStages) {
    INFO("SIGKILL before " << stage_name(stage));
    TwoCheckpoints c;
    const test::ChildExit child = test::run_in_child([&] {
      io::testing::set_save_hook([stage](SaveStage now) {
        if (now == stage) std::raise(SIGKILL);  // as kill -9: no destructor, no clean-up runs
      });
      c.save(3);
      return 0;
    });
    INFO("child: " << child.describe());
    REQUIRE((!child.exited && child.code == SIGKILL));
    const bool published = published_before(stage);
    CHECK(test::read_bytes(c.path) == (published ? c.new_bytes : c.old_bytes));
    const auto [values, step] = c.load();
    CHECK(values == (published ? c.new_values : c.old_values));
    CHECK(step == (published ? "3" : "2"));

    // Killed after creating its temporary file and before renaming it, the save leaves the file; the
    // next save deletes it (its process is gone) and publishes normally.
    const auto files = c.tmp.files();
    const bool temp_left = stage != SaveStage::remove_stale_temps && stage != SaveStage::create_temp && !published;
    CHECK(files.size() == (temp_left ? 2u : 1u));
    if (temp_left) CHECK_THAT(files.at(1), Contains("ckpt.safetensors.tmp-" + std::to_string(child.pid) + "-"));
    c.save(3);
    CHECK(c.tmp.files() == std::vector<std::string>{"ckpt.safetensors"});
    CHECK(test::read_bytes(c.path) == c.new_bytes);
  }
}

TEST_CASE("crash consistency: when the disk fills, the last good checkpoint survives", "[io]") {
  // A file-size limit below the new file's size makes write(2) fail part-way, as a full disk does.
  TwoCheckpoints c;
  const test::ChildExit child = test::run_in_child([&] {
    std::signal(SIGXFSZ, SIG_IGN);  // report EFBIG instead of killing the process
    const rlimit limit{c.new_bytes.size() / 2, c.new_bytes.size() / 2};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 2;
    try {
      c.save(3);
    } catch (const IOError& e) {
      return std::string(e.what()).find("cannot write") != std::string::npos ? 0 : 3;
    }
    return 1;
  });
  INFO("child: " << child.describe());
  CHECK(child.exited_with(0));
  CHECK(test::read_bytes(c.path) == c.old_bytes);
  CHECK(c.tmp.files() == std::vector<std::string>{"ckpt.safetensors"});
}

TEST_CASE("crash consistency: only temporary files nobody is writing are removed", "[io]") {
  TempDir tmp;
  const std::string target = tmp / "ckpt.safetensors";
  // A process that has exited (and been reaped) cannot be writing.
  const test::ChildExit gone = test::run_in_child([] { return 0; });
  REQUIRE(gone.exited_with(0));
  const std::vector<std::string> stale = {"ckpt.safetensors.tmp-" + std::to_string(gone.pid) + "-0",
                                          "ckpt.safetensors.tmp-" + std::to_string(::getpid()) + "-999999"};
  const std::vector<std::string> kept = {
      "ckpt.safetensors.tmp-1-0",        // pid 1 exists: it may be saving right now
      "ckpt.safetensors.tmp-12x-0",      // not a name the writer makes
      "ckpt.safetensors.tmp-",           // not a name the writer makes
      "other.safetensors.tmp-1234567-0", // another target's
      "ckpt.safetensors.bak"};
  for (const auto& name : stale) test::write_bytes(tmp / name, "partial");
  for (const auto& name : kept) test::write_bytes(tmp / name, "keep");
  save_safetensors(target, {{"w", ones({2})}});
  std::vector<std::string> expected = kept;
  expected.push_back("ckpt.safetensors");
  std::sort(expected.begin(), expected.end());
  CHECK(tmp.files() == expected);
}

TEST_CASE("crash consistency: threads saving the same file never remove each other's temporary file", "[io]") {
  TempDir tmp;
  const std::string target = tmp / "ckpt.safetensors";
  std::atomic<int> failures{0};
  auto saver = [&](double value) {
    for (int i = 0; i < 25; ++i) {
      try {
        save_safetensors(target, {{"w", full({64}, value)}});
      } catch (const std::exception&) {
        ++failures;
      }
    }
  };
  std::thread a(saver, 1.0), b(saver, 2.0);
  a.join();
  b.join();
  CHECK(failures == 0);
  CHECK(tmp.files() == std::vector<std::string>{"ckpt.safetensors"});
  const double v = load_safetensors(target).at(0).second.to_vector().at(0);
  CHECK((v == 1.0 || v == 2.0));
}
