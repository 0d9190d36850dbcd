// Optimizers, clipping and schedules on hand-set gradients: every expected number is worked out by
// hand from the update formulas (PyTorch's), so these tests need no ops.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <numbers>

#include "xgrad/nn/module.hpp"
#include "xgrad/optim/optim.hpp"
#include "test_optim_helpers.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace xgrad;
using test::check_values;
using Catch::Matchers::Contains;

namespace {

Tensor param(std::vector<double> values, DType dtype = DType::float64) {
  const auto n = static_cast<std::int64_t>(values.size());
  return from_vector(values, {n}, dtype).set_requires_grad();
}

void set_grad(Tensor& p, std::vector<double> g) { p.set_grad(from_vector(g, p.shape(), p.dtype())); }

/// grad = p - target elementwise: the gradient of 0.5 * |p - target|^2, recomputed from the current p.
void quadratic_grad(Tensor& p, double target) {
  std::vector<double> g = p.to_vector();
  for (double& v : g) v -= target;
  set_grad(p, g);
}

}  // namespace

TEST_CASE("SGD: momentum with dampening sets the buffer to the first gradient, then damps", "[optim]") {
  Tensor p = param({1.0, -2.0});
  optim::SGD opt({{"p", p}}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5, .weight_decay = 0.1});
  set_grad(p, {0.5, 0.25});
  opt.step();
  // d = g + 0.1 p = (0.6, 0.05); buf = d; p -= 0.1 d
  check_values(p, {0.94, -2.005});
  opt.step();
  // d = (0.5 + 0.094, 0.25 - 0.2005) = (0.594, 0.0495); buf = 0.9 (0.6, 0.05) + 0.5 d = (0.837, 0.06975)
  check_values(p, {0.8563, -2.011975});
  check_values(opt.state()[1].second, {0.837, 0.06975});
}

