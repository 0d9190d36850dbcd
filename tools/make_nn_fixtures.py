#!/usr/bin/python3
"""Writes tests/fixtures/nn_*.json: PyTorch reference values for xgrad's fused nn ops.

Each fixture holds the inputs, a random upstream gradient `dy`, torch's forward output and torch's input
gradients, all in float64, as {"shape": [...], "data": [...]} tensors. Run from the repository root:
    /usr/bin/python3 tools/make_nn_fixtures.py
"""
import json
import pathlib

import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
torch.manual_seed(1234)


def t(x):
    x = x.detach()
    return {"shape": list(x.shape), "data": x.flatten().tolist()}


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float64) * scale).requires_grad_()


def grads(out, inputs, dy=None):
    """Back-propagates dy (random when None) and returns (dy, [grad of each input])."""
    dy = torch.randn_like(out) if dy is None else dy
    gs = torch.autograd.grad(out, inputs, dy)
    return dy, gs


def write(name, cases):
    path = OUT / f"nn_{name}.json"
    path.write_text(json.dumps(cases, indent=None) + "\n")
    print("wrote", path)


def softmax_cases():
    cases = {}
    x = leaf(3, 4, 5, scale=3.0)
    cases["x"] = t(x)
    for fn, axis in (("softmax", -1), ("softmax", 1), ("log_softmax", -1), ("log_softmax", 0)):
        y = getattr(F, fn)(x, dim=axis)
        dy, (dx,) = grads(y, [x])
        key = f"{fn}_{axis}"
        cases[key] = {"y": t(y), "dy": t(dy), "dx": t(dx)}
    write("softmax", cases)


def layer_norm_cases():
    x = leaf(4, 3, 6, scale=2.0)
    with torch.no_grad():
        x += 5.0  # an offset mean exercises the two-pass variance
    w, b = leaf(6), leaf(6)
    cases = {"x": t(x), "weight": t(w), "bias": t(b)}
    y = F.layer_norm(x, (6,), w, b, eps=1e-5)
    dy, (dx, dw, db) = grads(y, [x, w, b])
    cases["affine"] = {"y": t(y), "dy": t(dy), "dx": t(dx), "dweight": t(dw), "dbias": t(db)}
    y = F.layer_norm(x, (6,), None, None, eps=1e-3)
    dy, (dx,) = grads(y, [x])
    cases["plain"] = {"y": t(y), "dy": t(dy), "dx": t(dx)}
    write("layer_norm", cases)


def cross_entropy_cases():
    logits = leaf(2, 3, 5, scale=2.0)
    targets = torch.tensor([[0, 4, -100], [2, -100, 1]])
    cases = {"logits": t(logits), "targets": t(targets)}
    for name, ls, red in (("mean", 0.0, "mean"), ("mean_smooth", 0.2, "mean"), ("sum_smooth", 0.1, "sum")):
        loss = F.cross_entropy(logits.reshape(-1, 5), targets.reshape(-1), ignore_index=-100,
                               label_smoothing=ls, reduction=red)
        dy = torch.tensor(1.7, dtype=torch.float64)
        _, (dx,) = grads(loss, [logits], dy)
        cases[name] = {"label_smoothing": ls, "loss": t(loss), "dy": t(dy), "dx": t(dx)}
    write("cross_entropy", cases)


def embedding_cases():
    w = leaf(5, 3)
    ids = torch.tensor([[1, 3, 1], [0, 1, 4]])
    y = F.embedding(ids, w)
    dy, (dw,) = grads(y, [w])
    write("embedding", {"weight": t(w), "ids": t(ids), "y": t(y), "dy": t(dy), "dweight": t(dw)})


def mse_cases():
    a, b = leaf(3, 4), leaf(3, 4)
    loss = F.mse_loss(a, b)
    dy = torch.tensor(0.6, dtype=torch.float64)
    _, (da, db) = grads(loss, [a, b], dy)
    write("mse", {"a": t(a), "b": t(b), "loss": t(loss), "dy": t(dy), "da": t(da), "db": t(db)})


if __name__ == "__main__":
    softmax_cases()
    layer_norm_cases()
    cross_entropy_cases()
    embedding_cases()
    mse_cases()
