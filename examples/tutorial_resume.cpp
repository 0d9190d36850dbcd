// docs/tutorial.md, "Train, evaluate, save, resume": a model with a layer of our own trains on
// mini-batches, stops halfway, saves its whole training state in one file, and a fresh process-like
// restart resumes from it. The resumed run must end bit for bit where the uninterrupted one does.
#include <xgrad/xgrad.hpp>

#include <cstdio>
#include <memory>

#include "gated_residual.hpp"

using namespace xgrad;

namespace {

// Two interleaved half-moons: 2-D points, class 0 or 1.
data::TensorDataset make_moons(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<double> points;
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = i % 2;
    const double t = 3.14159265358979 * gen.uniform();
    points.push_back((c ? 1.0 - std::cos(t) : std::cos(t)) + 0.1 * gen.normal());
    points.push_back((c ? 0.5 - std::sin(t) : std::sin(t)) + 0.1 * gen.normal());
    labels.push_back(c);
  }
  return data::TensorDataset({from_vector(points, {n, 2}), index_tensor(labels, {n})});
}

// Everything one run holds: model, optimizer, schedule.
struct Run {
  nn::Sequential model;
  std::unique_ptr<optim::AdamW> optimizer;
  std::unique_ptr<optim::LRScheduler> schedule;

  explicit Run(std::int64_t total_steps) {
    model.emplace<nn::Dense>(nn::DenseOptions{.units = 16, .activation = "relu", .input_dim = 2, .seed = 1});
    model.emplace<GatedResidual>(16, 2);
    model.emplace<nn::Dense>(nn::DenseOptions{.units = 2, .input_dim = 16, .seed = 4});
    optimizer = std::make_unique<optim::AdamW>(model.named_trainable_parameters(), optim::AdamWOptions{.lr = 0.02});
    schedule = std::make_unique<optim::LRScheduler>(*optimizer, optim::warmup_cosine_lr(0.02, 10, total_steps, 1e-3));
  }

  io::TrainingState state() { return {model, *optimizer, schedule.get(), {}}; }

  // Trains epochs [first, last): each epoch's batch order comes from the loader's seed and the epoch.
  void train(data::DataLoader& loader, std::int64_t first, std::int64_t last) {
    model.train();
    for (std::int64_t epoch = first; epoch < last; ++epoch) {
      loader.set_epoch(epoch);
      for (const auto& batch : loader) {
        optimizer->zero_grad();
        Tensor loss = nn::cross_entropy(model(batch[0]), batch[1]);
        optim::finite_loss(loss);  // a NaN or inf loss stops the run (ValueError) before it reaches the weights
        loss.backward();
        optimizer->step();
        schedule->step();
      }
    }
  }

  double accuracy(const data::TensorDataset& data) {
    NoGradGuard no_grad;
    model.eval();
    return nn::accuracy(model(data.tensors()[0]), data.tensors()[1]);
  }
};

}  // namespace

int main() {
  const data::TensorDataset train = make_moons(512, 11), held_out = make_moons(256, 12);
  data::DataLoader loader(train, {.batch_size = 32, .shuffle = true, .seed = 7});
  const std::int64_t epochs = 8, steps = epochs * loader.size();
  const std::string path = "tutorial_resume.safetensors";

  // The uninterrupted run, which saves its training state after epoch 4 on the way.
  Run straight(steps);
  straight.train(loader, 0, 4);
  io::TrainingState saved = straight.state();
  saved.metadata = {{"epoch", "4"}};
  io::save_training_state(path, saved);
  straight.train(loader, 4, epochs);

  // A fresh run (as after a restart) resumes from the file: weights, AdamW's moments and step counts,
  // the schedule's step, and the epoch to continue from.
  Run resumed(steps);
  io::TrainingState state = resumed.state();
  io::load_training_state(path, state);
  resumed.train(loader, std::stoll(state.metadata.at("epoch")), epochs);

  bool identical = true;
  const auto a = straight.model.named_parameters(), b = resumed.model.named_parameters();
  for (std::size_t i = 0; i < a.size(); ++i) identical = identical && a[i].second.to_vector() == b[i].second.to_vector();
  const double accuracy = resumed.accuracy(held_out);
  std::printf("resumed run %s the uninterrupted one; held-out accuracy %.3f\n",
              identical ? "matches" : "DIFFERS FROM", accuracy);
  return identical && accuracy > 0.95 ? 0 : 1;
}
