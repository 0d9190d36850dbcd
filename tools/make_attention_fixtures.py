#!/usr/bin/python3
"""Writes tests/fixtures/attention_*.json: PyTorch 1.13 reference values for xgrad's attention core,
Keras-style MultiHeadAttention (checked against torch's F.multi_head_attention_forward with the weights
converted to Keras layout as docs/attention.md, "Projections and head layout", shows) and Luong Attention.

Every tensor is float64, written as {"shape": [...], "data": [...]}. Losses are L = Σ R ⊙ Y (+ Σ R2 ⊙ P when
scores are returned) with fixed random R, so gradients are compared entry by entry. Run from the repo root:
    /usr/bin/python3 tools/make_attention_fixtures.py
"""
import json
import math
import pathlib

import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
torch.manual_seed(4321)
D64 = torch.float64


def t(x):
    x = x.detach()
    if x.dtype == torch.bool:
        x = x.to(torch.int64)
    return {"shape": list(x.shape), "data": x.flatten().tolist()}


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=D64) * scale).requires_grad_()


def write(name, cases):
    path = OUT / f"attention_{name}.json"
    path.write_text(json.dumps(cases) + "\n")
    print("wrote", path)


def masked_softmax(z, keep):
    """The masked softmax of docs/attention.md: blocked logits replaced, blocked weight exactly 0, a fully blocked
    row all 0 (torch gives NaN)."""
    keep = keep & (z != -math.inf)
    any_keep = keep.any(-1, keepdim=True)
    z = torch.where(keep, z, torch.full_like(z, -math.inf))
    z = torch.where(any_keep, z, torch.zeros_like(z))  # a finite row so softmax's gradient stays finite
    return torch.softmax(z, -1) * any_keep


def causal_keep(T, S):
    return torch.arange(S)[None, :] <= torch.arange(T)[:, None]


def core_cases():
    """The fused core in projection layout: q (B,T,N,Dk), k (B,S,N,Dk), v (B,S,N,Dv)."""
    B, T, S, N, Dk, Dv, scale = 2, 3, 4, 2, 3, 2, 0.7
    q, k, v = leaf(B, T, N, Dk), leaf(B, S, N, Dk), leaf(B, S, N, Dv)
    bias = leaf(N, T, S)  # broadcast over the batch
    mask = torch.ones(B, 1, T, S, dtype=torch.int64)
    mask[0, 0, 1, 2] = 0
    mask[1, 0, 0, :] = 0  # a fully blocked row in batch 1 (every head)
    cases = {"q": t(q), "k": t(k), "v": t(v), "bias": t(bias), "mask": t(mask), "scale": scale}
    for name, causal in (("masked", False), ("masked_causal", True)):
        keep = (mask != 0).expand(B, N, T, S)
        if causal:
            keep = keep & causal_keep(T, S)
        z = scale * torch.einsum("btnd,bsnd->bnts", q, k) + bias
        p = masked_softmax(z, keep)
        out = torch.einsum("bnts,bsnd->btnd", p, v)
        r1, r2 = torch.randn_like(out), torch.randn_like(p)
        loss = (r1 * out).sum() + (r2 * p).sum()
        dq, dk, dv, db = torch.autograd.grad(loss, [q, k, v, bias])
        cases[name] = {"out": t(out), "weights": t(p), "r_out": t(r1), "r_weights": t(r2), "dq": t(dq), "dk": t(dk),
                       "dv": t(dv), "dbias": t(db)}
    write("core", cases)


