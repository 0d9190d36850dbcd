#!/usr/bin/python3
"""Writes tests/fixtures/linalg.json: PyTorch reference values for xgrad's matmul.

Run with the system interpreter that has torch: /usr/bin/python3 tools/make_linalg_fixtures.py
Each case stores inputs a, b, an output gradient g, and torch's out = op(a) @ op(b) with
da, db = d(sum(g * out))/d(a, b), where op swaps the last two axes when the flag is set.
"""
import json
import pathlib

import torch

torch.manual_seed(20261123)


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def case(a_shape, b_shape, transpose_a, transpose_b):
    a = torch.randn(a_shape, dtype=torch.float64, requires_grad=True)
    b = torch.randn(b_shape, dtype=torch.float64, requires_grad=True)
    op_a = a.transpose(-2, -1) if transpose_a else a
    op_b = b.transpose(-2, -1) if transpose_b else b
    out = torch.matmul(op_a, op_b)
    g = torch.randn(out.shape, dtype=torch.float64)
    out.backward(g)
    return {"transpose_a": transpose_a, "transpose_b": transpose_b, "a": tensor_json(a), "b": tensor_json(b),
            "g": tensor_json(g), "out": tensor_json(out), "da": tensor_json(a.grad), "db": tensor_json(b.grad)}


cases = {
    # batch (2, 1) broadcast against (3,), both operands transposed
    "broadcast_batch_transposed": case((2, 1, 4, 3), (3, 5, 4), True, True),
    # one weight matrix shared by a batch (folded into a single GEMM), weight transposed
    "shared_weight_transposed": case((2, 3, 4), (5, 4), False, True),
    # a vector times a batch of matrices
    "vector_times_batch": case((4,), (3, 4, 2), False, False),
}
out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "linalg.json"
out.write_text(json.dumps(cases, indent=1) + "\n")
print(f"wrote {out}")