TEST_CASE("SGD: nesterov steps along grad + momentum * buffer", "[optim]") {
  Tensor p = param({1.0});
  optim::SGD opt({{"p", p}}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  set_grad(p, {1.0});
  opt.step();  // buf = 1, d = 1 + 0.9 = 1.9
  check_values(p, {0.81});
  opt.step();  // buf = 0.9 + 1 = 1.9, d = 1 + 0.9 * 1.9 = 2.71
  check_values(p, {0.539});
}

TEST_CASE("SGD: plain float32 step and no state buffers without momentum", "[optim]") {
  Tensor p = param({1.0, 2.0}, DType::float32);
  optim::SGD opt({{"p", p}}, {.lr = 0.5});
  set_grad(p, {0.5, -1.0});
  opt.step();
  check_values(p, {0.75, 2.5});
  REQUIRE(opt.state().size() == 1);
  CHECK(opt.state()[0].first == "step");
}

TEST_CASE("Adam: two steps with bias correction, by hand", "[optim]") {
  Tensor p = param({1.0, -1.0});
  optim::Adam opt({{"w", p}}, {.lr = 0.1});
  const double g1[] = {0.2, -0.4}, g2[] = {0.1, 0.3}, p0[] = {1.0, -1.0};
  set_grad(p, {g1[0], g1[1]});
  opt.step();
  std::vector<double> p1(2), p2(2);
  for (int i = 0; i < 2; ++i) {
    // step 1: m_hat = g, v_hat = g^2 => p -= lr * g / (|g| + eps)
    p1[i] = p0[i] - 0.1 * g1[i] / (std::abs(g1[i]) + 1e-8);
    const double m = 0.9 * 0.1 * g1[i] + 0.1 * g2[i];
    const double v = 0.999 * 0.001 * g1[i] * g1[i] + 0.001 * g2[i] * g2[i];
    p2[i] = p1[i] - 0.1 / (1 - 0.81) * m / (std::sqrt(v) / std::sqrt(1 - 0.998001) + 1e-8);
  }
  check_values(p, p1);
  set_grad(p, {g2[0], g2[1]});
  opt.step();
  check_values(p, p2);
  const auto state = opt.state();
  REQUIRE(state.size() == 3);
  CHECK(state[1].first == "exp_avg.w");
  CHECK(state[2].first == "exp_avg_sq.w");
  CHECK(state[0].second.to_vector() == std::vector<double>{2});
}

TEST_CASE("Adam: amsgrad normalises by the largest second moment seen", "[optim]") {
  auto run = [](bool amsgrad) {
    Tensor p = param({1.0});
    optim::Adam opt({{"w", p}}, {.lr = 0.1, .amsgrad = amsgrad});
    set_grad(p, {1.0});
    opt.step();
    set_grad(p, {0.0});  // v shrinks to 0.999 * 0.001; amsgrad keeps 0.001
    opt.step();
    return p.to_vector()[0];
  };
  const double p1 = 1.0 - 0.1 / (1.0 + 1e-8);
  const double scale = 0.1 / (1 - 0.81) * 0.09;
  CHECK(run(true) == Approx(p1 - scale / (std::sqrt(0.001) / std::sqrt(0.001999) + 1e-8)).epsilon(1e-12));
  CHECK(run(false) == Approx(p1 - scale / (std::sqrt(0.000999) / std::sqrt(0.001999) + 1e-8)).epsilon(1e-12));
}

TEST_CASE("AdamW: decay shrinks the parameter, Adam adds it to the gradient", "[optim]") {
  Tensor a = param({2.0}), w = param({2.0});
  optim::Adam adam({{"a", a}}, {.lr = 0.1, .weight_decay = 0.5});
  optim::AdamW adamw({{"w", w}}, {.lr = 0.1, .weight_decay = 0.5});
  set_grad(a, {0.3});
  set_grad(w, {0.3});
  adam.step();
  adamw.step();
  check_values(a, {2.0 - 0.1 * 1.3 / (1.3 + 1e-8)});               // g' = 0.3 + 0.5 * 2
  check_values(w, {2.0 * (1 - 0.05) - 0.1 * 0.3 / (0.3 + 1e-8)});  // p (1 - lr wd), then Adam on g
  CHECK(adamw.decoupled());
  CHECK(adamw.name() == "AdamW");
  CHECK(optim::AdamW({{"w", w}}).options().weight_decay == 1e-2);  // torch's default
}

TEST_CASE("RMSprop: plain, centered and momentum steps, by hand", "[optim]") {
  Tensor p = param({1.0}), c = param({1.0}), m = param({1.0});
  optim::RMSprop plain({{"p", p}}, {.lr = 0.01, .alpha = 0.9});
  optim::RMSprop centered({{"c", c}}, {.lr = 0.01, .alpha = 0.9, .centered = true});
  optim::RMSprop momentum({{"m", m}}, {.lr = 0.01, .alpha = 0.9, .momentum = 0.5});
  for (Tensor* t : {&p, &c, &m}) set_grad(*t, {0.5});
  plain.step();
  centered.step();
  momentum.step();
  // square_avg = 0.1 * 0.25 = 0.025; grad_avg = 0.05; centered avg = sqrt(0.025 - 0.0025) = 0.15
  const double avg = std::sqrt(0.025) + 1e-8;
  check_values(p, {1.0 - 0.01 * 0.5 / avg});
  check_values(c, {1.0 - 0.01 * 0.5 / (0.15 + 1e-8)});
  check_values(m, {1.0 - 0.01 * 0.5 / avg});
  momentum.step();  // square_avg = 0.9 * 0.025 + 0.025 = 0.0475; buf = 0.5 * 0.5 / avg + 0.5 / avg2
  const double avg2 = std::sqrt(0.0475) + 1e-8;
  check_values(m, {1.0 - 0.01 * 0.5 / avg - 0.01 * (0.25 / avg + 0.5 / avg2)});
  CHECK(centered.state()[2].first == "grad_avg.c");
  CHECK(momentum.state()[2].first == "momentum_buffer.m");
}

TEST_CASE("Optimizer: parameters without a gradient are skipped and their step count stays", "[optim]") {
  Tensor a = param({1.0}), b = param({1.0});
  optim::Adam opt({{"a", a}, {"b", b}}, {.lr = 0.1});
  set_grad(a, {1.0});
  opt.step();
  opt.step();
  CHECK(b.to_vector() == std::vector<double>{1.0});
  CHECK(!b.grad().defined());
  CHECK(opt.state()[0].second.to_vector() == std::vector<double>{2, 0});
  // b's first update uses bias correction for step 1, as if it had never been skipped
  set_grad(b, {0.5});
  opt.step();
  check_values(b, {1.0 - 0.1 * 0.5 / (0.5 + 1e-8)});
  CHECK(opt.state()[0].second.to_vector() == std::vector<double>{3, 1});
}

TEST_CASE("Optimizer: zero_grad fills existing gradients and leaves missing ones undefined", "[optim]") {
  Tensor a = param({1.0, 2.0}), b = param({3.0});
  optim::SGD opt({{"a", a}, {"b", b}});
  set_grad(a, {4.0, 5.0});
  const Tensor buffer = a.grad();
  opt.zero_grad();
  CHECK(a.grad().to_vector() == std::vector<double>{0.0, 0.0});
  CHECK(a.grad().is_same(buffer));
  CHECK(!b.grad().defined());
}

namespace {

using Factory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::NamedTensor>)>;

/// Runs `steps` steps of quadratic descent towards 3 on every parameter.
void descend(optim::Optimizer& opt, int steps) {
  for (int s = 0; s < steps; ++s) {
    for (const auto& [name, p] : opt.parameters()) {
      Tensor q = p;
      quadratic_grad(q, 3.0);
    }
    opt.step();
  }
}

std::vector<optim::NamedTensor> fresh_params() {
  return {{"w", from_vector({1.0, -1.0, 0.5, 2.0}, {2, 2}, DType::float64).set_requires_grad()},
          {"b", param({0.25, -0.75})}};
}

std::vector<optim::NamedTensor> cloned(const std::vector<optim::NamedTensor>& named) {
  std::vector<optim::NamedTensor> out;
  for (const auto& [name, t] : named) out.emplace_back(name, t.clone().set_requires_grad(t.requires_grad()));
  return out;
}

}  // namespace

