// The training loop of docs/tutorial.md: an MLP classifies points of a three-armed spiral.
#include <xgrad/xgrad.hpp>

#include <cmath>
#include <cstdio>
#include <numbers>

using namespace xgrad;

// Three interleaved spiral arms, one class each, with a little noise.
struct Spiral {
  Tensor points;  // (n, 2) float32
  Tensor labels;  // (n,) int64
};

Spiral make_spiral(std::int64_t per_class, Generator& gen) {
  std::vector<double> xy;
  std::vector<std::int64_t> labels;
  for (std::int64_t c = 0; c < 3; ++c) {
    for (std::int64_t i = 0; i < per_class; ++i) {
      const double r = static_cast<double>(i) / static_cast<double>(per_class);
      const double angle = 4.0 * r + 2.0 * std::numbers::pi * static_cast<double>(c) / 3.0 + 0.2 * gen.normal();
      xy.push_back(r * std::sin(angle));
      xy.push_back(r * std::cos(angle));
      labels.push_back(c);
    }
  }
  const auto n = static_cast<std::int64_t>(labels.size());
  return {from_vector(xy, {n, 2}), index_tensor(labels, {n})};
}

int main() {
  Generator gen(7);
  Spiral train = make_spiral(200, gen), valid = make_spiral(100, gen);
  // Mini-batches of 60 points, reshuffled every epoch; the order depends only on the seed and the epoch.
  data::DataLoader batches(data::TensorDataset({train.points, train.labels}),
                           {.batch_size = 60, .shuffle = true, .seed = 7});

  // 1. The model: layers are plain objects; Sequential names them "0", "1", "2".
  nn::Sequential model;
  model.emplace<nn::Dense>(nn::DenseOptions{.units = 64, .activation = "tanh", .input_dim = 2, .seed = 1});
  model.emplace<nn::Dense>(nn::DenseOptions{.units = 64, .activation = "tanh", .input_dim = 64, .seed = 2});
  model.emplace<nn::Dense>(nn::DenseOptions{.units = 3, .input_dim = 64, .seed = 3});
  fmt::print("{}", model);

  // 2. The optimizer gets the parameters by name, so its state can be checkpointed.
  const int epochs = 60;
  optim::AdamW optimizer(model.named_trainable_parameters(), {.lr = 0.02, .weight_decay = 1e-4});
  optim::LRScheduler schedule(optimizer, optim::warmup_cosine_lr(0.02, 30, epochs * batches.size(), 1e-4));

  // 3. The loop: one pass over the shuffled batches per epoch; forward, loss, backward, clip, step.
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    model.train();
    nn::RunningMean train_loss;
    for (const auto& batch : batches) {  // batch[0]: points (60, 2), batch[1]: labels (60,)
      optimizer.zero_grad();
      Tensor loss = nn::cross_entropy(model(batch[0]), batch[1]);
      loss.backward();
      optim::clip_grad_norm(model.parameters(), 1.0);
      optimizer.step();
      schedule.step();
      train_loss.update(loss, static_cast<double>(batch[0].size(0)));
    }
    if (epoch % 10 == 0) {
      NoGradGuard no_grad;  // evaluation records nothing on the tape
      model.eval();
      Tensor logits = model(valid.points);
      fmt::print("epoch {:2d}  train loss {:.4f}  valid loss {:.4f}  valid accuracy {:.3f}\n", epoch,
                 train_loss.mean(), nn::cross_entropy(logits, valid.labels).item(),
                 nn::accuracy(logits, valid.labels));
    }
  }

  // 4. Save, then restore into a fresh model: the same predictions come back.
  io::save(model, "spiral_mlp.safetensors");
  nn::Sequential restored;
  for (std::int64_t units : {64, 64, 3})
    restored.emplace<nn::Dense>(nn::DenseOptions{.units = units, .activation = units == 3 ? "linear" : "tanh"});
  io::load(restored, "spiral_mlp.safetensors");  // builds the unbuilt layers from the file's shapes
  NoGradGuard no_grad;
  const double final_accuracy = nn::accuracy(restored(valid.points), valid.labels);
  fmt::print("restored model: valid accuracy {:.3f}\n", final_accuracy);
  return final_accuracy > 0.9 ? 0 : 1;
}
