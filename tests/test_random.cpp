// Philox4x32-10 and the generators built on it: known answers, counter discipline, and seeds that make
// layers differ while a program stays reproducible.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "xgrad/backend/random.hpp"
#include "xgrad/backend/threads.hpp"
#include "xgrad/nn/nn.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

TEST_CASE("Philox4x32-10 gives Random123's known answers", "[random]") {
  // Random123's kat_vectors for philox4x32 with 10 rounds: counter, key, expected output.
  const PhiloxBlock zero = philox4x32_10(0, 0, 0, 0, 0);
  CHECK(zero.w[0] == 0x6627e8d5u);
  CHECK(zero.w[1] == 0xe169c58du);
  CHECK(zero.w[2] == 0xbc57ac4cu);
  CHECK(zero.w[3] == 0x9b00dbd8u);
  const PhiloxBlock ones = philox4x32_10(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, ~std::uint64_t{0});
  CHECK(ones.w[0] == 0x408f276du);
  CHECK(ones.w[3] == 0x6d5451fdu);
  const PhiloxBlock pi = philox4x32_10(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0x299f31d0a4093822ull);
  CHECK(pi.w[0] == 0xd16cfe09u);
  CHECK(pi.w[1] == 0x94fdccebu);
  CHECK(pi.w[2] == 0x5001e420u);
  CHECK(pi.w[3] == 0x24126ea1u);
}

TEST_CASE("Generator: its state is (seed, offset) and each draw uses the next block", "[random]") {
  Generator g(42);
  CHECK(g.initial_seed() == 42);
  const PhiloxBlock b0 = philox_block(42, 0), b1 = philox_block(42, 1);
  CHECK(g.next() == ((std::uint64_t{b0.w[0]} << 32) | b0.w[1]));
  CHECK(g.uniform() == philox_unit_double(b1.w[0], b1.w[1]));
  CHECK(g.offset() == 2);
  const PhiloxKey reserved = g.reserve(10);
  CHECK(reserved.seed == 42);
  CHECK(reserved.offset == 2);
  CHECK(g.offset() == 12);
  Generator replay(7);
  replay.seed(42);
  replay.set_offset(1);
  CHECK(replay.uniform() == philox_unit_double(b1.w[0], b1.w[1]));
}

TEST_CASE("randn and uniform: element i is block offset + i, whatever the thread count", "[random]") {
  Generator a(3);
  const Tensor u = uniform({5}, a, -2.0, 2.0, DType::float64);
  for (std::int64_t i = 0; i < 5; ++i) {
    const PhiloxBlock b = philox_block(3, static_cast<std::uint64_t>(i));
    CHECK(u.at({i}) == -2.0 + 4.0 * philox_unit_double(b.w[0], b.w[1]));
  }
  Generator n(4);
  // Box-Muller by hand for element 2: z = sqrt(-2 ln(1 - u1)) cos(2 pi u2).
  const PhiloxBlock b = philox_block(4, 2);
  const double u1 = 1.0 - philox_unit_double(b.w[0], b.w[1]), u2 = philox_unit_double(b.w[2], b.w[3]);
  CHECK(randn({3}, n, DType::float64).at({2}) == Approx(std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2)).epsilon(1e-15));
  const int threads = num_threads();
  std::vector<double> masks[2];
  for (int t : {1, 3}) {
    set_num_threads(t);
    Generator g(11);
    masks[t == 3] = dropout(ones({100003}, DType::float32), 0.3, g).to_vector();
  }
  set_num_threads(threads);
  CHECK(masks[0] == masks[1]);
  // The keep rate is 1 - rate: 70 % of 100003 elements, within 5 standard deviations.
  double kept = 0;
  for (double m : masks[0]) kept += m != 0.0;
  CHECK(std::abs(kept - 0.7 * 100003) < 5 * std::sqrt(100003 * 0.21));
}

TEST_CASE("Seeds: two layers built without a seed differ, manual_seed makes a program repeat", "[random][nn]") {
  manual_seed(123);
  nn::Dense first(nn::DenseOptions{.units = 16, .input_dim = 8});
  nn::Dense second(nn::DenseOptions{.units = 16, .input_dim = 8});
  CHECK(first.kernel().to_vector() != second.kernel().to_vector());
  CHECK(first.options().seed != second.options().seed);  // the seed each drew is kept in its options

  nn::Dropout drop_a(0.5), drop_b(0.5);
  const Tensor x = ones({64}, DType::float32);
  CHECK(drop_a(x).to_vector() != drop_b(x).to_vector());

  manual_seed(123);  // the same program again: the same seeds in construction order
  nn::Dense again(nn::DenseOptions{.units = 16, .input_dim = 8});
  CHECK(again.kernel().to_vector() == first.kernel().to_vector());
  CHECK(again.options().seed == first.options().seed);

  // An explicit seed wins over the default generator.
  manual_seed(1);
  nn::Dense seeded_a(nn::DenseOptions{.units = 4, .input_dim = 3, .seed = 99});
  manual_seed(2);
  nn::Dense seeded_b(nn::DenseOptions{.units = 4, .input_dim = 3, .seed = 99});
  CHECK(seeded_a.kernel().to_vector() == seeded_b.kernel().to_vector());
}

TEST_CASE("Seeds: next_seed hands out distinct seeds", "[random]") {
  manual_seed(5);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(next_seed());
  CHECK(seen.size() == 1000);
}
