// The device registry and the plugin loader: finding devices, refusing bad plugin files with a clear
// DeviceError each, and never replacing a backend.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "xgrad/backend/plugin.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {

std::string bad_plugin(const std::string& name) {
  return std::string(XGRAD_TEST_PLUGIN_DIR) + "/libxgrad_bad_" + name + ".so";
}

// The message of the DeviceError `f` throws, or "<nothing thrown>".
std::string device_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const DeviceError& e) {
    return e.what();
  }
  return "<nothing thrown>";
}

// What xgrad_plugin_probe prints for `device` in a fresh process whose environment adds `env` ("VAR=value"):
// the loader state of this process (plugins already loaded) must not leak into the check.
std::string probe(const std::string& env, const std::string& device) {
  const std::string command = "env " + env + " " + XGRAD_TEST_PLUGIN_DIR + "/xgrad_plugin_probe " + device;
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, p)) out += buffer;
    pclose(p);
  }
  return out;
}

// A backend that claims testdev:0 (delegating everything to the CPU), to try to replace the plugin's.
class Impostor final : public Backend {
 public:
  std::string_view name() const override { return "impostor"; }
  Device device() const override { return {DeviceType::testdev, 0}; }
  void* allocate(std::size_t bytes) override { return cpu().allocate(bytes); }
  void deallocate(void* p, std::size_t bytes) noexcept override { cpu().deallocate(p, bytes); }
  void copy_from_host(void* d, const void* s, std::size_t n) override { cpu().copy_from_host(d, s, n); }
  void copy_to_host(void* d, const void* s, std::size_t n) override { cpu().copy_to_host(d, s, n); }
  void copy(void* d, const void* s, std::size_t n) override { cpu().copy(d, s, n); }
  void fill(DType t, void* d, std::int64_t n, double v) override { cpu().fill(t, d, n, v); }
  void accumulate(DType t, void* d, const void* s, std::int64_t n) override { cpu().accumulate(t, d, s, n); }
  void synchronize() override {}
  const ElementwiseKernels& elementwise() const override { return cpu().elementwise(); }
  const RandomKernels& random() const override { return cpu().random(); }
  const ReductionKernels& reduction() const override { return cpu().reduction(); }
  const ShapeKernels& shape() const override { return cpu().shape(); }
  const LinalgKernels& linalg() const override { return cpu().linalg(); }
  const OptimKernels& optim() const override { return cpu().optim(); }

 private:
  static Backend& cpu() { return backend(Device{}); }
};

}  // namespace

TEST_CASE("Devices: parse_device and device_str round trip, bad names are a ValueError", "[plugins]") {
  CHECK(parse_device("cpu") == Device{});
  CHECK(parse_device("cuda") == Device{DeviceType::cuda, 0});
  CHECK(parse_device("testdev:1") == Device{DeviceType::testdev, 1});
  CHECK(device_str(Device{DeviceType::cuda, 3}) == "cuda:3");
  CHECK(device_str(Device{}) == "cpu");
  CHECK_THROWS_AS(parse_device("gpu"), ValueError);
  CHECK_THROWS_WITH(parse_device("cuda:x"), Contains("cuda:x") && Contains("ordinal"));
  CHECK_THROWS_AS(parse_device("cuda:-1"), ValueError);
  CHECK_THROWS_WITH(backend(Device{DeviceType::cpu, 1}), Contains("cpu:1"));
}

TEST_CASE("Devices: the testdev plugin is found next to libxgrad and serves two devices", "[plugins]") {
  REQUIRE(device_count(DeviceType::testdev) == 2);
  Backend& full = backend(Device{DeviceType::testdev, 0});
  Backend& primitives = backend(Device{DeviceType::testdev, 1});
  CHECK(full.name() == "testdev");
  CHECK(full.device() == Device{DeviceType::testdev, 0});
  CHECK(full.nn() != nullptr);
  CHECK(full.attention() != nullptr);
  CHECK(primitives.nn() == nullptr);  // testdev:1 makes the ops compose the fused kernels
  CHECK(primitives.attention() == nullptr);
  CHECK_THROWS_WITH(backend(Device{DeviceType::testdev, 2}),
                    Contains("testdev:2 does not exist") && Contains("found 2 device(s)"));
  CHECK_FALSE(has_backend(Device{DeviceType::testdev, 5}));
}

TEST_CASE("Devices: a testdev tensor keeps its backend, copies through it, and is not host memory", "[plugins]") {
  const Device dev{DeviceType::testdev, 0};
  Tensor t = from_vector({1.5, -2.0, 3.25}, {3}, DType::float64, dev);
  CHECK(t.device() == dev);
  CHECK(&t.backend() == &backend(dev));
  CHECK(t.to_vector() == std::vector<double>{1.5, -2.0, 3.25});
  CHECK(t.to(Device{}).host_data<double>()[2] == 3.25);
  CHECK_THROWS_WITH(t.host_data<double>(), Contains("testdev:0") && Contains("not on the CPU"));
  CHECK(t.to(Device{DeviceType::testdev, 1}).to_vector() == t.to_vector());
}

