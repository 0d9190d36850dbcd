// Layers whose weights are sized by their input (Dense, LayerNorm, MultiHeadAttention): an unbuilt tree is
// refused where parameters are collected for training, with every unbuilt module named by path; input widths
// build them up front; io::load builds them from the checkpoint's shapes, no forward call needed.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>

#include "nn_helpers.hpp"
#include "xgrad/io/checkpoint.hpp"
#include "xgrad/io/safetensors.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/layer_norm.hpp"
#include "xgrad/nn/multi_head_attention.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/optim/optimizers.hpp"

using namespace xgrad;
using Catch::Contains;
using test::message_of;

namespace {

// Embedding (built at construction) -> MultiHeadAttention -> LayerNorm -> mean over time -> Dense: the
// sequence classifier of a new user, every lazily built kind in one tree.
struct Classifier : nn::Module {
  nn::Embedding embed;
  nn::MultiHeadAttention attn;
  nn::LayerNorm norm;
  nn::Dense head;
  explicit Classifier(std::uint64_t seed)
      : nn::Module("Classifier"),
        embed({.input_dim = 10, .output_dim = 6, .seed = seed}),
        attn({.num_heads = 2, .key_dim = 3, .seed = seed}),
        norm({.gamma_initializer = "random_normal", .seed = seed}),
        head({.units = 4, .seed = seed}) {
    register_module("embed", embed);
    register_module("attn", attn);
    register_module("norm", norm);
    register_module("head", head);
  }
  Tensor forward(const Tensor& ids) {
    const Tensor x = embed(ids);
    return head(mean(norm(attn(x, x).output), {1}));
  }
};

// The classifier one level down, so paths are dotted.
struct Model : nn::Module {
  Classifier encoder;
  explicit Model(std::uint64_t seed) : nn::Module("Model"), encoder(seed) { register_module("encoder", encoder); }
};

const Tensor kIds = index_tensor({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / fmt::format("xgrad_build_{}_{}", ::getpid(), name)).string();
}

std::vector<std::string> names_of(const std::vector<nn::NamedTensor>& list) {
  std::vector<std::string> out;
  for (const auto& [name, t] : list) out.push_back(name);
  return out;
}

}  // namespace

TEST_CASE("unbuilt layers: an optimizer cannot be given a model whose lazily built weights do not exist yet",
          "[layers]") {
  Model model(1);
  // Before this rule the list held only the embedding: 1 of the 11 tensors the model trains.
  CHECK(model.named_parameters().size() == 1);
  const std::string message = message_of<ValueError>([&] { (void)model.named_trainable_parameters(); });
  CHECK_THAT(message, Contains("named_trainable_parameters: 3 modules are not built"));
  CHECK_THAT(message, Contains("an optimizer given this list would never update them"));
  CHECK_THAT(message, Contains("MultiHeadAttention 'encoder.attn' is not built: "));
  CHECK_THAT(message, Contains("call build(query_shape, value_shape, key_shape)"));
  CHECK_THAT(message, Contains("LayerNorm 'encoder.norm' is not built: "));
  CHECK_THAT(message, Contains("set LayerNormOptions::input_dim"));
  CHECK_THAT(message, Contains("Dense 'encoder.head' is not built: its kernel is (input_dim, 4); set "
                               "DenseOptions::input_dim, call build(input_dim), io::load a checkpoint"));
  CHECK_THROWS_AS(optim::AdamW(model.named_trainable_parameters(), {.lr = 1e-3}), ValueError);
  // The unbuilt module itself is named too, without a path.
  nn::Dense alone(3);
  CHECK_THAT(message_of<ValueError>([&] { (void)alone.named_trainable_parameters(); }),
             Contains("1 module is not built") && Contains("Dense (the module itself) is not built"));

  const auto unbuilt = model.unbuilt_modules();
  REQUIRE(unbuilt.size() == 3);
  CHECK(unbuilt[0].first == "encoder.attn");
  CHECK(unbuilt[2].second == &model.encoder.head);
  CHECK_THAT(model.summary(), Contains("(unbuilt)"));  // a summary still works

  model.encoder.forward(kIds);  // the first call builds everything: 1 + 8 + 2 + 2 tensors
  CHECK(model.unbuilt_modules().empty());
  CHECK(model.named_trainable_parameters().size() == 13);
}

