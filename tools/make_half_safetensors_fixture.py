#!/usr/bin/python3
"""Half-precision safetensors fixture: PyTorch float16 and bfloat16 tensors, and the float32 values
PyTorch widens them to.

Run with /usr/bin/python3 (the interpreter that has torch):

    /usr/bin/python3 tools/make_half_safetensors_fixture.py

Writes tests/fixtures/safetensors_half.safetensors and safetensors_half.json. The `safetensors`
package is not needed: the file is written byte by byte as the format specifies (an 8-byte
little-endian header length, a JSON header padded with spaces to a multiple of 8, then each tensor's
little-endian bytes, larger elements first, as safetensors.torch.save_file lays them out).
tests/test_io_safetensors.cpp loads the file with xgrad and compares every element, bit for bit,
with PyTorch's `tensor.float()` recorded in the JSON.
"""
import json
import pathlib
import struct

import torch

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
CODES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def tensors() -> dict:
    g = torch.Generator().manual_seed(20261202)
    inf, nan = float("inf"), float("nan")
    # Zeros of both signs, the largest finite value, the smallest normal and subnormal values, a value
    # that rounds, infinities and NaN, for each half format.
    half_edges = [0.0, -0.0, 1.0, -2.5, 65504.0, 2.0**-14, 2.0**-24, -3 * 2.0**-24, 1e-6, 0.1, inf, -inf, nan]
    bf16_edges = [0.0, -0.0, 1.0, -2.5, 3.3895313892515355e38, 2.0**-126, 2.0**-133, -(2.0**-130), 0.1, 1e-40,
                  inf, -inf, nan]
    return {
        "scale": torch.tensor([0.5, -1.25, 3.0], dtype=torch.float32),
        "half.edges": torch.tensor(half_edges, dtype=torch.float16),
        "bf16.edges": torch.tensor(bf16_edges, dtype=torch.bfloat16),
        "half.weight": torch.randn(3, 4, generator=g).to(torch.float16),
        "bf16.weight": torch.randn(2, 3, generator=g).to(torch.bfloat16),
        "half.empty": torch.zeros(0, 2, dtype=torch.float16),
    }


def raw_bytes(t: torch.Tensor) -> bytes:
    """The tensor's little-endian element bytes (viewed as integers of the same width)."""
    as_int = {4: torch.int32, 2: torch.int16}[t.element_size()]
    fmt = {4: "<i", 2: "<h"}[t.element_size()]
    return b"".join(struct.pack(fmt, v) for v in t.contiguous().view(as_int).reshape(-1).tolist())


def write_safetensors(path: pathlib.Path, named: dict, metadata: dict) -> None:
    # Data order as safetensors writes it: larger elements first, then by name; header order as given.
    order = sorted(named, key=lambda k: (-named[k].element_size(), k))
    offsets, position = {}, 0
    for name in order:
        size = named[name].numel() * named[name].element_size()
        offsets[name] = [position, position + size]
        position += size
    header = {"__metadata__": metadata}
    for name, t in named.items():
        header[name] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": offsets[name]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name in order:
            f.write(raw_bytes(named[name]))


def float32_bits(t: torch.Tensor) -> list:
    """PyTorch's widening to float32, as the bits of each element (exact, NaN and -0 included)."""
    return t.float().contiguous().view(torch.int32).reshape(-1).tolist()


if __name__ == "__main__":
    named = tensors()
    write_safetensors(FIXTURES / "safetensors_half.safetensors", named, {"format": "pt"})
    record = {
        "torch": torch.__version__,
        "order": list(named),
        "tensors": {k: {"stored_dtype": CODES[t.dtype], "shape": list(t.shape), "float32_bits": float32_bits(t)}
                    for k, t in named.items()},
    }
    (FIXTURES / "safetensors_half.json").write_text(json.dumps(record, indent=1) + "\n")