TEST_CASE("Devices: a registered backend is never replaced", "[plugins]") {
  REQUIRE(has_backend(Device{DeviceType::testdev, 0}));
  CHECK_THROWS_WITH(register_backend(std::make_unique<Impostor>()),
                    Contains("testdev:0 already has a backend") && Contains("never replaced"));
  CHECK(backend(Device{DeviceType::testdev, 0}).name() == "testdev");
  CHECK_THROWS_AS(register_backend(nullptr), DeviceError);
}

TEST_CASE("Plugins: a file that is not a shared library is a DeviceError naming it", "[plugins]") {
  const auto path = std::filesystem::temp_directory_path() / ("libxgrad_text_" + std::to_string(::getpid()) + ".so");
  std::ofstream(path) << "this is not an ELF file\n";
  const std::string message = device_error([&] { load_plugin(path.string()); });
  std::filesystem::remove(path);
  CHECK_THAT(message, Contains(path.string()) && Contains("cannot be loaded as a shared library"));
  CHECK_THAT(device_error([] { load_plugin("/nonexistent/libxgrad_cuda.so"); }),
             Contains("/nonexistent/libxgrad_cuda.so") && Contains("cannot be loaded"));
}

TEST_CASE("Plugins: a plugin built for another ABI is refused before it runs", "[plugins]") {
  const std::string message = device_error([] { load_plugin(bad_plugin("wrong_abi")); });
  CHECK_THAT(message, Contains("built for another ABI") && Contains("xgrad-plugin/0") && Contains(XGRAD_PLUGIN_ABI) &&
                          Contains("Rebuild the plugin"));
}

TEST_CASE("Plugins: a library without the entry points is refused", "[plugins]") {
  CHECK_THAT(device_error([] { load_plugin(bad_plugin("no_entry_points")); }),
             Contains("not an xgrad plugin") && Contains("xgrad_plugin_abi"));
  CHECK_THAT(device_error([] { load_plugin(bad_plugin("no_create")); }),
             Contains("exports xgrad_plugin_abi but not xgrad_plugin_create"));
}

TEST_CASE("Plugins: a plugin that throws in create is a DeviceError carrying its message", "[plugins]") {
  CHECK_THAT(device_error([] { load_plugin(bad_plugin("throws_in_create")); }),
             Contains("xgrad_plugin_create failed") && Contains("simulated driver initialisation failure"));
}

TEST_CASE("Plugins: a plugin that finds no device says why when a device is asked for", "[plugins]") {
  CHECK_THAT(probe("XGRAD_TESTDEV_DEVICES=0", "testdev:0"),
             Contains("count 0") && Contains("testdev:0 is not available") &&
                 Contains("found no device: XGRAD_TESTDEV_DEVICES=0 asks for no device"));
  CHECK_THAT(probe("XGRAD_TESTDEV_DEVICES=seven", "testdev"),  // the plugin's create throws a ValueError
             Contains("xgrad_plugin_create failed") && Contains("XGRAD_TESTDEV_DEVICES must be 0, 1 or 2"));
  CHECK_THAT(probe("XGRAD_TESTDEV_DEVICES=1", "testdev:1"),
             Contains("count 1") && Contains("testdev:1 does not exist: the testdev plugin found 1 device(s)"));
}

TEST_CASE("Plugins: XGRAD_PLUGIN_PATH directories come first, then the installed and libxgrad directories", "[plugins]") {
  const char* saved = std::getenv("XGRAD_PLUGIN_PATH");
  const std::string before = saved ? saved : "";
  setenv("XGRAD_PLUGIN_PATH", "/opt/a::/opt/b", 1);
  const auto dirs = plugin_search_path();
  if (saved) setenv("XGRAD_PLUGIN_PATH", before.c_str(), 1);
  else unsetenv("XGRAD_PLUGIN_PATH");
  REQUIRE(dirs.size() == 4);
  CHECK(dirs[0] == "/opt/a");
  CHECK(dirs[1] == "/opt/b");
  CHECK(dirs[3] == (std::filesystem::path(XGRAD_TEST_PLUGIN_DIR).parent_path().parent_path() / "lib").string());
  // A device type whose plugin is missing, or finds no hardware, says so: with the paths searched, or with
  // the plugin's own reason (the CUDA plugin on a machine without a GPU).
  const std::string cuda = probe("XGRAD_PLUGIN_PATH=/nonexistent-xgrad-plugins", "cuda:0");
  if (cuda.find("\navailable") != std::string::npos) return;  // a machine with a GPU and the plugin
  CHECK_THAT(cuda, Contains("cuda:0 is not available"));
  const bool searched = cuda.find("no cuda plugin was found") != std::string::npos &&
                        cuda.find("/nonexistent-xgrad-plugins/libxgrad_cuda.so") != std::string::npos;
  const bool no_hardware = cuda.find("the cuda plugin") != std::string::npos && cuda.find("found no device") != std::string::npos;
  CHECK((searched || no_hardware));
}
