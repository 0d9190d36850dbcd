// The tape's leaf-gradient-ready hook: it fires once per leaf, as soon as the walk has passed the leaf's
// first consumer, with the gradient already complete.
#include <map>
#include <string>
#include <vector>

#include "testing.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"

using namespace xgrad;

namespace {

// Installs a hook for its lifetime that logs which leaf fired and copies its gradient at that moment.
struct HookLog {
  std::vector<const TensorImpl*> order;
  std::vector<std::vector<double>> grads_at_fire;
  std::vector<bool> w1_grad_defined_at_fire;
  const TensorImpl* w1 = nullptr;
  std::size_t id;
  HookLog() {
    id = add_leaf_grad_ready_hook([this](TensorImpl& leaf) {
      order.push_back(&leaf);
      grads_at_fire.push_back(leaf.grad.to_vector());
      w1_grad_defined_at_fire.push_back(w1 != nullptr && w1->grad.defined());
    });
  }
  ~HookLog() { remove_leaf_grad_ready_hook(id); }
};

}  // namespace

TEST_CASE("leaf grad hook: the later-used leaf fires first, before the earlier op's backward ran", "[autograd]") {
  Tensor x = from_vector({1.0, 2.0}, {2}, DType::float64);
  Tensor w1 = from_vector({3.0, 4.0}, {2}, DType::float64).set_requires_grad();
  Tensor w2 = from_vector({5.0, 6.0}, {2}, DType::float64).set_requires_grad();
  HookLog log;
  log.w1 = &w1.impl();
  // node 0: h = w1 * x; node 1: y = h * w2; node 2: loss = sum(y)
  Tensor loss = sum(mul(mul(w1, x), w2));
  loss.backward();
  REQUIRE(log.order.size() == 2);
  CHECK(log.order[0] == &w2.impl());
  CHECK(log.order[1] == &w1.impl());
  // When w2 fired, the walk had not yet reached node 0, so w1 had no gradient: the hook fires early.
  CHECK_FALSE(log.w1_grad_defined_at_fire[0]);
  // d loss / d w2 = w1 * x = (3, 8); d loss / d w1 = x * w2 = (5, 12)
  CHECK(log.grads_at_fire[0] == std::vector<double>{3.0, 8.0});
  CHECK(log.grads_at_fire[1] == std::vector<double>{5.0, 12.0});
}

TEST_CASE("leaf grad hook: a leaf used twice fires once, after both contributions", "[autograd]") {
  Tensor w = from_vector({2.0}, {1}, DType::float64).set_requires_grad();
  Tensor v = from_vector({3.0}, {1}, DType::float64).set_requires_grad();
  HookLog log;
  // node 0: a = w * w (first use of w); node 1: b = a * v; node 2: c = b + w (second use); node 3: sum
  Tensor loss = sum(add(mul(mul(w, w), v), w));
  loss.backward();
  REQUIRE(log.order.size() == 2);
  CHECK(log.order[0] == &v.impl());
  CHECK(log.order[1] == &w.impl());
  // loss = v w^2 + w: d/dv = w^2 = 4; d/dw = 2 v w + 1 = 13, complete when the hook sees it
  CHECK(log.grads_at_fire[0] == std::vector<double>{4.0});
  CHECK(log.grads_at_fire[1] == std::vector<double>{13.0});
}

TEST_CASE("leaf grad hook: fires on every backward pass and stops once removed", "[autograd]") {
  Tensor w = from_vector({1.5}, {1}, DType::float64).set_requires_grad();
  int calls = 0;
  const std::size_t id = add_leaf_grad_ready_hook([&](TensorImpl&) { ++calls; });
  sum(mul(w, w)).backward();
  sum(mul(w, w)).backward();
  CHECK(calls == 2);
  remove_leaf_grad_ready_hook(id);
  sum(mul(w, w)).backward();
  CHECK(calls == 2);
  remove_leaf_grad_ready_hook(id);  // removing twice is harmless
  // the gradient accumulated over the three passes: 3 * 2w = 9
  CHECK(w.grad().item() == 9.0);
}

TEST_CASE("leaf grad hook: leaves of another graph still on the tape do not fire", "[autograd]") {
  Tensor u = from_vector({2.0}, {1}, DType::float64).set_requires_grad();
  Tensor w = from_vector({3.0}, {1}, DType::float64).set_requires_grad();
  Tensor other = sum(mul(u, u));  // recorded first, never differentiated: its nodes stay on the tape
  std::vector<const TensorImpl*> fired;
  const std::size_t id = add_leaf_grad_ready_hook([&](TensorImpl& leaf) { fired.push_back(&leaf); });
  sum(mul(w, w)).backward();
  remove_leaf_grad_ready_hook(id);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0] == &w.impl());
  CHECK_FALSE(u.grad().defined());
  CHECK(w.grad().item() == 6.0);  // d/dw w^2 = 2w
}
