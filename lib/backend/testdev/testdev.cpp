// The testdev plugin: two devices backed by host memory that only the plugin may touch.
//   testdev:0 has every kernel table, so its results must equal the CPU's bit for bit;
//   testdev:1 leaves the fused tables (nn, attention) out, so the ops must compose them from primitives.
// Its allocator fills new blocks and poisons freed ones with 0xFF bytes (NaN for floats, -1 for int64):
// a kernel that reads memory nobody wrote, or memory already freed, produces NaN instead of a plausible
// number. Tensors on it are not host tensors: Tensor::host_data throws, so any host-only path fails loudly.
// XGRAD_TESTDEV_DEVICES=<n> sets how many devices it reports (default 2; 0 makes it report "no device").
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "xgrad/backend/plugin.hpp"

namespace {

using namespace xgrad;

constexpr unsigned char kPoison = 0xFF;

class TestDevice final : public Backend {
 public:
  TestDevice(int index, bool fused) : index_(index), fused_(fused), cpu_(backend(Device{})) {}

  std::string_view name() const override { return "testdev"; }
  Device device() const override { return {DeviceType::testdev, index_}; }

  void* allocate(std::size_t bytes) override {
    const std::size_t size = (std::max<std::size_t>(bytes, 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, size);
    if (!p) throw std::bad_alloc();
    std::memset(p, kPoison, size);
    return p;
  }
  void deallocate(void* ptr, std::size_t bytes) noexcept override {
    if (ptr) std::memset(ptr, kPoison, bytes);
    std::free(ptr);
  }
  void copy_from_host(void* dst, const void* src, std::size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, std::size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy(void* dst, const void* src, std::size_t bytes) override { cpu_.copy(dst, src, bytes); }
  void fill(DType dtype, void* dst, std::int64_t n, double value) override { cpu_.fill(dtype, dst, n, value); }
  void accumulate(DType dtype, void* dst, const void* src, std::int64_t n) override {
    cpu_.accumulate(dtype, dst, src, n);
  }
  void synchronize() override {}

  const ElementwiseKernels& elementwise() const override { return cpu_.elementwise(); }
  const RandomKernels& random() const override { return cpu_.random(); }
  const ReductionKernels& reduction() const override { return cpu_.reduction(); }
  const ShapeKernels& shape() const override { return cpu_.shape(); }
  const LinalgKernels& linalg() const override { return cpu_.linalg(); }
  const OptimKernels& optim() const override { return cpu_.optim(); }
  const NNKernels* nn() const override { return fused_ ? cpu_.nn() : nullptr; }
  const AttentionKernels* attention() const override { return fused_ ? cpu_.attention() : nullptr; }

 private:
  int index_;
  bool fused_;
  Backend& cpu_;
};

}  // namespace

XGRAD_PLUGIN_ENTRY_POINTS;

const char* xgrad_plugin_abi(void) { return XGRAD_PLUGIN_ABI; }

void xgrad_plugin_create(xgrad::PluginReport* report) {
  report->type = DeviceType::testdev;
  int count = 2;
  if (const char* env = std::getenv("XGRAD_TESTDEV_DEVICES")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || n < 0 || n > 2)
      throw ValueError(fmt::format("XGRAD_TESTDEV_DEVICES must be 0, 1 or 2, got '{}'", env));
    count = static_cast<int>(n);
  }
  for (int i = 0; i < count; ++i) report->devices.push_back(std::make_unique<TestDevice>(i, i == 0));
  if (count == 0) report->no_device_reason = "XGRAD_TESTDEV_DEVICES=0 asks for no device";
}
