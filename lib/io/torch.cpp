// from_torch: PyTorch state dicts to xgrad names and layouts, one rule per layer type.
#include "xgrad/io/torch.hpp"

#include <fmt/format.h>

#include <map>
#include <set>
#include <string>

#include "xgrad/autograd/tape.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/layer_norm.hpp"
#include "xgrad/nn/multi_head_attention.hpp"
#include "xgrad/ops/shape.hpp"

namespace xgrad::io {

namespace {

// The torch state by name, with the keys taken so far.
class TorchState {
 public:
  explicit TorchState(const std::vector<nn::NamedTensor>& state) {
    for (const auto& [name, t] : state)
      if (!tensors_.emplace(name, t).second)
        throw ValueError(fmt::format("from_torch: key '{}' appears twice in the PyTorch state", name));
  }

  // The tensor at `key`, marked as used; `what` says which xgrad tensor needs it.
  Tensor take(const std::string& key, const std::string& what) {
    auto it = tensors_.find(key);
    if (it == tensors_.end())
      throw ValueError(fmt::format("from_torch: the PyTorch state has no '{}' for {}", key, what));
    used_.insert(key);
    return it->second;
  }
  bool has(const std::string& key) const { return tensors_.count(key) > 0; }

  // Throws unless every key was taken.
  void check_all_used() const {
    std::vector<std::string> left;
    for (const auto& [name, t] : tensors_)
      if (!used_.count(name)) left.push_back(name);
    if (!left.empty())
      throw ValueError(fmt::format("from_torch: the model has no place for the PyTorch keys {}; its modules must "
                                   "mirror the PyTorch ones (rename the keys first if their paths differ)",
                                   fmt::join(left, ", ")));
  }

 private:
  std::map<std::string, Tensor> tensors_;
  std::set<std::string> used_;
};

// torch.nn.MultiheadAttention -> MultiHeadAttention: the packed (3E, E) in-projection (or the separate
// q/k/v_proj_weight when kdim/vdim differ) is split per projection, transposed to (in, E) and viewed as
// (in, N, H); out_proj.weight (E_out, E) becomes (N, H, E_out). Head n owns features n*H .. n*H+H-1 of
// each projection in both libraries.
void convert_attention(const nn::MultiHeadAttention& mha, const std::string& p, TorchState& torch,
                       std::vector<nn::NamedTensor>& out) {
  const auto& o = mha.options();
  const std::int64_t N = o.num_heads, H = o.key_dim, E = N * H;
  const std::string where = p.empty() ? "the MultiHeadAttention" : fmt::format("'{}'", p.substr(0, p.size() - 1));
  if (o.value_dim.value_or(H) != H)
    throw ShapeError(fmt::format("from_torch: {} has key_dim {} but value_dim {}; torch's MultiheadAttention "
                                 "has one head width",
                                 where, H, *o.value_dim));
  for (const char* extra : {"bias_k", "bias_v"})
    if (torch.has(p + extra))
      throw ValueError(fmt::format("from_torch: '{}{}' (add_bias_kv) has no xgrad equivalent", p, extra));
  // Throws unless torch tensor `key` has `rows` rows (and is 2-D, unless a bias).
  auto require_rows = [&](const Tensor& t, const std::string& key, std::int64_t rows, bool matrix) {
    if (t.dim() != (matrix ? 2 : 1) || t.size(0) != rows)
      throw ShapeError(fmt::format("from_torch: '{}' has shape {} but {} ({} heads of width {}) needs {}", key,
                                   shape_str(t.shape()), where, N, H,
                                   matrix ? fmt::format("{} rows", rows) : fmt::format("({},)", rows)));
  };
  const bool packed = torch.has(p + "in_proj_weight");
  Tensor w_in, b_in;
  if (packed) require_rows(w_in = torch.take(p + "in_proj_weight", p + "query.kernel"), p + "in_proj_weight", 3 * E, true);
  if (o.use_bias) require_rows(b_in = torch.take(p + "in_proj_bias", p + "query.bias"), p + "in_proj_bias", 3 * E, false);
  const std::pair<const char*, const char*> projections[] = {
      {"query", "q_proj_weight"}, {"key", "k_proj_weight"}, {"value", "v_proj_weight"}};
  for (std::int64_t i = 0; i < 3; ++i) {
    const std::string dst = p + projections[i].first, src = p + projections[i].second;
    Tensor w = packed ? narrow(w_in, 0, i * E, E) : torch.take(src, dst + ".kernel");
    if (!packed) require_rows(w, src, E, true);
    out.emplace_back(dst + ".kernel", reshape(transpose(w, 0, 1), {w.size(1), N, H}));
    if (o.use_bias) out.emplace_back(dst + ".bias", reshape(narrow(b_in, 0, i * E, E), {N, H}));
  }
  const Tensor w_out = torch.take(p + "out_proj.weight", p + "attention_output.kernel");
  if (w_out.dim() != 2 || w_out.size(1) != E)
    throw ShapeError(fmt::format("from_torch: '{}out_proj.weight' has shape {} but {} ({} heads of width {}) "
                                 "needs (out, {})",
                                 p, shape_str(w_out.shape()), where, N, H, E));
  out.emplace_back(p + "attention_output.kernel", reshape(transpose(w_out, 0, 1), {N, H, w_out.size(0)}));
  if (o.use_bias)
    out.emplace_back(p + "attention_output.bias", torch.take(p + "out_proj.bias", p + "attention_output.bias"));
}

void convert(const nn::Module& m, const std::string& p, TorchState& torch, std::vector<nn::NamedTensor>& out) {
  // name in xgrad -> name in torch, for the layers whose layout agrees
  auto rename = [&](const char* xgrad_name, const char* torch_name) {
    out.emplace_back(p + xgrad_name, torch.take(p + torch_name, p + xgrad_name));
  };
  if (const auto* dense = dynamic_cast<const nn::Dense*>(&m)) {
    const Tensor w = torch.take(p + "weight", p + "kernel");
    if (w.dim() != 2)
      throw ShapeError(fmt::format("from_torch: '{}weight' has shape {}; a Linear weight is (out, in)", p,
                                   shape_str(w.shape())));
    out.emplace_back(p + "kernel", transpose(w, 0, 1));  // (out, in) -> (in, out)
    if (dense->options().use_bias) rename("bias", "bias");
    return;
  }
  if (dynamic_cast<const nn::LayerNorm*>(&m)) {  // whichever of weight and bias torch has (elementwise_affine)
    if (torch.has(p + "weight")) rename("gamma", "weight");
    if (torch.has(p + "bias")) rename("beta", "bias");
    return;
  }
  if (dynamic_cast<const nn::Embedding*>(&m)) {
    rename("embeddings", "weight");
    return;
  }
  if (const auto* mha = dynamic_cast<const nn::MultiHeadAttention*>(&m)) {
    convert_attention(*mha, p, torch, out);
    return;
  }
  for (const auto& [name, t] : m.named_parameters(false)) out.emplace_back(p + name, torch.take(p + name, p + name));
  for (const auto& [name, t] : m.named_buffers(false)) out.emplace_back(p + name, torch.take(p + name, p + name));
  for (const auto& [name, child] : m.named_children()) convert(*child, p + name + ".", torch, out);
}

}  // namespace

std::vector<nn::NamedTensor> from_torch(const std::vector<nn::NamedTensor>& torch_state, const nn::Module& model) {
  NoGradGuard no_grad;
  TorchState torch(torch_state);
  std::vector<nn::NamedTensor> out;
  convert(model, "", torch, out);
  torch.check_all_used();
  return out;
}

}  // namespace xgrad::io
