// Tape semantics, pinned with hand-made float64 ops recorded through the public record() API
// (hand_ops.hpp); the expected gradients are worked out by hand in the comments.
#include <catch2/catch.hpp>

#include <thread>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/tensor/creation.hpp"
#include "hand_ops.hpp"

using namespace xgrad;
using namespace xgrad::test;
using Catch::Matchers::Contains;
using Values = std::vector<double>;

namespace {

double square(double x) { return x * x; }
Tensor squared(const Tensor& x) { return hand_unary(x, square, [](double v, std::int64_t) { return 2 * v; }); }

// loss = sum(x^2)  =>  dloss/dx = 2x
Tensor sum_of_squares(const Tensor& x) { return hand_sum(squared(x)); }

}  // namespace

TEST_CASE("autograd: gradients accumulate across backward calls until zero_grad", "[autograd]") {
  clear_tape();
  Tensor x = leaf({1, -2, 3}, {3});
  sum_of_squares(x).backward();
  CHECK(x.grad().to_vector() == Values{2, -4, 6});
  sum_of_squares(x).backward();
  CHECK(x.grad().to_vector() == Values{4, -8, 12});
  x.zero_grad();
  CHECK(x.grad().to_vector() == Values{0, 0, 0});
  sum_of_squares(x).backward();
  CHECK(x.grad().to_vector() == Values{2, -4, 6});
}

TEST_CASE("autograd: zero_grad fills the existing buffer instead of replacing it", "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  x.zero_grad();  // no gradient yet: stays undefined
  CHECK_FALSE(x.grad().defined());
  sum_of_squares(x).backward();
  Tensor before = x.grad();
  const void* buffer = before.raw_data();
  x.zero_grad();
  CHECK(x.grad().is_same(before));
  CHECK(x.grad().raw_data() == buffer);
  // The next backward accumulates into that same buffer, so a held handle sees it.
  sum_of_squares(x).backward();
  CHECK(before.to_vector() == Values{2, 4});
}

TEST_CASE("autograd: NoGradGuard nests and restores recording", "[autograd]") {
  clear_tape();
  Tensor x = leaf({1, 2}, {2});
  CHECK(grad_enabled());
  {
    NoGradGuard outer;
    CHECK_FALSE(grad_enabled());
    {
      NoGradGuard inner;
      CHECK_FALSE(grad_enabled());
    }
    CHECK_FALSE(grad_enabled());  // the inner guard restores "off", not "on"
    Tensor y = squared(x);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
    CHECK(tape_size() == 0);
  }
  CHECK(grad_enabled());
  Tensor y = squared(x);
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  CHECK(tape_size() == 1);
  clear_tape();
}

TEST_CASE("autograd: detach shares data but stops gradients", "[autograd]") {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor y = squared(x);
  Tensor frozen = y.detach();
  CHECK_FALSE(frozen.requires_grad());
  CHECK(frozen.is_leaf());
  CHECK(frozen.raw_data() == y.raw_data());
  // loss = sum(frozen * x) with frozen = x^2 held constant  =>  dloss/dx = x^2 (not 3x^2)
  hand_sum(hand_mul(frozen, x)).backward();
  CHECK(x.grad().to_vector() == Values{1, 4, 9});
}

TEST_CASE("autograd: retain_graph allows a second backward through the same graph", "[autograd]") {
  Tensor x = leaf({1, -2}, {2});
  Tensor loss = sum_of_squares(x);
  loss.backward(BackwardOptions{Tensor(), true});
  CHECK(x.grad().to_vector() == Values{2, -4});
  loss.backward();  // the retained graph is consumed now
  CHECK(x.grad().to_vector() == Values{4, -8});
  CHECK_THROWS_AS(loss.backward(), AutogradError);
}

TEST_CASE("autograd: backward on a consumed graph throws AutogradError", "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = squared(x);
  Tensor loss = hand_sum(y);
  loss.backward();
  CHECK_THROWS_AS(loss.backward(), AutogradError);
  CHECK_THROWS_WITH(loss.backward(), Contains("consumed"));
  // A new op on the consumed interior y cannot reach x either.
  Tensor again = hand_sum(y);
  CHECK_THROWS_AS(again.backward(), AutogradError);
  CHECK_THROWS_WITH(again.backward(), Contains("retain_graph"));
  CHECK(x.grad().to_vector() == Values{2, 4});  // unchanged by the failed attempts
  clear_tape();
}

