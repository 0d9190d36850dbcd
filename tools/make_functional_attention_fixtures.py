#!/usr/bin/python3
"""Writes tests/fixtures/functional_attention.json: PyTorch 1.13 references for
xgrad::functional::multi_head_attention, from torch.nn.functional.multi_head_attention_forward.

torch's functional form is sequence-first: inputs (L, N, E) (or unbatched (L, E)); the C++ tests call xgrad
with batch_first=false on the same arrays. Every tensor is float64 {"shape": [...], "data": [...]}; boolean
masks are written as 0/1 (1 = blocked, PyTorch polarity). JSON has no -inf or NaN: a float mask lists its
-inf positions (flat indices) under "neg_inf", and NaN outputs are written as 0 with their flat indices under
"nan". Loss L = Σ R ⊙ out + Σ R2 ⊙ weights with fixed random R, R2; gradients of every input and weight.
Run from the repo root:  /usr/bin/python3 tools/make_functional_attention_fixtures.py
"""
import json
import math
import pathlib

import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "functional_attention.json"
torch.manual_seed(20261123)
D64 = torch.float64


def t(x):
    x = x.detach()
    if x.dtype == torch.bool:
        x = x.to(torch.int64)
    flat = x.flatten()
    out = {"shape": list(x.shape)}
    if x.is_floating_point():
        out["neg_inf"] = [i for i, v in enumerate(flat.tolist()) if v == -math.inf]
        out["nan"] = [i for i, v in enumerate(flat.tolist()) if math.isnan(v)]
        flat = torch.where(torch.isfinite(flat), flat, torch.zeros_like(flat))
    out["data"] = flat.tolist()
    return out


def leaf(*shape):
    return torch.randn(*shape, dtype=D64).requires_grad_()


