// char_lm: train a character-level Transformer language model with xgrad, on the CPU or a plugin's device.
//   ./build/examples/char_lm --steps 2000 --checkpoint-dir run1      # the Jargon File by default
//   ./build/examples/char_lm --device cuda                           # on a GPU (the CUDA plugin, docs/cuda.md)
//   ./build/examples/char_lm --checkpoint-dir run1 --steps 4000 --resume
//   mpirun -np 2 ./build/examples/char_lm --threads 1     # data parallel, when built with MPI (ranks.hpp)
// Leaves run1/metrics.csv, run1/loss.svg and run1/checkpoint.safetensors (model, optimizer, schedule and
// step in one file, replaced atomically).
#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include "corpus.hpp"
#include "metrics.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "ranks.hpp"
#include "vocab.hpp"
#include "xgrad/autograd/tape.hpp"
#include "xgrad/io/checkpoint.hpp"
#include "xgrad/io/safetensors.hpp"
#include "xgrad/backend/threads.hpp"
#include "xgrad/nn/transformer.hpp"
#include "xgrad/ops/nn.hpp"
#include "xgrad/ops/precision.hpp"
#include "xgrad/ops/shape.hpp"
#include "xgrad/optim/clip.hpp"
#include "xgrad/optim/finite.hpp"
#include "xgrad/optim/optimizers.hpp"
#include "xgrad/optim/schedule.hpp"
#include "xgrad/tensor/creation.hpp"

using namespace char_lm;
using xgrad::Tensor;
using xgrad::nn::TransformerLM;
namespace fs = std::filesystem;

namespace {

constexpr double kValFraction = 0.1, kClipNorm = 1.0;
constexpr int kEvalBatches = 8;

// Mean cross-entropy (nats/char) of the next-token predictions of a batch.
Tensor batch_loss(TransformerLM& model, const Batch& b, std::int64_t batch, std::int64_t context) {
  const xgrad::Device device = model.device();  // the token ids go where the model is
  const Tensor logits = model.forward(xgrad::index_tensor(b.inputs, {batch, context}).to(device));
  return xgrad::cross_entropy(xgrad::reshape(logits, {batch * context, model.options().vocab_size}),
                              xgrad::index_tensor(b.targets, {batch * context}).to(device));
}

// Validation loss over a fixed set of windows spread evenly over the validation text, so every
// evaluation (and a resumed run's) measures the same thing.
double validation_loss(TransformerLM& model, const BatchSampler& val, std::int64_t batch, std::int64_t context) {
  xgrad::NoGradGuard no_grad;
  model.eval();
  const std::size_t n = std::size_t(kEvalBatches * batch);
  double total = 0;
  for (int k = 0; k < kEvalBatches; ++k) {
    std::vector<std::size_t> starts(static_cast<std::size_t>(batch));
    for (std::size_t i = 0; i < starts.size(); ++i)
      starts[i] = (std::size_t(k) * starts.size() + i) * (val.windows() - 1) / (n - 1);
    total += batch_loss(model, val.at(starts), batch, context).item();
  }
  model.train();
  return total / kEvalBatches;
}

// The batch of step `step` depends only on (seed, step): a resumed run draws exactly the batches the
// uninterrupted run would have.
xgrad::Generator step_generator(std::uint64_t seed, long step) { return xgrad::Generator(seed * 1000003u + std::uint64_t(step)); }

// `n` characters after `prompt`, drawn from softmax(logits / temperature) through the key/value cache.
std::string sample_text(TransformerLM& model, const Vocab& vocab, const std::vector<std::int32_t>& prompt, int n,
                        double temperature, xgrad::Generator& gen) {
  const Tensor start = xgrad::index_tensor({prompt.begin(), prompt.end()}, {1, std::int64_t(prompt.size())});
  const Tensor ids = model.generate(start.to(model.device()), n, temperature, gen, /*use_cache=*/true)
                         .to(xgrad::Device{});
  const std::int64_t* p = ids.data<std::int64_t>();
  return vocab.decode({p + prompt.size(), p + ids.numel()});
}

// Stops the run at a NaN or infinite global loss: every rank sees the same value, so all stop at the same step,
// before the update reaches the weights and before any checkpoint is written.
void stop_if_diverged(double global_loss, long step, const fs::path& dir) {
  try {
    xgrad::optim::finite_loss(xgrad::scalar(global_loss, xgrad::DType::float64));
  } catch (const xgrad::ValueError& e) {
    throw xgrad::ValueError(fmt::format("step {}: {}; the checkpoint in {} was not overwritten (lower --lr, or "
                                        "--resume from it)", step + 1, e.what(), dir.string()));
  }
}

}  // namespace