TEST_CASE("unbuilt layers: input widths build them without a forward call", "[layers]") {
  nn::Dense dense({.units = 4, .input_dim = 6});
  nn::LayerNorm norm({.input_dim = 6});
  nn::MultiHeadAttention attn({.num_heads = 2, .key_dim = 3});
  attn.build({6}, {6}, {6});
  for (const nn::Module* m : std::initializer_list<const nn::Module*>{&dense, &norm, &attn}) {
    CHECK(m->built());
    CHECK(m->unbuilt_modules().empty());
  }
  CHECK(names_of(dense.named_trainable_parameters()) == std::vector<std::string>{"kernel", "bias"});
  CHECK(names_of(norm.named_trainable_parameters()) == std::vector<std::string>{"gamma", "beta"});
  CHECK(attn.named_trainable_parameters().size() == 8);
  // A LayerNorm with neither gamma nor beta has nothing to build and is never refused.
  nn::LayerNorm plain({.center = false, .scale = false});
  CHECK(plain.built());
  CHECK(plain.named_trainable_parameters().empty());
}

TEST_CASE("unbuilt layers: build_from_shapes builds what the shapes determine and leaves the rest unbuilt",
          "[layers]") {
  Model model(2);
  model.build_from_shapes({{"encoder.head.kernel", {6, 4}}, {"encoder.norm.gamma", {6}}});
  CHECK(model.encoder.head.kernel().shape() == Shape{6, 4});
  CHECK(model.encoder.norm.gamma().shape() == Shape{6});
  const auto unbuilt = model.unbuilt_modules();
  REQUIRE(unbuilt.size() == 1);
  CHECK(unbuilt[0].first == "encoder.attn");
  model.build_from_shapes({{"encoder.attn.query.kernel", {6, 2, 3}},
                           {"encoder.attn.key.kernel", {5, 2, 3}},
                           {"encoder.attn.value.kernel", {7, 2, 3}}});
  REQUIRE(model.encoder.attn.built());
  CHECK(model.encoder.attn.get_weights()[2].shape() == Shape{5, 2, 3});  // key kernel: (dk, N, Hk)
  CHECK(model.encoder.attn.get_weights()[4].shape() == Shape{7, 2, 3});  // value kernel: (dv, N, Hv)
  CHECK(model.encoder.attn.get_weights()[6].shape() == Shape{2, 3, 6});  // output kernel: (N, Hv, dq)
}

TEST_CASE("io::load builds an unbuilt model from the file's shapes: no forward call before loading", "[layers][io]") {
  Model trained(3);
  const Tensor want = trained.encoder.forward(kIds);
  const std::string path = temp_path("classifier.safetensors");
  io::save(trained, path);

  Model fresh(4);  // other seed, never called
  REQUIRE(fresh.unbuilt_modules().size() == 3);
  io::load(fresh, path);
  CHECK(fresh.unbuilt_modules().empty());
  const auto a = trained.named_parameters(), b = fresh.named_parameters();
  REQUIRE(names_of(a) == names_of(b));
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].second.to_vector() == b[i].second.to_vector());
  CHECK(fresh.encoder.forward(kIds).to_vector() == want.to_vector());
  std::remove(path.c_str());
}

TEST_CASE("io::load refuses an unbuilt layer the file cannot size, and a file whose shapes contradict the layer",
          "[layers][io]") {
  const std::string path = temp_path("partial.safetensors");
  Model trained(5);
  trained.encoder.forward(kIds);
  auto state = trained.state();

  // No weights for the head: it cannot be built, and the message says which module and why.
  std::vector<nn::NamedTensor> without_head;
  for (const auto& entry : state)
    if (entry.first.rfind("encoder.head.", 0) != 0) without_head.push_back(entry);
  save_safetensors(path, without_head);
  Model fresh(6);
  const std::string message = message_of<ValueError>([&] { io::load(fresh, path, /*strict=*/false); });
  CHECK_THAT(message, Contains(path + ": 1 module is not built (the file holds no parameters that give their "
                               "shapes):"));
  CHECK_THAT(message, Contains("Dense 'encoder.head' is not built"));

  // A kernel of other units than the layer's: the shape check names the tensor and both shapes.
  for (auto& [name, t] : state)
    if (name == "encoder.head.kernel") t = zeros({6, 5});
  save_safetensors(path, state);
  Model other(7);
  CHECK_THAT(message_of<ShapeError>([&] { io::load(other, path); }),
             Contains("tensor 'encoder.head.kernel' has shape (6, 5), but the destination has shape (6, 4)"));
  std::remove(path.c_str());
}
