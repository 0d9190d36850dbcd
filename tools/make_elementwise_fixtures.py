#!/usr/bin/python3
"""Writes tests/fixtures/elementwise_*.json: PyTorch (float64) references for the elementwise tests.

Run from the repository root with the interpreter that has torch: /usr/bin/python3 tools/make_elementwise_fixtures.py
Each file holds named tensors as {"shape": [...], "data": [...]} (row-major).
"""
import json
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def t(x):
    return {"shape": list(x.shape), "data": x.detach().reshape(-1).tolist()}


def gelu_case(approximate):
    x = torch.linspace(-6.0, 6.0, 49, dtype=torch.float64).requires_grad_()
    y = torch.nn.functional.gelu(x, approximate=approximate)
    g = torch.cos(torch.arange(49, dtype=torch.float64))  # a non-trivial output gradient
    y.backward(g)
    return {"x": t(x), "y": t(y), "grad_out": t(g), "grad_x": t(x.grad)}


def broadcast_case():
    gen = torch.Generator().manual_seed(7)
    a = torch.randn(3, 1, 4, generator=gen, dtype=torch.float64).requires_grad_()
    b = torch.randn(5, 1, generator=gen, dtype=torch.float64).abs().add(0.5).requires_grad_()
    y = a * b - a / b + a.pow(2.0)  # (3, 5, 4)
    y.sum().backward()
    return {"a": t(a), "b": t(b), "y": t(y), "grad_a": t(a.grad), "grad_b": t(b.grad)}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {"elementwise_gelu.json": {"exact": gelu_case("none"), "tanh": gelu_case("tanh")},
             "elementwise_broadcast.json": broadcast_case()}
    for name, value in cases.items():
        (OUT / name).write_text(json.dumps(value))
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