TEST_CASE("autograd: backward of one loss leaves another graph on the tape intact", "[autograd]") {
  clear_tape();
  Tensor x = leaf({1, 2}, {2});
  Tensor first = hand_sum(hand_scale(x, 3.0));  // d/dx = 3
  Tensor second = sum_of_squares(x);           // d/dx = 2x
  second.backward();
  CHECK(x.grad().to_vector() == Values{2, 4});
  CHECK(tape_size() == 2);  // first's two nodes remain
  first.backward();
  CHECK(x.grad().to_vector() == Values{5, 7});
  CHECK(tape_size() == 0);
}

TEST_CASE("autograd: backward checks the output and its gradient", "[autograd]") {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor y = squared(x);
  CHECK_THROWS_AS(y.backward(), AutogradError);  // non-scalar without a gradient
  CHECK_THROWS_WITH(y.backward(), Contains("(3,)"));
  CHECK_THROWS_AS(y.backward(ones({2}, DType::float64)), ShapeError);
  CHECK_THROWS_WITH(y.backward(ones({2}, DType::float64)), Contains("(2,)") && Contains("(3,)"));
  CHECK_THROWS_AS(y.backward(ones({3}, DType::float32)), ShapeError);
  Tensor constant = from_vector({1, 2}, {2}, DType::float64);
  CHECK_THROWS_AS(constant.backward(ones({2}, DType::float64)), AutogradError);
  // With an explicit gradient g: d(sum(g * x^2))/dx = 2 g x.
  y.backward(from_vector({1, 0.5, -1}, {3}, DType::float64));
  CHECK(x.grad().to_vector() == Values{2, 2, -6});
}

TEST_CASE("autograd: backward from a leaf adds the seed to its own gradient", "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  x.backward(from_vector({3, 4}, {2}, DType::float64));
  x.backward(from_vector({3, 4}, {2}, DType::float64));
  CHECK(x.grad().to_vector() == Values{6, 8});
}

TEST_CASE("autograd: only leaves keep gradients, interior tensors do not", "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = squared(x);
  hand_sum(y).backward();
  CHECK_FALSE(y.grad().defined());
  CHECK_FALSE(y.is_leaf());
  CHECK_THROWS_AS(y.set_requires_grad(false), AutogradError);
}

TEST_CASE("autograd: an input used twice accumulates both contributions", "[autograd]") {
  Tensor x = leaf({1, -3}, {2});
  // loss = sum(x * x)  =>  dloss/dx = x + x
  hand_sum(hand_mul(x, x)).backward();
  CHECK(x.grad().to_vector() == Values{2, -6});
  // Diamond: loss = sum(3y * y^2) with y = x^2. y feeds two ops, so its gradient has two parts:
  // dloss/dy = 3 * y^2 + 3y * 2y = 9y^2, and dloss/dx = 9y^2 * 2x = 18 x^5.
  Tensor z = leaf({1, 2}, {2});
  Tensor y = squared(z);
  hand_sum(hand_mul(hand_scale(y, 3.0), squared(y))).backward();
  CHECK(z.grad().to_vector() == Values{18, 18 * 32});
}

TEST_CASE("autograd: a chain of 100,000 ops backpropagates without recursion", "[autograd]") {
  clear_tape();
  Tensor x = leaf({1.5}, {1});
  Tensor y = x;
  // Factors 2 and 0.5 alternate, so the chain's derivative is exactly 1.
  for (int i = 0; i < 100000; ++i) y = hand_scale(y, i % 2 == 0 ? 2.0 : 0.5);
  CHECK(tape_size() == 100000);
  CHECK(y.item() == 1.5);
  y.backward(ones({1}, DType::float64));
  CHECK(x.grad().item() == 1.0);
  CHECK(tape_size() == 0);
}

TEST_CASE("autograd: dead branches are compacted and live ones survive renumbering", "[autograd]") {
  clear_tape();
  Tensor x = leaf({2.0}, {1});
  Tensor live = x;
  for (int i = 0; i < 6000; ++i) {
    hand_scale(x, 3.0);  // output dropped at once: a dead branch
    live = hand_scale(live, i % 2 == 0 ? 2.0 : 0.5);
  }
  // 12,000 nodes were recorded; the 6,000 dead ones cannot all still be there.
  CHECK(tape_size() < 12000);
  CHECK(tape_size() >= 6000);
  live.backward(ones({1}, DType::float64));
  CHECK(x.grad().item() == 1.0);  // no dead branch's 3 leaked in
  CHECK(tape_size() == 0);
}