def keras_kernel(w, heads):
    """A torch (out, in) projection weight as a Keras query/key/value kernel (in, N, H) (docs/attention.md)."""
    return w.t().reshape(w.shape[1], heads, w.shape[0] // heads)


def mha_case(q_in, k_in, v_in, heads, use_bias, keep=None, value_mask=None, query_mask=None, causal=False):
    """torch's F.multi_head_attention_forward against Keras MHA semantics: masks converted to torch polarity
    (True = blocked), a padded query row (Keras: fully blocked) replaced by the output bias (docs/attention.md)."""
    B, T, E = q_in.shape
    S = k_in.shape[1]
    hd = E // heads
    wq, wk, wv = leaf(E, E, scale=0.4), leaf(E, k_in.shape[2], scale=0.4), leaf(E, v_in.shape[2], scale=0.4)
    wo = leaf(E, E, scale=0.4)
    b_in, bo = (leaf(3 * E), leaf(E)) if use_bias else (None, None)
    allowed = torch.ones(B, T, S, dtype=torch.bool)
    if keep is not None:
        allowed &= keep
    if causal:
        allowed &= causal_keep(T, S)
    attn_mask = (~allowed).repeat_interleave(heads, dim=0)  # (B·N, T, S), row b·N + n
    out, w = F.multi_head_attention_forward(
        q_in.transpose(0, 1), k_in.transpose(0, 1), v_in.transpose(0, 1), E, heads, None, b_in, None, None, False,
        0.0, wo, bo, training=False, key_padding_mask=None if value_mask is None else ~value_mask,
        need_weights=True, attn_mask=attn_mask, use_separate_proj_weight=True, q_proj_weight=wq, k_proj_weight=wk,
        v_proj_weight=wv, average_attn_weights=False)
    out = out.transpose(0, 1)
    if query_mask is not None:  # padded queries attend nothing: weights 0, output = output bias
        qm = query_mask[:, :, None]
        out = torch.where(qm, out, bo.expand_as(out) if use_bias else torch.zeros_like(out))
        w = w * qm[:, None, :, :]
    r1, r2 = torch.randn_like(out), torch.randn_like(w)
    loss = (r1 * out).sum() + (r2 * w).sum()
    params = [wq, wk, wv, wo] + ([b_in, bo] if use_bias else [])
    inputs = [x for x in dict.fromkeys([q_in, k_in, v_in])]  # self-attention: one tensor, one gradient
    grads = torch.autograd.grad(loss, inputs + params)
    g_in, g_par = grads[:len(inputs)], grads[len(inputs):]

    def keras_weights(wq, wk, wv, wo, b_in=None, bo=None):
        ws = [keras_kernel(wq, heads)]
        if use_bias:
            ws.append(b_in[:E].reshape(heads, hd))
        ws.append(keras_kernel(wk, heads))
        if use_bias:
            ws.append(b_in[E:2 * E].reshape(heads, hd))
        ws.append(keras_kernel(wv, heads))
        if use_bias:
            ws.append(b_in[2 * E:].reshape(heads, hd))
        ws.append(wo.t().reshape(heads, hd, E))
        if use_bias:
            ws.append(bo)
        return [t(x) for x in ws]

    case = {"query": t(q_in), "key": t(k_in), "value": t(v_in), "num_heads": heads, "key_dim": hd,
            "weights": keras_weights(*params), "out": t(out), "scores": t(w), "avg_scores": t(w.mean(1)),
            "r_out": t(r1), "r_scores": t(r2), "grad_inputs": [t(g) for g in g_in],
            "grad_weights": keras_weights(*g_par), "causal": causal}
    if keep is not None:
        case["attention_mask"] = t(keep)
    if value_mask is not None:
        case["value_mask"] = t(value_mask)
    if query_mask is not None:
        case["query_mask"] = t(query_mask)
    return case


def mha_cases():
    B, T, S, E, N = 2, 4, 5, 6, 2
    cases = {}
    cases["cross"] = mha_case(leaf(B, T, E), leaf(B, S, 4), leaf(B, S, 5), N, True)
    keep = torch.rand(B, T, S) < 0.7
    keep[:, :, 0] = True  # every unpadded query keeps key 0: no fully blocked row in torch (it would give NaN)
    value_mask = torch.ones(B, S, dtype=torch.bool)
    value_mask[0, 3:] = False
    query_mask = torch.ones(B, T, dtype=torch.bool)
    query_mask[1, 2] = False
    cases["masked_causal"] = mha_case(leaf(B, T, E), leaf(B, S, 4), leaf(B, S, 5), N, True, keep, value_mask,
                                      query_mask, causal=True)
    x = leaf(B, T, E)
    cases["self_no_bias"] = mha_case(x, x, x, 3, False)
    write("mha_torch", cases)


def luong_case(q, k, v, mode, use_scale, value_mask=None, query_mask=None, causal=False):
    """Keras Attention from its formulas (docs/attention.md), with scale and concat_score_weight as leaves (init 1,
    perturbed here so a wrong derivative cannot hide behind a factor of 1)."""
    scale, c = torch.tensor(1.3, dtype=D64, requires_grad=True), torch.tensor(0.8, dtype=D64, requires_grad=True)
    if mode == "dot":
        e = q @ k.transpose(-1, -2)
        if use_scale:
            e = e * scale
    else:
        u = q[..., :, None, :] + k[..., None, :, :]
        if use_scale:
            u = u * scale
        e = c * torch.tanh(u).sum(-1)
    Tq, Tv = e.shape[-2], e.shape[-1]
    allowed = torch.ones_like(e, dtype=torch.bool)
    if value_mask is not None:
        allowed &= value_mask[..., None, :]
    if causal:
        allowed &= causal_keep(Tq, Tv)
    w = masked_softmax(e, allowed)
    out = w @ v
    if query_mask is not None:
        out = out * query_mask[..., None]
    r1, r2 = torch.randn_like(out), torch.randn_like(w)
    loss = (r1 * out).sum() + (r2 * w).sum()
    leaves = [q, k, v] + ([scale] if use_scale else []) + ([c] if mode == "concat" else [])
    grads = torch.autograd.grad(loss, leaves)
    case = {"mode": mode, "use_scale": use_scale, "causal": causal, "scale": scale.item(), "concat_weight": c.item(),
            "out": t(out), "scores": t(w), "r_out": t(r1), "r_scores": t(r2), "dquery": t(grads[0]),
            "dkey": t(grads[1]), "dvalue": t(grads[2])}
    if use_scale:
        case["dscale"] = grads[3].item()
    if mode == "concat":
        case["dconcat_weight"] = grads[-1].item()
    if value_mask is not None:
        case["value_mask"] = t(value_mask)
    if query_mask is not None:
        case["query_mask"] = t(query_mask)
    return case


def luong_cases():
    B, Tq, Tv, d, dv = 2, 3, 4, 3, 2
    q, k, v = leaf(B, Tq, d), leaf(B, Tv, d), leaf(B, Tv, dv)
    value_mask = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 1]], dtype=torch.bool)
    query_mask = torch.tensor([[1, 0, 1], [1, 1, 1]], dtype=torch.bool)
    cases = {"query": t(q), "key": t(k), "value": t(v)}
    for mode in ("dot", "concat"):
        for use_scale in (False, True):
            cases[f"{mode}_{int(use_scale)}"] = luong_case(q, k, v, mode, use_scale)
        cases[f"{mode}_masked"] = luong_case(q, k, v, mode, True, value_mask, query_mask, causal=True)
    write("luong", cases)


if __name__ == "__main__":
    core_cases()
    mha_cases()
    luong_cases()