TEST_CASE("Optimizer: state() then load_state() makes a second optimizer continue identically", "[optim]") {
  const std::vector<std::pair<const char*, Factory>> kinds = {
      {"SGD", [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.2}); }},
      {"Adam", [](auto p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 0.1, .amsgrad = true}); }},
      {"AdamW", [](auto p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 0.1}); }},
      {"RMSprop", [](auto p) {
         return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions{.momentum = 0.5, .centered = true});
       }},
  };
  for (const auto& [kind, make] : kinds) {
    SECTION(kind) {
      auto first = make(fresh_params());
      descend(*first, 3);
      auto second = make(cloned(first->parameters()));
      second->load_state(cloned(first->state()));
      descend(*first, 3);
      descend(*second, 3);
      for (std::size_t i = 0; i < 2; ++i) {
        INFO(first->parameters()[i].first);
        CHECK(first->parameters()[i].second.to_vector() == second->parameters()[i].second.to_vector());
      }
      // A third optimizer that never loaded the state diverges: the state mattered.
      auto cold = make(cloned(fresh_params()));
      descend(*cold, 3);
      auto restarted = make(cloned(cold->parameters()));
      descend(*restarted, 3);
      descend(*cold, 3);
      CHECK(cold->parameters()[0].second.to_vector() != restarted->parameters()[0].second.to_vector());
    }
  }
}

TEST_CASE("Optimizer: load_state rejects bad state, naming the key, and changes nothing", "[optim]") {
  auto params = fresh_params();
  optim::Adam opt(params, {.lr = 0.1});
  descend(opt, 2);
  const auto before = cloned(opt.state());
  auto snapshot = [&] {
    std::vector<std::vector<double>> v;
    for (const auto& [k, t] : opt.state()) v.push_back(t.to_vector());
    return v;
  };
  const auto original = snapshot();
  // Every entry valid and different, except the one the section breaks (always the last checked).
  auto changed = cloned(opt.state());
  for (auto& [k, t] : changed)
    if (k != "step") t.fill_(7.0);

  SECTION("wrong shape") {
    changed.back().second = zeros({3}, DType::float64);
    CHECK_THROWS_AS(opt.load_state(changed), ShapeError);
    CHECK_THROWS_WITH(opt.load_state(changed), Contains("exp_avg_sq.b") && Contains("(3,)") && Contains("(2,)"));
  }
  SECTION("wrong dtype") {
    changed.back().second = zeros({2}, DType::float32);
    CHECK_THROWS_AS(opt.load_state(changed), TypeError);
    CHECK_THROWS_WITH(opt.load_state(changed), Contains("exp_avg_sq.b") && Contains("float32"));
  }
  SECTION("missing key") {
    changed.pop_back();
    CHECK_THROWS_AS(opt.load_state(changed), ValueError);
    CHECK_THROWS_WITH(opt.load_state(changed), Contains("missing key 'exp_avg_sq.b'"));
  }
  SECTION("unexpected key") {
    changed.emplace_back("momentum_buffer.b", zeros({2}, DType::float64));
    CHECK_THROWS_AS(opt.load_state(changed), ValueError);
    CHECK_THROWS_WITH(opt.load_state(changed), Contains("unexpected key 'momentum_buffer.b'"));
  }
  SECTION("duplicate key") {
    changed.push_back(changed.back());
    CHECK_THROWS_WITH(opt.load_state(changed), Contains("'exp_avg_sq.b' appears twice"));
  }
  SECTION("negative step") {
    changed.front().second = index_tensor({2, -1}, {2});
    CHECK_THROWS_AS(opt.load_state(changed), ValueError);
    CHECK_THROWS_WITH(opt.load_state(changed), Contains("negative") && Contains("'b'"));
  }
  CHECK(snapshot() == original);
  // ...and the optimizer still loads good state.
  opt.load_state(before);
  CHECK(snapshot() == original);
}

