#!/usr/bin/python3
"""Writes tests/fixtures/ops_indexing.json: PyTorch (float64) references for comparisons, clamp,
index_select, gather, topk and max/min/argmax along an axis, values and gradients.

Run from the repository root with the interpreter that has torch: /usr/bin/python3 tools/make_indexing_fixtures.py
Each case holds named tensors as {"shape": [...], "data": [...]} (row-major); masks are written as 0/1 numbers.
"""
import json
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
GEN = torch.Generator().manual_seed(13)


def t(x):
    return {"shape": list(x.shape), "data": x.detach().reshape(-1).tolist()}


def randn(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float64)


def with_grad(fn, x):
    """fn(x) and d(sum(g * fn(x)))/dx for a random output direction g."""
    x = x.clone().requires_grad_()
    y = fn(x)
    g = randn(*y.shape)
    y.backward(g)
    return {"x": t(x), "y": t(y), "grad_out": t(g), "grad_x": t(x.grad)}


def comparisons():
    # Halves, so that equal pairs occur; (3, 1, 4) against (5, 1) broadcasts to (3, 5, 4).
    a = torch.round(randn(3, 1, 4) * 2) / 2
    b = torch.round(randn(5, 1) * 2) / 2
    out = {"a": t(a), "b": t(b)}
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        out[name] = t(getattr(torch, name)(a, b).double())
    ids = torch.tensor([[-3, 0, 2], [3, 7, 2]], dtype=torch.int64)
    out["ids"] = t(ids)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        out["ids_" + name + "_2"] = t(getattr(torch, name)(ids, 2).long())
        out["ids_" + name + "_2.5"] = t(getattr(torch, name)(ids, 2.5).long())
    return out


def clamp():
    # Includes elements exactly on the bounds, where torch passes the gradient.
    x = torch.tensor([-2.0, -0.5, -0.25, 0.0, 0.5, 0.75, 1.0, 3.0], dtype=torch.float64)
    return {"both": with_grad(lambda v: torch.clamp(v, -0.5, 0.75), x),
            "min": with_grad(lambda v: torch.clamp(v, min=-0.25), x),
            "max": with_grad(lambda v: torch.clamp(v, max=0.5), x),
            "crossed": with_grad(lambda v: torch.clamp(v, 0.5, -0.5), x)}


def index_select():
    index = torch.tensor([3, 0, 3, 1])  # a repeated index accumulates its gradients
    x = randn(3, 4, 5)
    return {"index": t(index), "axis1": with_grad(lambda v: torch.index_select(v, 1, index), x),
            "axis0": with_grad(lambda v: torch.index_select(v, 0, torch.tensor([2, 2, 0])), x)}


def gather():
    x = randn(3, 4, 5)
    index = torch.randint(0, 4, (2, 3, 4), generator=GEN)  # smaller than x off the axis, repeats along it
    return {"index": t(index), "axis1": with_grad(lambda v: torch.gather(v, 1, index), x)}


def topk():
    x = randn(4, 7)
    y = randn(6, 3, 2)
    out = {"largest": with_grad(lambda v: torch.topk(v, 3, dim=1).values, x),
           "largest_indices": t(torch.topk(x, 3, dim=1).indices),
           "smallest": with_grad(lambda v: torch.topk(v, 2, dim=0, largest=False).values, y),
           "smallest_indices": t(torch.topk(y, 2, dim=0, largest=False).indices)}
    return out


def extremes():
    x = randn(3, 5, 2)
    return {"max": with_grad(lambda v: torch.max(v, 1).values, x), "max_indices": t(torch.max(x, 1).indices),
            "min": with_grad(lambda v: torch.min(v, 1, keepdim=True).values, x),
            "min_indices": t(torch.min(x, 1, keepdim=True).indices),
            "argmax_flat": t(torch.argmax(x)), "argmin_axis2": t(torch.argmin(x, 2))}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {"comparisons": comparisons(), "clamp": clamp(), "index_select": index_select(), "gather": gather(),
             "topk": topk(), "extremes": extremes()}
    path = OUT / "ops_indexing.json"
    path.write_text(json.dumps(cases))
    print("wrote", path)


if __name__ == "__main__":
    main()