int main(int argc, char** argv) try {
  Options o;
  if (int rc = parse_options(argc, argv, o)) return rc < 0 ? 0 : rc;
  Ranks ranks(argc, argv);  // from here on only rank 0 prints; a rank that fails ends the whole job
  xgrad::set_num_threads(o.threads);
  // Training and evaluation alike: every product of the run takes bfloat16 operands under --precision bf16.
  const xgrad::PrecisionScope precision(o.precision == "bf16" ? xgrad::ProductPrecision::bfloat16
                                                              : xgrad::ProductPrecision::float32);

  const std::string data_path = o.data.empty() ? default_corpus_path() : o.data;
  const std::string text = read_text(data_path);
  const Vocab vocab = Vocab::from_text(text);
  const Split split = split_tokens(vocab.encode(text), kValFraction, std::size_t(o.context));
  const double unigram = unigram_entropy(split.train, vocab.size());
  fmt::print("corpus {}: {} characters, vocabulary {}, train {} / validation {}\n", data_path,
             split.train.size() + split.val.size(), vocab.size(), split.train.size(), split.val.size());
  fmt::print("baselines (nats/char): uniform {:.3f}, unigram {:.3f}\n", std::log(double(vocab.size())), unigram);

  const xgrad::Device device = xgrad::parse_device(o.device);
  if (ranks.size() > 1 && device != xgrad::Device{})
    throw xgrad::ValueError(fmt::format("--device {} under mpirun: data-parallel training averages gradients in host "
                                        "memory, so it runs on the CPU only; drop --device or run one process",
                                        o.device));
  TransformerLM model(model_options(o, std::int64_t(vocab.size())));
  model.to(device);  // in place: the optimizer below sees the device's tensors
  const bool not_native = o.precision == "bf16" && !xgrad::bf16_products_supported();
  fmt::print("model: {} parameters ({} layers, d_model {}, {} heads, context {}) on {}, products in {}{}\n",
             model.num_parameters(), o.layers, o.d_model, o.heads, o.context, xgrad::device_str(device), o.precision,
             not_native ? " (no native bfloat16 products on this machine)" : "");
  if (ranks.size() > 1) fmt::print("{}\n", ranks.describe(o.batch));
  ranks.wrap(model);
  std::fflush(stdout);  // before the progress output on stderr
  xgrad::optim::Adam opt(model.named_trainable_parameters(), {.lr = o.lr});
  xgrad::optim::LRScheduler sched(opt, xgrad::optim::warmup_cosine_lr(o.lr, std::min(o.warmup, o.steps), o.steps, o.lr / 10));

  const fs::path dir(o.checkpoint_dir);
  if (ranks.leader()) fs::create_directories(dir);
  const std::string checkpoint_file = dir / "checkpoint.safetensors", csv_file = dir / "metrics.csv",
                    svg_file = dir / "loss.svg";
  const std::string vocab_utf8 = utf8_encode(vocab.code_points()), seed_text = std::to_string(o.seed);
  xgrad::io::TrainingState state{model, opt, &sched, {}};
  long step = 0;
  std::vector<MetricsRow> rows;
  if (o.resume) {
    // Checked before loading: another corpus usually means another vocabulary size, and its shape error
    // would hide the reason.
    const auto meta = xgrad::load_safetensors_metadata(checkpoint_file);
    if (meta.count("user.vocab") == 0 || meta.at("user.vocab") != vocab_utf8)
      throw xgrad::ValueError(fmt::format("--resume: the checkpoint in {} was trained on another vocabulary", dir.string()));
    if (meta.count("user.seed") == 0 || meta.at("user.seed") != seed_text)
      throw xgrad::ValueError(fmt::format("--resume: the checkpoint in {} was trained with another --seed, not {}",
                                          dir.string(), seed_text));
    xgrad::io::load_training_state(checkpoint_file, state);  // model, optimizer and schedule, all or nothing
    step = sched.current_step();
    // Rows logged after the checkpoint belong to steps that will be run again: drop them.
    if (fs::exists(csv_file))
      for (const auto& r : read_metrics_csv(csv_file))
        if (r.step <= step) rows.push_back(r);
    fmt::print("resumed from step {} of {}\n", step, dir.string());
    std::fflush(stdout);
  }
  std::optional<MetricsCsv> csv;  // rank 0 alone writes files
  if (ranks.leader()) {
    csv.emplace(csv_file, /*append=*/false);
    for (const auto& r : rows) csv->write(r);
  }
  const std::vector<ReferenceLine> refs{{unigram, fmt::format("unigram {:.2f}", unigram)}};
  const std::string title = fmt::format("char_lm: {} layers, d_model {}, {} on {}", o.layers, o.d_model,
                                        fmt::format("{:.3g} M params", double(model.num_parameters()) / 1e6),
                                        fs::path(data_path).filename().string());

  const BatchSampler train(split.train, std::size_t(o.batch), std::size_t(o.context)),
      val(split.val, std::size_t(o.batch), std::size_t(o.context));
  Progress progress(ranks.progress_stream(), o.steps, step, 50, o.progress && isatty(fileno(ranks.progress_stream())));
  const double tokens_per_step = double(o.batch) * double(o.context);
  const auto t0 = std::chrono::steady_clock::now();
  auto t_prev = t0;
  const double elapsed0 = rows.empty() ? 0.0 : rows.back().elapsed_s;
  const long first_step = step;
  while (step < o.steps) {
    const double lr = opt.learning_rate();
    auto gen = step_generator(o.seed, step);
    model.reseed(ranks.dropout_seed(o.seed ^ (std::uint64_t(step) << 20)));
    opt.zero_grad();
    const Batch rows_here = ranks.shard(train.sample(gen), o.context);  // every rank draws the same global batch
    Tensor loss = batch_loss(model, rows_here, std::int64_t(rows_here.inputs.size()) / o.context, o.context);
    const double train_loss = ranks.global_loss(loss.item());
    stop_if_diverged(train_loss, step, dir);
    loss.backward();
    ranks.average_gradients();
    xgrad::optim::clip_grad_norm(model.named_trainable_parameters(), kClipNorm, 2.0, /*error_if_nonfinite=*/true);
    opt.step();
    sched.step();
    ++step;

    const auto now = std::chrono::steady_clock::now();
    MetricsRow row{step, train_loss, NAN, lr,
                   tokens_per_step / std::chrono::duration<double>(now - t_prev).count(),
                   elapsed0 + std::chrono::duration<double>(now - t0).count()};
    t_prev = now;
    progress.update(step, row.train_loss, tokens_per_step * double(step - first_step));
    if (step % o.eval_every == 0 || step == o.steps) {
      row.val_loss = validation_loss(model, val, o.batch, o.context);
      progress.note(fmt::format("step {}: train {:.4f}, validation {:.4f} nats/char", step, row.train_loss, row.val_loss));
    }
    if (csv) csv->write(row);
    rows.push_back(row);
    if (ranks.leader() && !std::isnan(row.val_loss)) write_file_atomic(svg_file, loss_curve_svg(rows, title, refs));
    if (step % o.checkpoint_every == 0 || step == o.steps) {
      xgrad::optim::check_finite(model.named_parameters());  // on every rank: the weights are the same everywhere
      ranks.on_leader([&] {  // the other ranks wait until the checkpoint is complete
        state.metadata = {{"step", std::to_string(step)}, {"vocab", vocab_utf8}, {"seed", seed_text}};
        xgrad::io::save_training_state(checkpoint_file, state);
      });
      progress.note(fmt::format("checkpoint: step {} -> {}", step, dir.string()));
    }
    if (o.stop_after > 0 && step >= o.stop_after) {
      progress.finish();
      fmt::print("stopped after step {} (--stop-after); continue with --resume\n", step);
      return 0;
    }
  }
  progress.finish();
  if (const std::string summary = ranks.communication_summary(); !summary.empty()) fmt::print("{}\n", summary);
  if (!ranks.leader()) return 0;

  xgrad::Generator gen(o.seed + 1);
  const std::vector<std::int32_t> prompt(split.val.begin(), split.val.begin() + std::min<std::ptrdiff_t>(o.context, 32));
  fmt::print("--- sample (temperature 0.8) ---\n{}{}\n", vocab.decode(prompt), sample_text(model, vocab, prompt, 400, 0.8, gen));
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "char_lm: {}\n", e.what());
  return 1;
}