TEST_CASE("Optimizer: bad hyperparameters throw ValueError naming them", "[optim]") {
  auto p = fresh_params();
  auto throws = [](auto make, const char* name) {
    INFO(name);
    CHECK_THROWS_AS(make(), ValueError);
    CHECK_THROWS_WITH(make(), Contains(name));
  };
  throws([&] { optim::SGD o(p, {.lr = -0.1}); }, "learning rate lr");
  throws([&] { optim::SGD o(p, {.momentum = -0.9}); }, "momentum");
  throws([&] { optim::SGD o(p, {.weight_decay = -1}); }, "weight_decay");
  throws([&] { optim::SGD o(p, {.nesterov = true}); }, "nesterov");
  throws([&] { optim::SGD o(p, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}); }, "dampening 0.1");
  throws([&] { optim::Adam o(p, {.lr = -1}); }, "learning rate lr");
  throws([&] { optim::Adam o(p, {.beta1 = 1.0}); }, "beta1");
  throws([&] { optim::Adam o(p, {.beta2 = -0.1}); }, "beta2");
  throws([&] { optim::AdamW o(p, {.beta2 = 1.5}); }, "beta2");
  throws([&] { optim::Adam o(p, {.eps = -1e-8}); }, "eps");
  throws([&] { optim::AdamW o(p, {.weight_decay = -0.1}); }, "weight_decay");
  throws([&] { optim::RMSprop o(p, {.alpha = -0.5}); }, "alpha");
  throws([&] { optim::RMSprop o(p, {.eps = -1}); }, "eps");
  throws([&] { optim::RMSprop o(p, {.momentum = -1}); }, "momentum");
  throws([&] { optim::SGD o({}); }, "empty parameter list");
  throws([&] { optim::SGD o({p[0], p[0]}); }, "'w' appears twice");
  throws([&] { optim::SGD o({p[0], {"w2", p[0].second}}); }, "the same tensor");
  optim::SGD ok(p);
  throws([&] { ok.set_learning_rate(-1e-3); }, "learning rate lr");
  throws([&] { ok.set_learning_rate(std::nan("")); }, "learning rate lr");
  CHECK_THROWS_AS(optim::SGD({{"ids", index_tensor({1, 2}, {2})}}), TypeError);
}

TEST_CASE("clip_grad_norm: 2-, 1- and inf-norms over all gradients, by hand", "[optim]") {
  Tensor a = param({0.0, 0.0}), b = param({0.0}), none = param({5.0});
  auto reset = [&] {
    set_grad(a, {3.0, 4.0});
    set_grad(b, {-12.0});
  };
  const std::vector<Tensor> params = {a, b, none};  // `none` has no gradient and is ignored
  reset();
  CHECK(optim::clip_grad_norm(params, 6.5) == Approx(13.0));  // sqrt(9 + 16 + 144)
  const double f2 = 6.5 / (13.0 + 1e-6);
  check_values(a.grad(), {3 * f2, 4 * f2});
  check_values(b.grad(), {-12 * f2});

  reset();
  CHECK(optim::clip_grad_norm(params, 100.0) == Approx(13.0));  // below max_norm: untouched
  check_values(a.grad(), {3.0, 4.0});

  reset();
  CHECK(optim::clip_grad_norm(params, 6.0, optim::inf_norm) == 12.0);
  check_values(b.grad(), {-12 * 6.0 / (12.0 + 1e-6)});

  reset();
  CHECK(optim::clip_grad_norm({{"a", a}, {"b", b}}, 1.9, 1.0) == Approx(19.0));
  check_values(a.grad(), {3 * 1.9 / (19.0 + 1e-6), 4 * 1.9 / (19.0 + 1e-6)});

  reset();
  CHECK(optim::clip_grad_norm(params, 6.5, 3.0) == Approx(std::cbrt(27.0 + 64.0 + 1728.0)));

  CHECK_THROWS_AS(optim::clip_grad_norm(params, 1.0, 0.0), ValueError);
  CHECK_THROWS_WITH(optim::clip_grad_norm(params, -1.0), Contains("max_norm"));
  set_grad(a, {std::numeric_limits<double>::infinity(), 0.0});
  CHECK_THROWS_WITH(optim::clip_grad_norm(params, 1.0, 2.0, true), Contains("inf"));
}

