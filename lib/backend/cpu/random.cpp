// CPU random draws: every element is computed from its own Philox block, so the chunks of the pool
// need no shared state and the result is the same on any number of threads.
#include "xgrad/backend/random.hpp"

#include <cmath>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/dropout_factors.hpp"
#include "backend/cpu/parallel.hpp"

namespace xgrad {

namespace {

template <class T>
T uniform_value(std::uint64_t seed, std::uint64_t index, double low, double high) {
  const PhiloxBlock b = philox_block(seed, index);
  const T v = static_cast<T>(low + (high - low) * philox_unit_double(b.w[0], b.w[1]));
  // Rounding to float can land on `high`; the interval is half-open.
  return v < static_cast<T>(high) || !(high > low) ? v : std::nextafter(static_cast<T>(high), static_cast<T>(low));
}

class CpuRandomKernels final : public RandomKernels {
 public:
  void fill(Distribution dist, DType dtype, void* out, std::int64_t n, double a, double b,
            PhiloxKey key) const override {
    dispatch_floating(dtype, "random fill", [&](auto t) {
      using T = decltype(t);
      T* o = static_cast<T*>(out);
      cpu::parallel_elements(n, [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) {
          const std::uint64_t index = key.offset + static_cast<std::uint64_t>(i);
          switch (dist) {
            case Distribution::uniform: o[i] = uniform_value<T>(key.seed, index, a, b); break;
            case Distribution::normal:
              o[i] = static_cast<T>(a + b * normal_draw<double>(philox_block(key.seed, index)));
              break;
            case Distribution::truncated_normal:
              o[i] = static_cast<T>(a + b * truncated_normal_draw<double>(key.seed, index));
              break;
          }
        }
      });
    });
  }

  void dropout_mask(DType dtype, void* mask, std::int64_t n, double rate, PhiloxKey key) const override {
    dispatch_floating(dtype, "dropout", [&](auto t) {
      using T = decltype(t);
      T* m = static_cast<T*>(mask);
      const cpu::DropoutFactors<T> factors(rate);
      cpu::parallel_elements(n, [&](std::int64_t i0, std::int64_t i1) {
        factors.draw(key, static_cast<std::uint64_t>(i0), static_cast<std::uint64_t>(i1), m + i0);
      });
    });
  }
};

}  // namespace

const RandomKernels& CpuBackend::random() const {
  static const CpuRandomKernels kernels;
  return kernels;
}

}  // namespace xgrad
