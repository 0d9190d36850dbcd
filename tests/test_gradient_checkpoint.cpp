// gradient_checkpoint: the segment's gradients equal those of the plain computation bit for bit (and finite
// differences), nothing of the segment stays on the tape, dropout replays, and every misuse is named.
#include <vector>

#include "testing.hpp"
#include "xgrad/autograd/gradient_checkpoint.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/reduction.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;
using xgrad::test::check_close;
using xgrad::test::check_gradcheck;
using xgrad::test::randn64;

namespace {

// A segment with a product, a nonlinearity and an input used twice: tanh(x W) * x + x.
Tensor segment_of(const Tensor& x, const Tensor& w) { return add(mul(tanh(matmul(x, w)), x), x); }

// The gradients of sum(y * y) with respect to `leaves`, cleared before.
std::vector<Tensor> grads_of(const Tensor& y, const std::vector<Tensor>& leaves) {
  for (const Tensor& t : leaves) t.impl().grad = Tensor();
  sum(mul(y, y)).backward();
  std::vector<Tensor> grads;
  for (const Tensor& t : leaves) grads.push_back(t.grad());
  return grads;
}

}  // namespace

TEST_CASE("gradient_checkpoint: the same output and bitwise the same gradients as the plain segment, with one "
          "node on the tape",
          "[autograd][checkpoint]") {
  clear_tape();
  const Tensor x = randn64({4, 3}, 1), w = randn64({3, 3}, 2);
  const Tensor plain = segment_of(x, w);
  const std::vector<Tensor> want = grads_of(plain, {x, w});
  const Tensor y = gradient_checkpoint([&](const std::vector<Tensor>& in) { return segment_of(in[0], in[1]); },
                                       {x, w});
  CHECK(tape_size() == 1);  // only the checkpoint's node: the segment's four ops were not recorded
  CHECK(y.requires_grad());
  check_close(y, plain, 0.0);
  const std::vector<Tensor> got = grads_of(y, {x, w});
  check_close(got[0], want[0], 0.0);
  check_close(got[1], want[1], 0.0);
  CHECK(tape_size() == 0);  // the recomputation's tape went with it
}

TEST_CASE("gradient_checkpoint: float64 gradcheck of the inputs, of a listed parameter, and of a nested segment",
          "[autograd][checkpoint]") {
  const Tensor x = randn64({4, 3}, 3), w = randn64({3, 3}, 4);
  check_gradcheck(
      [](const std::vector<Tensor>& in) {
        return gradient_checkpoint([](const std::vector<Tensor>& s) { return segment_of(s[0], s[1]); }, in);
      },
      {x, w});
  check_gradcheck(  // w read from the enclosing scope and listed as a parameter
      [&](const std::vector<Tensor>& in) {
        return gradient_checkpoint([&](const std::vector<Tensor>& s) { return segment_of(s[0], w); }, in,
                                   {.parameters = {w}});
      },
      {x, w});
  check_gradcheck(  // a checkpointed segment inside a checkpointed segment
      [](const std::vector<Tensor>& in) {
        return gradient_checkpoint(
            [](const std::vector<Tensor>& s) {
              const Tensor inner =
                  gradient_checkpoint([](const std::vector<Tensor>& t) { return tanh(matmul(t[0], t[1])); }, s);
              return mul(inner, s[0]);
            },
            in);
      },
      {x, w});
}