TEST_CASE("autograd: saved tensors are freed by backward unless the graph is retained", "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  std::weak_ptr<Storage> saved;
  Tensor loss;
  {
    Tensor weights = from_vector({3, 4}, {2}, DType::float64);
    saved = weights.impl().storage;
    loss = hand_sum(hand_mul(x, weights));  // saves weights for x's gradient
  }
  CHECK_FALSE(saved.expired());  // only the backward closure holds it now
  loss.backward(BackwardOptions{Tensor(), true});
  CHECK_FALSE(saved.expired());
  CHECK(x.grad().to_vector() == Values{3, 4});
  loss.backward();
  CHECK(saved.expired());
  CHECK(x.grad().to_vector() == Values{6, 8});
}

TEST_CASE("autograd: save_if keeps only the handles a backward needs", "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  Tensor weights = from_vector({3, 4}, {2}, DType::float64);
  const long before = weights.impl().storage.use_count();
  Tensor y = hand_mul(weights, x);  // x's data is needed by no gradient: weights needs none
  CHECK(x.impl().storage.use_count() == 1);
  CHECK(weights.impl().storage.use_count() == before + 1);
  clear_tape();
}

TEST_CASE("autograd: the backward context rejects misuse by op authors", "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  Tensor c = from_vector({1, 1}, {2}, DType::float64);
  SECTION("a gradient of the wrong shape names the op") {
    Tensor y = Tensor::empty({2}, DType::float64);
    record("bad_shape", {&x}, y, [](BackwardContext& ctx) { ctx.accumulate(0, ones({3}, DType::float64)); });
    CHECK_THROWS_AS(y.backward(ones({2}, DType::float64)), AutogradError);
  }
  SECTION("a gradient for an input that needs none is dropped; its buffer cannot be asked for") {
    Tensor y = Tensor::empty({2}, DType::float64);
    record("drops", {&x, &c}, y, [](BackwardContext& ctx) {
      CHECK_FALSE(ctx.needs_grad(1));
      CHECK_FALSE(ctx.needs_grad(7));
      ctx.accumulate(1, ones({2}, DType::float64));
      CHECK_THROWS_AS(ctx.grad_buffer(1), AutogradError);
      CHECK_THROWS_AS(ctx.grad_destination(1), AutogradError);
      CHECK_THROWS_AS(ctx.accumulate(2, ones({2}, DType::float64)), AutogradError);
      ctx.accumulate(0, ctx.grad_output());
    });
    y.backward(from_vector({5, 6}, {2}, DType::float64));
    CHECK(x.grad().to_vector() == Values{5, 6});
    CHECK_FALSE(c.grad().defined());
  }
  clear_tape();
}

TEST_CASE("autograd: grad_destination gives a new buffer to overwrite, then the same buffer to add to",
          "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  // y = 3x, written by hand the way a GEMM would: out = 3·g + beta·out. Used twice, x's gradient is 6·seed.
  auto triple = [](const Tensor& in, std::vector<double>& betas, std::vector<const void*>& buffers) {
    Tensor out = Tensor::empty({2}, DType::float64);
    record("triple", {&in}, out, [&betas, &buffers](BackwardContext& ctx) {
      const auto d = ctx.grad_destination(0);
      betas.push_back(d.beta);
      buffers.push_back(d.tensor.raw_data());
      REQUIRE(d.tensor.shape() == Shape{2});
      auto* dst = static_cast<double*>(d.tensor.raw_data());
      const auto* g = static_cast<const double*>(ctx.grad_output().raw_data());
      for (int i = 0; i < 2; ++i) dst[i] = 3.0 * g[i] + (d.beta == 0.0 ? 0.0 : d.beta * dst[i]);
    });
    return out;
  };
  std::vector<double> betas;
  std::vector<const void*> buffers;
  Tensor y = hand_sum(triple(x, betas, buffers)) + hand_sum(triple(x, betas, buffers));
  y.backward();
  CHECK(betas == std::vector<double>{0.0, 1.0});
  REQUIRE(buffers.size() == 2);
  CHECK(buffers[0] == buffers[1]);
  CHECK(x.grad().to_vector() == Values{6, 6});
}

TEST_CASE("autograd: an accumulated gradient never aliases the caller's tensors", "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  Tensor seed = from_vector({1, 1}, {2}, DType::float64);
  // y = x, whose backward passes the output gradient through unchanged.
  Tensor y = Tensor::empty({2}, DType::float64);
  record("identity", {&x}, y, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad_output()); });
  y.backward(seed);
  hand_sum(hand_scale(x, 1.0)).backward();
  CHECK(x.grad().to_vector() == Values{2, 2});
  CHECK(seed.to_vector() == Values{1, 1});  // the second backward added into x.grad, not into seed
}