def case(name, L, N, E, H, kdim=None, vdim=None, S=None, packed=True, bias=True, attn_mask=None,
         key_padding_mask=None, bias_kv=False, add_zero_attn=False, static=None, average=True, unbatched=False,
         grads=True, merge_float_masks=False):
    S = S or L
    kdim, vdim = kdim or E, vdim or E
    lead = () if unbatched else (N,)
    query = leaf(L, *lead, E)
    key = leaf(S, *lead, kdim)
    value = leaf(S, *lead, vdim)
    w = {}
    if packed:
        w["in_proj_weights"] = leaf(3 * E, E)
    else:
        w["q_proj_weights"], w["k_proj_weights"], w["v_proj_weights"] = leaf(E, E), leaf(E, kdim), leaf(E, vdim)
    if bias:
        w["in_proj_bias"] = leaf(3 * E)
    w["out_proj_weights"], w["out_proj_bias"] = leaf(E, E), leaf(E)
    if bias_kv:
        w["bias_k"], w["bias_v"] = leaf(1, 1, E), leaf(1, 1, E)
    if static is not None:
        n = 1 if unbatched else N
        w["static_k"], w["static_v"] = leaf(n * H, static, E // H), leaf(n * H, static, E // H)
    torch_mask, torch_kpm = attn_mask, key_padding_mask
    if merge_float_masks:
        # torch 1.13 masked_fills a float key_padding_mask instead of adding it (2.x adds, as xgrad does):
        # give torch the sum, the C++ test passes both masks.
        torch_mask = attn_mask + key_padding_mask.view(N, 1, 1, S).expand(N, H, 1, S).reshape(N * H, 1, S)
        torch_kpm = None
    out, weights = F.multi_head_attention_forward(
        query, key, value, E, H, w.get("in_proj_weights"), w.get("in_proj_bias"), w.get("bias_k"), w.get("bias_v"),
        add_zero_attn, 0.0, w["out_proj_weights"], w["out_proj_bias"], training=False,
        key_padding_mask=torch_kpm, need_weights=True, attn_mask=torch_mask,
        use_separate_proj_weight=not packed, q_proj_weight=w.get("q_proj_weights"),
        k_proj_weight=w.get("k_proj_weights"), v_proj_weight=w.get("v_proj_weights"), static_k=w.get("static_k"),
        static_v=w.get("static_v"), average_attn_weights=average)
    c = {"name": name, "num_heads": H, "packed": packed, "add_zero_attn": add_zero_attn, "average": average,
         "query": t(query), "key": t(key), "value": t(value), "output": t(out), "weights": t(weights)}
    for k, v in w.items():
        c[k] = t(v)
    if attn_mask is not None:
        c["attention_mask"] = t(attn_mask)
    if key_padding_mask is not None:
        c["key_padding_mask"] = t(key_padding_mask)
    if grads:
        r, r2 = torch.randn_like(out), torch.randn_like(weights)
        loss = (r * out).sum() + (r2 * weights).sum()
        names = ["query", "key", "value"] + list(w)
        tensors = [query, key, value] + list(w.values())
        gs = torch.autograd.grad(loss, tensors, allow_unused=True)  # static_k/v: key, value unused
        gs = [torch.zeros_like(x) if g is None else g for x, g in zip(tensors, gs)]
        c["r"], c["r2"] = t(r), t(r2)
        c["grads"] = {n: t(g) for n, g in zip(names, gs)}
    return c


def main():
    L, N, E, H, S = 4, 2, 8, 2, 5
    cases = []
    cases.append(case("packed, no mask, averaged", L, N, E, H, S=L))
    cases.append(case("separate weights, cross widths, per head", L, N, E, H, kdim=5, vdim=3, S=S, packed=False,
                      average=False))
    bool_mask = torch.rand(L, S) < 0.3
    bool_mask[:, 0] = False  # every row keeps a key: torch would give NaN otherwise
    kpm = torch.zeros(N, S, dtype=torch.bool)
    kpm[1, 3:] = True
    cases.append(case("bool (L,S) mask and key_padding_mask", L, N, E, H, S=S, attn_mask=bool_mask,
                      key_padding_mask=kpm))
    float_mask = torch.randn(N * H, L, S, dtype=D64)
    float_mask[torch.rand(N * H, L, S) < 0.25] = -math.inf
    float_mask[:, :, 1] = 0.5  # every row keeps a key
    float_kpm = torch.zeros(N, S, dtype=D64)
    float_kpm[0, 4] = -math.inf
    float_kpm[1, 0] = -1.5
    cases.append(case("float (N*H,L,S) mask with -inf and float key_padding_mask", L, N, E, H, S=S,
                      attn_mask=float_mask, key_padding_mask=float_kpm, average=False,
                      merge_float_masks=True))
    cases.append(case("bias_k, bias_v, add_zero_attn, key_padding_mask", L, N, E, H, S=S, bias_kv=True,
                      add_zero_attn=True, key_padding_mask=kpm, attn_mask=bool_mask))
    cases.append(case("static_k, static_v, add_zero_attn", L, N, E, H, S=S, static=3, add_zero_attn=True,
                      bias=False))
    cases.append(case("unbatched with bool mask", L, N, E, H, S=S, unbatched=True, attn_mask=bool_mask,
                      average=False))
    causal = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)
    cases.append(case("causal as a bool mask", L, N, E, H, attn_mask=causal))
    # torch gives NaN where every key is blocked; xgrad gives zero weights (docs/attention.md)
    full = torch.zeros(N, S, dtype=torch.bool)
    full[1, :] = True
    row = torch.zeros(L, S, dtype=torch.bool)
    row[2, :] = True
    cases.append(case("fully masked batch and row (torch NaN)", L, N, E, H, S=S, attn_mask=row,
                      key_padding_mask=full, average=False, grads=False))
    OUT.write_text(json.dumps(cases) + "\n")
    print("wrote", OUT, len(cases), "cases")


if __name__ == "__main__":
    main()