TEST_CASE("gradient_checkpoint: a parameter is recorded only when listed, and then it gets its gradient and its "
          "leaf hook fires once",
          "[autograd][checkpoint]") {
  clear_tape();
  const Tensor x = randn64({4, 3}, 5).set_requires_grad(false), w = randn64({3, 3}, 6);
  const Tensor want = grads_of(segment_of(x, w), {w})[0];
  auto seg = [&](const std::vector<Tensor>& in) { return segment_of(in[0], w); };
  // Unlisted, with no input needing a gradient, the segment runs as plain code: its four ops record (w needs a
  // gradient) and nothing is saved on memory.
  const Tensor unlisted = gradient_checkpoint(seg, {x});
  CHECK(tape_size() == 4);
  clear_tape();
  std::vector<const TensorImpl*> fired;
  const std::size_t hook = add_leaf_grad_ready_hook([&](TensorImpl& leaf) { fired.push_back(&leaf); });
  const Tensor y = gradient_checkpoint(seg, {x}, {.parameters = {w}});
  CHECK(tape_size() == 1);
  const Tensor got = grads_of(y, {w})[0];
  remove_leaf_grad_ready_hook(hook);
  check_close(got, want, 0.0);
  REQUIRE(fired.size() == 1);  // from the outer walk only: the recomputation's backward suspends the hooks
  CHECK(fired[0] == &w.impl());
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("gradient_checkpoint: dropout replays the forward's mask when its generator is listed, and the "
          "generator ends where the forward left it",
          "[autograd][checkpoint]") {
  const Tensor x = randn64({6, 5}, 7), w = randn64({5, 5}, 8);
  auto dropped = [](const Tensor& a, const Tensor& b, Generator& gen) {
    return dropout(tanh(matmul(a, b)), 0.5, gen);
  };
  Generator plain_gen(42);
  const Tensor plain = dropped(x, w, plain_gen);
  const std::vector<Tensor> want = grads_of(plain, {x, w});

  Generator gen(42);
  const Tensor y = gradient_checkpoint([&](const std::vector<Tensor>& in) { return dropped(in[0], in[1], gen); },
                                       {x, w}, {.generators = {&gen}});
  const std::uint64_t after_forward = gen.offset();
  CHECK(after_forward == plain_gen.offset());
  check_close(y, plain, 0.0);
  const std::vector<Tensor> got = grads_of(y, {x, w});
  check_close(got[0], want[0], 0.0);
  check_close(got[1], want[1], 0.0);
  CHECK(gen.offset() == after_forward);  // the replay's draws were taken back

  SECTION("an unlisted generator draws another mask in the backward, which is refused") {
    Generator unlisted(42);
    const Tensor z = gradient_checkpoint(
        [&](const std::vector<Tensor>& in) { return dropped(in[0], in[1], unlisted); }, {x, w});
    CHECK_ERROR(sum(z).backward(), AutogradError,
                Contains("recomputation gave a different output") && Contains("options.generators"));
    clear_tape();
  }
}

TEST_CASE("gradient_checkpoint: retain_graph runs the recomputation again and the gradients add up",
          "[autograd][checkpoint]") {
  const Tensor x = randn64({3, 3}, 9), w = randn64({3, 3}, 10);
  const Tensor want = grads_of(segment_of(x, w), {w})[0];
  w.impl().grad = Tensor();
  const Tensor y = gradient_checkpoint([](const std::vector<Tensor>& in) { return segment_of(in[0], in[1]); },
                                       {x, w});
  const Tensor loss = sum(mul(y, y));
  loss.backward(BackwardOptions{.grad = {}, .retain_graph = true});
  loss.backward();
  check_close(w.grad(), mul(want, 2.0), 0.0);
}

TEST_CASE("gradient_checkpoint: misuse is named", "[autograd][checkpoint]") {
  const Tensor x = randn64({2, 2}, 11), w = randn64({2, 2}, 12);
  auto identity = [](const std::vector<Tensor>& in) { return in[0]; };
  CHECK_ERROR(gradient_checkpoint(identity, {x, Tensor()}), ValueError, Contains("input 1 is undefined"));
  CHECK_ERROR(gradient_checkpoint(identity, {x}, {.generators = {nullptr}}), ValueError, Contains("null"));
  CHECK_ERROR(gradient_checkpoint([](const std::vector<Tensor>&) { return Tensor(); }, {x}), TypeError,
              Contains("undefined tensor"));
  CHECK_ERROR(gradient_checkpoint([](const std::vector<Tensor>&) { return zeros({2}, DType::int64); }, {x}),
              TypeError, Contains("int64") && Contains("floating"));

  SECTION("a recorded tensor read from outside the segment is refused in the backward") {
    const Tensor outside = tanh(w);  // recorded on the outer tape, not passed as an input
    const Tensor y = gradient_checkpoint([&](const std::vector<Tensor>& in) { return mul(in[0], outside); }, {x});
    CHECK_ERROR(sum(y).backward(), AutogradError,
                Contains("recorded on another tape") && Contains("gradient_checkpoint"));
    clear_tape();
  }
  SECTION("a segment returning its input unchanged leaves the input a leaf") {
    const Tensor y = gradient_checkpoint(identity, {x});
    CHECK(x.is_leaf());
    CHECK_FALSE(y.is_leaf());
    sum(y).backward();
    check_close(x.grad(), ones({2, 2}, DType::float64), 0.0);
    x.impl().grad = Tensor();
  }
}
