// train_mlp: a two-layer perceptron learns y = sin(x) on [-pi, pi] by mini-batch gradient descent.
// Everything but the batching is spelled out with the ops API: the forward pass, the mean squared
// error, the backward pass through the tape, and the SGD update. data::DataLoader deals the
// shuffled mini-batches.
//
//   ./build/examples/train_mlp                  # defaults below
//   ./build/examples/train_mlp --hidden 64 --epochs 2000 --batch-size 32 --lr 0.02
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
  std::int64_t samples = 256, hidden = 32, epochs = 1000, batch_size = 64, print_every = 100;
  double lr = 0.05;
  std::uint64_t seed = 0;
  CLI::App app{"Fits sin(x) with a two-layer tanh MLP and plain mini-batch SGD"};
  app.add_option("--samples", samples, "training points on [-pi, pi]")->capture_default_str();
  app.add_option("--hidden", hidden, "hidden units")->capture_default_str();
  app.add_option("--epochs", epochs, "passes over the training points")->capture_default_str();
  app.add_option("--batch-size", batch_size, "points per gradient step")->capture_default_str();
  app.add_option("--lr", lr, "learning rate")->capture_default_str();
  app.add_option("--print-every", print_every, "epochs between loss reports")->capture_default_str();
  app.add_option("--seed", seed, "seed of the data, the initial weights and the batch order")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Generator gen(seed);
  const double pi = std::numbers::pi;
  Tensor x = uniform({samples, 1}, gen, -pi, pi);  // (N, 1)
  std::vector<double> targets = x.to_vector();
  for (double& t : targets) t = std::sin(t);
  Tensor y = from_vector(targets, {samples, 1});   // (N, 1)
  data::DataLoader batches(data::TensorDataset({x, y}), {.batch_size = batch_size, .shuffle = true, .seed = seed});

  // x spans [-pi, pi], so N(0, 1) first-layer weights spread the tanh units' bends over the curve;
  // N(0, 1/H) second-layer weights keep the initial prediction of order 1.
  Tensor w1 = randn({1, hidden}, gen, DType::float32, 0.0, 1.0);
  Tensor b1 = zeros({hidden});
  Tensor w2 = randn({hidden, 1}, gen, DType::float32, 0.0, 1.0 / std::sqrt(double(hidden)));
  Tensor b2 = zeros({1});
  for (Tensor* p : {&w1, &b1, &w2, &b2}) p->set_requires_grad();
  auto predict = [&](const Tensor& in) {
    Tensor h = tanh(matmul(in, w1) + b1);  // (B, H), the bias broadcasts over rows
    return matmul(h, w2) + b2;             // (B, 1)
  };

  double first_loss = 0.0, last_loss = 0.0;
  for (std::int64_t epoch = 0; epoch <= epochs; ++epoch) {
    if (epoch % print_every == 0 || epoch == epochs) {
      NoGradGuard no_grad;  // the report on all points is not trained on
      last_loss = mean(pow(predict(x) - y, 2.0)).item();
      if (epoch == 0) first_loss = last_loss;
      std::printf("epoch %5lld  loss %.6f\n", static_cast<long long>(epoch), last_loss);
    }
    if (epoch == epochs) break;
    for (const auto& batch : batches) {  // batch[0]: x (B, 1), batch[1]: y (B, 1)
      Tensor loss = mean(pow(predict(batch[0]) - batch[1], 2.0));
      loss.backward();  // walks the tape backwards, filling w1.grad() ... b2.grad()
      for (Tensor* p : {&w1, &b1, &w2, &b2}) sgd_step(*p, static_cast<float>(lr));
    }
  }
  std::printf("loss %.6f -> %.6f (%.0fx lower)\n", first_loss, last_loss, first_loss / last_loss);
  return last_loss < first_loss ? 0 : 1;
}
