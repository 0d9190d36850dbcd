// train_mlp: a two-layer perceptron learns y = sin(x) on [-pi, pi] by full-batch gradient descent.
// Everything is spelled out with the ops API: the forward pass, the mean squared error, the
// backward pass through the tape, and the SGD update.
//
//   ./build/examples/train_mlp                  # defaults below
//   ./build/examples/train_mlp --hidden 64 --steps 5000 --lr 0.02
#include <CLI/CLI.hpp>
#include <xgrad/xgrad.hpp>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <vector>

using namespace xgrad;

namespace {

// p <- p - lr * dloss/dp, in place, then clear the gradient for the next step.
void sgd_step(Tensor& p, float lr) {
  float* value = p.host_data<float>();
  const float* grad = p.grad().host_data<float>();
  for (std::int64_t i = 0; i < p.numel(); ++i) value[i] -= lr * grad[i];
  p.zero_grad();
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t samples = 256, hidden = 32, steps = 3000, print_every = 300;
  double lr = 0.05;
  std::uint64_t seed = 0;
  CLI::App app{"Fits sin(x) with a two-layer tanh MLP and plain SGD"};
  app.add_option("--samples", samples, "training points on [-pi, pi]")->capture_default_str();
  app.add_option("--hidden", hidden, "hidden units")->capture_default_str();
  app.add_option("--steps", steps, "gradient steps (full batch)")->capture_default_str();
  app.add_option("--lr", lr, "learning rate")->capture_default_str();
  app.add_option("--print-every", print_every, "steps between loss reports")->capture_default_str();
  app.add_option("--seed", seed, "seed of the data and the initial weights")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Generator gen(seed);
  const double pi = std::numbers::pi;
  Tensor x = uniform({samples, 1}, gen, -pi, pi);  // (N, 1)
  std::vector<double> targets = x.to_vector();
  for (double& t : targets) t = std::sin(t);
  Tensor y = from_vector(targets, {samples, 1});   // (N, 1)

  // x spans [-pi, pi], so N(0, 1) first-layer weights spread the tanh units' bends over the curve;
  // N(0, 1/H) second-layer weights keep the initial prediction of order 1.
  Tensor w1 = randn({1, hidden}, gen, DType::float32, 0.0, 1.0);
  Tensor b1 = zeros({hidden});
  Tensor w2 = randn({hidden, 1}, gen, DType::float32, 0.0, 1.0 / std::sqrt(double(hidden)));
  Tensor b2 = zeros({1});
  for (Tensor* p : {&w1, &b1, &w2, &b2}) p->set_requires_grad();

  double first_loss = 0.0, last_loss = 0.0;
  for (std::int64_t step = 0; step <= steps; ++step) {
    Tensor h = tanh(matmul(x, w1) + b1);       // (N, H), the bias broadcasts over rows
    Tensor prediction = matmul(h, w2) + b2;    // (N, 1)
    Tensor loss = mean(pow(prediction - y, 2.0));
    last_loss = loss.item();
    if (step == 0) first_loss = last_loss;
    if (step % print_every == 0 || step == steps)
      std::printf("step %5lld  loss %.6f\n", static_cast<long long>(step), last_loss);
    if (step == steps) break;

    loss.backward();  // walks the tape backwards, filling w1.grad() ... b2.grad()
    for (Tensor* p : {&w1, &b1, &w2, &b2}) sgd_step(*p, static_cast<float>(lr));
  }
  std::printf("loss %.6f -> %.6f (%.0fx lower)\n", first_loss, last_loss, first_loss / last_loss);
  return last_loss < first_loss ? 0 : 1;
}
