// The CPU attention kernels draw their dropout factors from the Philox key wherever they need them, instead of
// reading a kept (B, N, T, S) mask: the output and every gradient must be bitwise those of the kept mask that
// RandomKernels::dropout_mask writes for the same key, on the register-tiled and the GEMM forward alike.
#include <catch2/catch.hpp>

#include <vector>

#include "xgrad/backend/attention.hpp"
#include "xgrad/backend/random.hpp"
#include "xgrad/ops/attention.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;

namespace {

// A tensor of standard normal values in `dtype`, the same for the same seed.
Tensor normal_values(const Shape& shape, DType dtype, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen, dtype);
}

}  // namespace

TEST_CASE("attention kernels: drawn dropout factors give bitwise the kept mask's output and gradients",
          "[attention]") {
  const AttentionKernels& kernels = *backend(Device{}).attention();
  REQUIRE(kernels.regenerates_dropout());
  const double rate = 0.3;
  const PhiloxKey key{77, 12};  // an offset that is not a multiple of 4 blocks' elements
  for (const DType dt : {DType::float32, DType::float64})
    for (const auto [T, S, Dk, Dv] : {std::array<std::int64_t, 4>{37, 37, 5, 16}, {20, 70, 3, 7}, {13, 45, 8, 80}})
      for (const bool causal : {false, true}) {
        INFO("T=" << T << " S=" << S << " Dv=" << Dv << (causal ? " causal" : "")
                  << (dt == DType::float32 ? " float32" : " float64"));
        const AttentionDims d{2, T, S, 2, Dk, Dv};
        const Tensor q = normal_values({2, T, 2, Dk}, dt, 1), k = normal_values({2, S, 2, Dk}, dt, 2);
        const Tensor v = normal_values({2, S, 2, Dv}, dt, 3), dout = normal_values({2, T, 2, Dv}, dt, 4);
        Tensor mask = Tensor::empty({2, 2, T, S}, dt);
        backend(Device{}).random().dropout_mask(dt, mask.raw_data(), mask.numel(), rate, key);
        const AttentionDropout kept{.mask = mask.raw_data()};
        const AttentionDropout drawn{.drawn = true, .key = key, .rate = rate};
        std::vector<double> results[2];
        for (int way = 0; way < 2; ++way) {
          const AttentionDropout& dropout = way == 0 ? kept : drawn;
          Tensor out = Tensor::empty({2, T, 2, Dv}, dt);
          Tensor dq = zeros(q.shape(), dt), dk = zeros(k.shape(), dt), dv = zeros(v.shape(), dt);
          Tensor dlogits = Tensor::empty({2, 2, T, S}, dt);
          kernels.forward(dt, d, q.raw_data(), k.raw_data(), v.raw_data(), 0.4, {}, {}, causal, dropout, nullptr,
                          out.raw_data());
          kernels.backward(dt, d, q.raw_data(), k.raw_data(), v.raw_data(), nullptr, {}, {}, dropout, 0.4, causal,
                           dout.raw_data(), nullptr, false, dq.raw_data(), dk.raw_data(), dv.raw_data(),
                           dlogits.raw_data());
          for (const Tensor& t : {out, dq, dk, dv, dlogits}) {
            const auto values = t.to_vector();
            results[way].insert(results[way].end(), values.begin(), values.end());
          }
        }
        REQUIRE(results[0].size() == results[1].size());
        std::size_t differing = 0;
        for (std::size_t i = 0; i < results[0].size(); ++i) differing += results[0][i] != results[1][i];
        CHECK(differing == 0);
        // The dropout did act: without it the output differs.
        Tensor plain = Tensor::empty({2, T, 2, Dv}, dt);
        kernels.forward(dt, d, q.raw_data(), k.raw_data(), v.raw_data(), 0.4, {}, {}, causal, {}, nullptr,
                        plain.raw_data());
        CHECK(plain.to_vector() != std::vector<double>(results[0].begin(), results[0].begin() + plain.numel()));
      }
}

TEST_CASE("attention: a recording forward with dropout keeps no mask, and its gradients follow the same draws",
          "[attention]") {
  // The returned scores after dropout are computed from a kept mask, so that path is the reference here.
  const Tensor q = normal_values({2, 9, 2, 4}, DType::float64, 5).set_requires_grad();
  const Tensor k = normal_values({2, 9, 2, 4}, DType::float64, 6).set_requires_grad();
  const Tensor v = normal_values({2, 9, 2, 4}, DType::float64, 7).set_requires_grad();
  std::vector<double> grads[2];
  Tensor outputs[2];
  for (int with_scores = 0; with_scores < 2; ++with_scores) {
    Generator gen(3);
    AttentionOptions o;
    o.causal = true;
    o.dropout = 0.4;
    o.training = true;
    o.generator = &gen;
    o.return_scores = with_scores == 1;
    o.scores_after_dropout = with_scores == 1;
    outputs[with_scores] = attention(q, k, v, o).output;
    CHECK(gen.offset() == dropout_blocks(2 * 2 * 9 * 9));  // one reservation either way: the same draws
    for (const Tensor* t : {&q, &k, &v}) t->impl().grad = Tensor();
    outputs[with_scores].backward(normal_values({2, 9, 2, 4}, DType::float64, 8));
    for (const Tensor* t : {&q, &k, &v}) {
      const auto g = t->grad().to_vector();
      grads[with_scores].insert(grads[with_scores].end(), g.begin(), g.end());
    }
  }
  CHECK(outputs[0].to_vector() == outputs[1].to_vector());
  CHECK(grads[0] == grads[1]);
}
