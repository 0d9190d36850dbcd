// io::from_torch: a PyTorch model's state dict (tools/make_torch_convert_fixtures.py) loaded into the same
// model built with xgrad layers gives PyTorch's outputs on the same inputs.
#include <catch2/catch.hpp>

#include <string>

#include "fixtures.hpp"
#include "testing.hpp"
#include "xgrad/io/checkpoint.hpp"
#include "xgrad/io/safetensors.hpp"
#include "xgrad/io/torch.hpp"
#include "xgrad/nn/nn.hpp"
#include "xgrad/nn/multi_head_attention.hpp"

using namespace xgrad;
using Catch::Matchers::Contains;

namespace {

const std::string kStatePath = std::string(XGRAD_FIXTURE_DIR) + "/torch_convert.safetensors";

// The fixture's PyTorch model with xgrad layers, under the same module paths.
struct Model : nn::Module {
  nn::Sequential seq;
  nn::Embedding emb{10, 4};
  nn::MultiHeadAttention attn;
  nn::MultiHeadAttention cross{nn::MultiHeadAttentionOptions{.num_heads = 2, .key_dim = 4}};

  // `attn_key_dim` other than 4 makes a model the fixture does not fit.
  explicit Model(std::int64_t attn_key_dim = 4)
      : Module("Model"), attn(nn::MultiHeadAttentionOptions{.num_heads = 2, .key_dim = attn_key_dim}) {
    seq.emplace<nn::Dense>(nn::DenseOptions{.units = 8, .input_dim = 4});
    seq.emplace<nn::LayerNorm>(nn::LayerNormOptions{.epsilon = 1e-5, .input_dim = 8});  // torch's epsilon
    seq.emplace<nn::Tanh>();
    seq.emplace<nn::Dense>(nn::DenseOptions{.units = 3, .input_dim = 8});
    register_module("seq", seq);
    register_module("emb", emb);
    register_module("attn", attn);
    register_module("cross", cross);
    attn.build({2, 3, 8}, {2, 5, 8}, {2, 5, 8});
    cross.build({2, 3, 8}, {2, 5, 5}, {2, 5, 6});  // kdim 6, vdim 5: torch's separate q/k/v_proj_weight
  }
};

// The state with `key` renamed to `to` (or dropped when `to` is empty).
std::vector<nn::NamedTensor> edited(std::vector<nn::NamedTensor> state, const std::string& key, const std::string& to) {
  std::vector<nn::NamedTensor> out;
  for (auto& [name, t] : state)
    if (name != key) out.emplace_back(name, t);
    else if (!to.empty()) out.emplace_back(to, t);
  return out;
}

}  // namespace

TEST_CASE("from_torch: a PyTorch Sequential, Embedding and MultiheadAttention give torch's outputs", "[io]") {
  const auto fx = test::load_fixture("torch_convert.json");
  Model model;
  const auto torch_state = load_safetensors(kStatePath);
  const auto converted = io::from_torch(torch_state, model);
  CHECK(converted.size() == model.state().size());
  io::copy_state(model.state(), converted, true, kStatePath);
  const auto input = [&](const char* name) { return test::fixture_tensor(fx.at(name), DType::float32); };
  test::check_close(model.seq(input("x")), test::fixture_tensor(fx.at("seq")), 1e-5);
  test::check_close(model.emb(test::fixture_tensor(fx.at("ids"), DType::int64)), test::fixture_tensor(fx.at("emb")),
                    1e-6);
  test::check_close(model.attn(input("q"), input("kv")).output, test::fixture_tensor(fx.at("attn")), 1e-5);
  test::check_close(model.cross(input("q"), input("v5"), {.key = input("k6")}).output,
                    test::fixture_tensor(fx.at("cross")), 1e-5);
}

TEST_CASE("from_torch: Dense kernels are the transposed Linear weights, LayerNorm weight/bias are gamma/beta", "[io]") {
  Model model;
  const auto torch_state = load_safetensors(kStatePath);
  const auto converted = io::from_torch(torch_state, model);
  auto find = [](const std::vector<nn::NamedTensor>& s, const std::string& key) {
    for (const auto& [name, t] : s)
      if (name == key) return t;
    FAIL("no " << key);
    return Tensor();
  };
  const Tensor weight = find(torch_state, "seq.0.weight"), kernel = find(converted, "seq.0.kernel");
  REQUIRE(weight.shape() == Shape{8, 4});
  REQUIRE(kernel.shape() == Shape{4, 8});
  CHECK(kernel.at({3, 5}) == weight.at({5, 3}));
  CHECK(find(converted, "seq.1.gamma").to_vector() == find(torch_state, "seq.1.weight").to_vector());
  CHECK(find(converted, "seq.1.beta").to_vector() == find(torch_state, "seq.1.bias").to_vector());
  CHECK(find(converted, "emb.embeddings").to_vector() == find(torch_state, "emb.weight").to_vector());
  // attn.key.kernel[d, n, h] = in_proj_weight[E + n * 4 + h, d]
  CHECK(find(converted, "attn.key.kernel").at({6, 1, 2}) == find(torch_state, "attn.in_proj_weight").at({8 + 4 + 2, 6}));
  // attention_output.kernel[n, h, e] = out_proj.weight[e, n * 4 + h]
  CHECK(find(converted, "attn.attention_output.kernel").at({1, 3, 0}) ==
        find(torch_state, "attn.out_proj.weight").at({0, 7}));
}

TEST_CASE("from_torch: missing, unused, repeated and misshapen keys are errors naming them", "[io]") {
  Model model;
  const auto state = load_safetensors(kStatePath);
  CHECK_ERROR(io::from_torch(edited(state, "seq.3.bias", ""), model), ValueError,
              "from_torch: the PyTorch state has no 'seq.3.bias' for seq.3.bias");
  CHECK_ERROR(io::from_torch(edited(state, "emb.weight", "emb.table"), model), ValueError,
              Contains("has no 'emb.weight' for emb.embeddings"));
  auto extra = state;
  extra.emplace_back("head.weight", zeros({2, 2}));
  CHECK_ERROR(io::from_torch(extra, model), ValueError, Contains("no place for the PyTorch keys head.weight"));
  auto twice = state;
  twice.push_back(state[0]);
  CHECK_ERROR(io::from_torch(twice, model), ValueError, "from_torch: key 'seq.0.weight' appears twice in the PyTorch state");
  nn::MultiHeadAttention three_heads({.num_heads = 4, .key_dim = 4});
  std::vector<nn::NamedTensor> attn_state;
  for (const auto& [name, t] : state)
    if (name.rfind("attn.", 0) == 0) attn_state.emplace_back(name.substr(5), t);
  CHECK_ERROR(io::from_torch(attn_state, three_heads), ShapeError,
              "from_torch: 'in_proj_weight' has shape (24, 8) but the MultiHeadAttention (4 heads of width 4) needs 48 rows");
  Model wide(8);
  CHECK_ERROR(io::from_torch(state, wide), ShapeError,
              "from_torch: 'attn.in_proj_weight' has shape (24, 8) but 'attn' (2 heads of width 8) needs 48 rows");
  attn_state.emplace_back("bias_k", zeros({1, 1, 8}));
  CHECK_ERROR(io::from_torch(attn_state, three_heads), ValueError, Contains("'bias_k' (add_bias_kv) has no xgrad"));
}
