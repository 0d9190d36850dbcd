// DistributedDataParallel against the single-process run: the ranks' shards together are the global batch,
// so after the same Adam steps every rank must hold the parameters one process would (float64, dropout 0).
#include <catch2/catch.hpp>

#include <numeric>

#include "lm_problem.hpp"
#include "world.hpp"
#include "xgrad/dist/ddp.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using namespace xgrad::dist;
using namespace xgrad::dist::test;

namespace {

constexpr int kSteps = 5;
constexpr double kTolerance = 1e-6;  // float64: the sums differ only in order (observed ~1e-15)

// Buckets small enough that the 7k-parameter model is split into several.
constexpr DdpOptions kSmallBuckets{.first_bucket_bytes = 1024, .bucket_cap_bytes = 8192};

// Trains `model` under DDP for `steps` steps, each rank on its shard of the global batch.
void train_data_parallel(nn::TransformerLM& model, DistributedDataParallel& ddp, int steps,
                         std::int64_t rows = kGlobalRows) {
  optim::Adam adam(model.named_trainable_parameters(), {.lr = 1e-2});
  const Shard shard = shard_rows(rows, world());
  ddp.set_share(shard);
  for (int s = 0; s < steps; ++s) {
    adam.zero_grad();
    lm_loss(model, take(global_batch(s, rows), shard)).backward();
    ddp.synchronize();
    adam.step();
  }
}

// Whether every parameter of `model` holds the same bytes on every rank.
bool identical_on_every_rank(const nn::Module& model) {
  bool same = true;
  for (const auto& [name, p] : model.named_parameters()) same = test::same_bits_on_every_rank(p) && same;
  return same;
}

// Whether every trainable parameter's grad() is a view into one of ddp's bucket buffers.
bool grads_are_bucket_views(const nn::Module& model, const DistributedDataParallel& ddp) {
  for (const auto& [name, p] : model.named_trainable_parameters()) {
    const auto& storage = p.grad().impl().storage;
    const bool in_a_bucket = std::any_of(ddp.buckets().begin(), ddp.buckets().end(),
                                         [&](const Bucket& b) { return b.buffer.impl().storage == storage; });
    if (!in_a_bucket) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("DDP: N ranks x shards of a batch of 32 match 1 process x 32 after 5 Adam steps (float64)", "[ddp]") {
  for (const bool overlap : {false, true}) {
    for (const DdpOptions& base : {DdpOptions{}, kSmallBuckets}) {
      DdpOptions options = base;
      options.overlap = overlap;
      // Each rank starts from another initialisation: the construction must broadcast rank 0's.
      nn::TransformerLM model(small_lm(100 + std::uint64_t(world().rank())));
      DistributedDataParallel ddp(model, world(), options);
      auto reference = copy_of(model, small_lm(7));
      const auto initial = copy_of(model, small_lm(7));
      train_single_process(*reference, kSteps);
      train_data_parallel(model, ddp, kSteps);

      INFO((overlap ? "overlap" : "no overlap") << ", " << ddp.buckets().size() << " buckets, rank "
                                                << world().rank() << " of " << world().size());
      CHECK(max_parameter_difference(model, *reference) <= kTolerance);
      CHECK(max_parameter_difference(model, *initial) > 1e-3);  // the steps did move the weights
      CHECK(identical_on_every_rank(model));
      CHECK(grads_are_bucket_views(model, ddp));
      CHECK(ddp.stats().synchronizations == kSteps);
    }
  }
}

TEST_CASE("DDP: overlapping the allreduce with backward gives bit-identical parameters", "[ddp]") {
  nn::TransformerLM a(small_lm(3)), b(small_lm(3));
  DistributedDataParallel ddp_a(a, world(), {.first_bucket_bytes = 1024, .bucket_cap_bytes = 8192, .overlap = false});
  DistributedDataParallel ddp_b(b, world(), {.first_bucket_bytes = 1024, .bucket_cap_bytes = 8192, .overlap = true});
  train_data_parallel(a, ddp_a, 3);
  train_data_parallel(b, ddp_b, 3);
  CHECK(max_parameter_difference(a, b) == 0.0);
}

TEST_CASE("DDP: a model with gradient checkpointing, its allreduce overlapped, trains bit-identically to one without",
          "[ddp]") {
  // The recomputation's backward runs on a tape of its own with the leaf hooks suspended; each parameter's
  // hook fires once, from the outer walk, after its block's checkpoint (a second firing would throw).
  nn::TransformerLMOptions checkpointed = small_lm(3);
  checkpointed.gradient_checkpointing = true;
  nn::TransformerLM a(small_lm(3)), b(checkpointed);
  DistributedDataParallel ddp_a(a, world(), {.first_bucket_bytes = 1024, .bucket_cap_bytes = 8192, .overlap = true});
  DistributedDataParallel ddp_b(b, world(), {.first_bucket_bytes = 1024, .bucket_cap_bytes = 8192, .overlap = true});
  train_data_parallel(a, ddp_a, 3);
  train_data_parallel(b, ddp_b, 3);
  CHECK(max_parameter_difference(a, b) == 0.0);
  CHECK(identical_on_every_rank(b));
}

TEST_CASE("DDP: buckets hold the parameters last-registered first, the first one small, the rest capped", "[ddp]") {
  nn::TransformerLM model(small_lm(5));
  DistributedDataParallel ddp(model, world(), kSmallBuckets);
  std::vector<std::string> reversed;
  for (const auto& [name, p] : model.named_trainable_parameters()) reversed.insert(reversed.begin(), name);
  std::vector<std::string> in_buckets;
  const auto& buckets = ddp.buckets();
  REQUIRE(buckets.size() >= 3);
  std::int64_t total_bytes = 0;
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    in_buckets.insert(in_buckets.end(), buckets[b].names.begin(), buckets[b].names.end());
    const std::int64_t bytes = buckets[b].buffer.numel() * 8;
    total_bytes += bytes;
    const std::int64_t limit = b == 0 ? 1024 : 8192;
    // Closed at the first parameter that reaches the limit: without its last parameter it was below it.
    const Tensor last = model.find(buckets[b].names.back());
    INFO("bucket " << b << ": " << bytes << " bytes");
    if (b + 1 < buckets.size()) CHECK(bytes >= limit);
    CHECK(bytes - last.numel() * 8 < limit);
  }
  CHECK(in_buckets == reversed);
  CHECK(ddp.stats().bytes_per_step == total_bytes);
  CHECK(total_bytes == model.num_parameters() * 8);
}

TEST_CASE("DDP: backward accumulates into the bucket views, nothing replaces them", "[ddp]") {
  nn::TransformerLM model(small_lm(9));
  DistributedDataParallel ddp(model, world(), kSmallBuckets);
  std::vector<const void*> before;
  for (const auto& [name, p] : model.named_trainable_parameters()) before.push_back(p.grad().raw_data());
  for (int s = 0; s < 2; ++s) {
    model.zero_grad();
    lm_loss(model, take(global_batch(s), shard_rows(kGlobalRows, world()))).backward();
    ddp.synchronize();
  }
  std::vector<const void*> after;
  for (const auto& [name, p] : model.named_trainable_parameters()) after.push_back(p.grad().raw_data());
  CHECK(after == before);
  CHECK(grads_are_bucket_views(model, ddp));
}

TEST_CASE("DDP: a gradient the caller cleared or replaced is brought back into its bucket", "[ddp]") {
  nn::TransformerLM model(small_lm(11));
  DistributedDataParallel ddp(model, world());
  auto reference = copy_of(model, small_lm(7));
  train_single_process(*reference, 1);

  optim::Adam adam(model.named_trainable_parameters(), {.lr = 1e-2});
  const Shard shard = shard_rows(kGlobalRows, world());
  ddp.set_share(shard);
  Tensor head = model.find("head.kernel"), embedding = model.find("token_embedding.embeddings");
  head.set_grad(Tensor());                                       // cleared, as set_to_none would
  embedding.set_grad(zeros(embedding.shape(), DType::float64));  // replaced by a tensor of its own
  lm_loss(model, take(global_batch(0), shard)).backward();
  ddp.synchronize();
  adam.step();
  CHECK(max_parameter_difference(model, *reference) <= kTolerance);
  CHECK(grads_are_bucket_views(model, ddp));
}

TEST_CASE("DDP: gradients that exist before wrapping are kept, now inside the buckets", "[ddp]") {
  nn::TransformerLM model(small_lm(19));
  for (const auto& [name, t] : model.state()) world().broadcast(t, 0);  // the weights DDP would leave
  lm_loss(model, take(global_batch(0), shard_rows(kGlobalRows, world()))).backward();
  std::vector<std::vector<double>> before;
  for (const auto& [name, p] : model.named_trainable_parameters()) before.push_back(p.grad().to_vector());
  DistributedDataParallel ddp(model, world(), kSmallBuckets);
  std::vector<std::vector<double>> after;
  for (const auto& [name, p] : model.named_trainable_parameters()) after.push_back(p.grad().to_vector());
  CHECK(after == before);
  CHECK(grads_are_bucket_views(model, ddp));
}

TEST_CASE("DDP: micro-batches accumulated inside no_sync, reduced once, match the full batch", "[ddp]") {
  for (const bool overlap : {false, true}) {
    nn::TransformerLM model(small_lm(13));
    DistributedDataParallel ddp(model, world(), {.first_bucket_bytes = 1024, .bucket_cap_bytes = 8192, .overlap = overlap});
    auto reference = copy_of(model, small_lm(7));
    train_single_process(*reference, 1);

    // This rank's shard in two halves; each half's mean loss weighs rows(half) / rows(shard).
    const Shard shard = shard_rows(kGlobalRows, world());
    const Batch mine = take(global_batch(0), shard);
    const Shard first = shard_rows(shard.rows(), 0, 2), second = shard_rows(shard.rows(), 1, 2);
    optim::Adam adam(model.named_trainable_parameters(), {.lr = 1e-2});
    ddp.set_share(shard);
    {
      auto no_sync = ddp.no_sync();
      mul(lm_loss(model, take(mine, first)), first.share()).backward();
    }
    mul(lm_loss(model, take(mine, second)), second.share()).backward();
    ddp.synchronize();
    adam.step();
    INFO((overlap ? "overlap" : "no overlap"));
    CHECK(max_parameter_difference(model, *reference) <= kTolerance);
  }
}

TEST_CASE("DDP with overlap: a second backward before synchronize() is an error on every rank", "[ddp]") {
  nn::TransformerLM model(small_lm(15));
  DistributedDataParallel ddp(model, world(), {.overlap = true});
  const Batch mine = take(global_batch(0), shard_rows(kGlobalRows, world()));
  lm_loss(model, mine).backward();
  std::string message;
  try {
    lm_loss(model, mine).backward();
  } catch (const ValueError& e) {
    message = e.what();
  }
  ddp.synchronize();  // completes the reductions the first backward started
  CHECK_THAT(message, Catch::Contains("a second backward() reached the parameters before synchronize()"));
}

TEST_CASE("allreduce_gradients: a hand-written loop averages like one process", "[ddp]") {
  // 12 rows split evenly over 1, 2, 3, 4 or 6 ranks, so the plain mean of the ranks' gradients is exact
  constexpr std::int64_t rows = 12;
  nn::TransformerLM model(small_lm(17));
  for (const auto& [name, t] : model.state()) world().broadcast(t, 0);
  auto reference = copy_of(model, small_lm(7));
  train_single_process(*reference, 3, rows);

  optim::Adam adam(model.named_trainable_parameters(), {.lr = 1e-2});
  const Shard shard = shard_rows(rows, world());
  for (int s = 0; s < 3; ++s) {
    adam.zero_grad();
    lm_loss(model, take(global_batch(s, rows), shard)).backward();
    allreduce_gradients(model, world());
    adam.step();
  }
  CHECK(max_parameter_difference(model, *reference) <= kTolerance);
  CHECK(identical_on_every_rank(model));
}