TEST_CASE("autograd: take_grad_output hands the gradient on without a copy", "[autograd]") {
  Tensor x = leaf({1, 2}, {2});
  // y = x and z = y, both passing the gradient through; z's backward makes a fresh buffer.
  Tensor y = Tensor::empty({2}, DType::float64), z = Tensor::empty({2}, DType::float64);
  record("pass", {&x}, y, [](BackwardContext& ctx) {
    ctx.accumulate(0, ctx.take_grad_output());
    CHECK_FALSE(ctx.grad_output().defined());
  });
  const void* fresh = nullptr;
  record("fresh", {&y}, z, [&fresh](BackwardContext& ctx) {
    Tensor g = ctx.grad_output().clone();
    fresh = g.raw_data();
    ctx.accumulate(0, std::move(g));
  });
  z.backward(from_vector({3, 4}, {2}, DType::float64));
  CHECK(x.grad().to_vector() == Values{3, 4});
  CHECK(x.grad().raw_data() == fresh);  // moved twice, never copied
}

TEST_CASE("autograd: clear_tape makes recorded tensors non-differentiable", "[autograd]") {
  Tensor x = leaf({1}, {1});
  Tensor loss = sum_of_squares(x);
  clear_tape();
  CHECK(tape_size() == 0);
  CHECK_THROWS_AS(loss.backward(), AutogradError);
}

TEST_CASE("autograd: the tape and grad mode are per thread", "[autograd]") {
  clear_tape();
  Tensor x = leaf({1, 2}, {2});
  Tensor kept = squared(x);
  NoGradGuard off_here;
  std::size_t seen_size = 99, recorded = 0;
  bool seen_enabled = false;
  std::thread worker([&] {
    seen_size = tape_size();
    seen_enabled = grad_enabled();
    Tensor other = squared(x);
    recorded = tape_size();
  });
  worker.join();
  CHECK(seen_size == 0);
  CHECK(seen_enabled);
  CHECK(recorded == 1);
  CHECK(tape_size() == 1);  // the worker's node went to its own tape
  CHECK_FALSE(grad_enabled());
  clear_tape();
}

// A graph is differentiable only on the thread whose tape recorded it. Each case below used to read another
// thread's node indices in the current thread's tape.
TEST_CASE("autograd: backward of a graph recorded on another thread is refused", "[autograd]") {
  const auto other_thread = Contains("recorded on another tape");

  SECTION("from a fresh thread with an empty tape") {
    clear_tape();
    Tensor x = leaf({1, 2}, {2});
    Tensor loss = sum_of_squares(x);
    std::string message;
    std::thread worker([&] {
      try {
        loss.backward();
      } catch (const AutogradError& e) {
        message = e.what();
      }
    });
    worker.join();
    CHECK_THAT(message, other_thread);
    CHECK_FALSE(x.grad().defined());
    loss.backward();  // the recording thread still can
    CHECK(x.grad().to_vector() == Values{2, 4});
  }

  SECTION("from a thread whose own graph has the same shape") {
    clear_tape();
    Tensor x = leaf({1, 2}, {2});
    Tensor loss = sum_of_squares(x);
    Tensor theirs = leaf({5, 6}, {2});
    std::string message;
    std::thread worker([&] {
      Tensor own = sum_of_squares(theirs);  // same node indices as `loss`'s graph
      try {
        loss.backward();
      } catch (const AutogradError& e) {
        message = e.what();
      }
    });
    worker.join();
    CHECK_THAT(message, other_thread);
    CHECK_FALSE(theirs.grad().defined());
    CHECK_FALSE(x.grad().defined());
    clear_tape();
  }

  SECTION("after the recording thread has exited") {
    Tensor x = leaf({3}, {1});
    Tensor loss;
    std::thread recorder([&] { loss = sum_of_squares(x); });
    recorder.join();
    clear_tape();
    CHECK(tape_size() == 0);
    Tensor mine = sum_of_squares(leaf({7}, {1}));  // this thread's tape holds nodes at the same indices
    CHECK_THROWS_WITH(loss.backward(), other_thread);
    CHECK_FALSE(x.grad().defined());
    clear_tape();
  }

  SECTION("an op on this thread whose input was computed on another") {
    clear_tape();
    Tensor x = leaf({1, 2}, {2});
    Tensor there;
    std::thread worker([&] { there = squared(x); });
    worker.join();
    Tensor loss = hand_sum(there);
    CHECK_THROWS_WITH(loss.backward(), Contains("input 0 of") && other_thread);
    clear_tape();
  }
}
