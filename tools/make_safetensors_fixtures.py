#!/usr/bin/python3
"""Interoperability fixtures between xgrad's safetensors I/O and PyTorch's `safetensors` package.

Run with /usr/bin/python3 (the interpreter that has torch and `safetensors`):

    /usr/bin/python3 tools/make_safetensors_fixtures.py

1. PyTorch -> xgrad: writes tests/fixtures/safetensors_from_torch.safetensors with
   safetensors.torch.save_file and the values it holds to safetensors_from_torch.json;
   tests/test_io_safetensors.cpp loads the file with xgrad and compares against the JSON.
2. xgrad -> PyTorch: reads tests/fixtures/safetensors_from_xgrad.safetensors (written by the
   test "xgrad writes the committed interop file byte for byte") with
   safetensors.torch.load_file and records what it found in safetensors_from_xgrad_check.json;
   the test compares that record with the values it saved.
"""
import json
import pathlib

import safetensors
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64"}


def describe(t: torch.Tensor) -> dict:
    """dtype, shape and row-major values; floats widened to double exactly, int64 kept exact."""
    data = t.reshape(-1).tolist() if t.dtype == torch.int64 else t.double().reshape(-1).tolist()
    return {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data": data}


def versions() -> dict:
    return {"torch": torch.__version__, "safetensors": safetensors.__version__}


def torch_to_xgrad() -> None:
    g = torch.Generator().manual_seed(20261123)
    tensors = {
        "encoder.weight": torch.randn(3, 4, generator=g, dtype=torch.float32),
        "encoder.bias": torch.randn(4, generator=g, dtype=torch.float64),
        "tokens": torch.tensor([[1, -2, 3], [2**40 + 1, -(2**62), 0]], dtype=torch.int64),
        "step": torch.tensor(12.5, dtype=torch.float64),
        "empty": torch.zeros(0, 5, dtype=torch.float32),
    }
    metadata = {"format": "pt", "epoch": "3", "note": "written by safetensors.torch.save_file"}
    save_file(tensors, str(FIXTURES / "safetensors_from_torch.safetensors"), metadata=metadata)
    record = {**versions(), "metadata": metadata, "tensors": {k: describe(v) for k, v in tensors.items()}}
    (FIXTURES / "safetensors_from_torch.json").write_text(json.dumps(record, indent=1) + "\n")


def xgrad_to_torch() -> None:
    path = FIXTURES / "safetensors_from_xgrad.safetensors"
    if not path.exists():
        print(f"skipping the xgrad -> torch check: {path} is missing; run the [io] tests first")
        return
    loaded = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    record = {**versions(), "loaded_by": "safetensors.torch.load_file", "metadata": metadata,
              "tensors": {k: describe(v) for k, v in loaded.items()}}
    (FIXTURES / "safetensors_from_xgrad_check.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    torch_to_xgrad()
    xgrad_to_torch()
