#!/usr/bin/python3
"""Writes tests/fixtures/attention_*.json: PyTorch 1.13 reference values for xgrad's attention core,
Keras-style MultiHeadAttention (checked against torch's F.multi_head_attention_forward with the weights
converted to Keras layout as spec §1.3 shows) and Luong Attention.

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
    """Spec §1.1: blocked logits replaced, blocked weight exactly 0, a fully blocked row all 0 (torch gives NaN)."""
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


if __name__ == "__main__":
    core_cases()