TEST_CASE("clip_grad_value: clamps every gradient element into [-v, v]", "[optim]") {
  Tensor a = param({0.0, 0.0, 0.0}, DType::float32), b = param({1.0});
  set_grad(a, {3.0, -0.5, -4.0});
  optim::clip_grad_value({{"a", a}, {"b", b}}, 2.5);
  check_values(a.grad(), {2.5, -0.5, -2.5});
  CHECK(!b.grad().defined());
  CHECK_THROWS_AS(optim::clip_grad_value({a}, -1.0), ValueError);
}

TEST_CASE("LR schedules: constant, step and warmup-cosine, by hand", "[optim]") {
  auto constant = optim::constant_lr(0.3);
  CHECK(constant(0) == 0.3);
  CHECK(constant(1000) == 0.3);

  auto step = optim::step_lr(1.0, 3, 0.5);
  const std::vector<double> steps = {1, 1, 1, 0.5, 0.5, 0.5, 0.25};
  for (std::int64_t s = 0; s < 7; ++s) CHECK(step(s) == steps[static_cast<std::size_t>(s)]);

  auto cosine = optim::warmup_cosine_lr(1.0, 4, 12, 0.1);
  CHECK(cosine(0) == Approx(0.25));
  CHECK(cosine(1) == Approx(0.5));
  CHECK(cosine(3) == Approx(1.0));
  CHECK(cosine(4) == Approx(1.0));                                                       // progress 0
  CHECK(cosine(6) == Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi / 4))));  // progress 1/4
  CHECK(cosine(8) == Approx(0.55));                                                      // progress 1/2
  CHECK(cosine(12) == Approx(0.1));
  CHECK(cosine(1000) == Approx(0.1));
  CHECK(optim::warmup_cosine_lr(1.0, 0, 2)(0) == Approx(1.0));  // no warmup starts at lr

  CHECK_THROWS_WITH(optim::step_lr(1.0, 0), Contains("step_size"));
  CHECK_THROWS_WITH(optim::warmup_cosine_lr(1.0, 5, 4), Contains("total_steps"));
  CHECK_THROWS_WITH(optim::warmup_cosine_lr(1.0, 1, 4, 2.0), Contains("min_lr"));
  CHECK_THROWS_WITH(step(-1), Contains("step must be >= 0"));
}

TEST_CASE("LRScheduler: writes schedule(step) into the optimizer each step", "[optim]") {
  Tensor p = param({0.0});
  optim::SGD opt({{"p", p}}, {.lr = 123.0});
  optim::LRScheduler sched(opt, optim::step_lr(0.8, 2, 0.5));
  CHECK(opt.learning_rate() == 0.8);
  sched.step();
  CHECK(opt.learning_rate() == 0.8);
  sched.step();
  CHECK(opt.learning_rate() == 0.4);
  CHECK(sched.current_step() == 2);
  CHECK(opt.options().lr == 0.4);
  sched.set_step(6);
  CHECK(opt.learning_rate() == 0.1);
  // The scheduled rate is the one the next step uses: p -= 0.1 * 1
  set_grad(p, {1.0});
  opt.step();
  check_values(p, {-0.1});
}

namespace {
/// A module with a trainable child parameter and a frozen one: what optimizers receive in practice.
struct Tiny : nn::Module {
  struct Head : nn::Module {
    Head() : nn::Module("Head") { kernel = register_parameter("kernel", param({1.0, 2.0})); }
    Tensor kernel;
  };
  Tiny() : nn::Module("Tiny") {
    scale = register_parameter("scale", param({0.5}));
    frozen = register_parameter("frozen", from_vector({9.0}, {1}, DType::float64), false);
    register_module("head", head);
  }
  Tensor scale, frozen;
  Head head;
};
}  // namespace

TEST_CASE("Optimizer: named_trainable_parameters() give dotted state keys, frozen ones stay out", "[optim]") {
  Tiny model;
  optim::RMSprop opt(model.named_trainable_parameters(), {.lr = 0.01, .momentum = 0.9});
  std::vector<std::string> keys;
  for (const auto& [key, t] : opt.state()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"step", "square_avg.scale", "square_avg.head.kernel",
                                         "momentum_buffer.scale", "momentum_buffer.head.kernel"});
  set_grad(model.head.kernel, {1.0, -1.0});
  opt.step();
  // square_avg = 0.01 g^2, avg = 0.1 |g| + eps, buf = g / avg, p -= 0.01 buf
  check_values(model.head.kernel, {1.0 - 0.01 / (0.1 + 1e-8), 2.0 + 0.01 / (0.1 + 1e-8)});
  CHECK(model.scale.to_vector() == std::vector<double>{0.5});
  CHECK(model.frozen.to_vector() == std::vector<double>{9.0});
}
