#!/usr/bin/python3
"""Writes the fixtures of io::from_torch: a PyTorch model's state dict and its outputs on fixed inputs.

Run from the repository root with the interpreter that has torch: /usr/bin/python3 tools/make_torch_convert_fixtures.py

- tests/fixtures/torch_convert.safetensors: the state dict of a model with
    seq  = Sequential(Linear(4, 8), LayerNorm(8), Tanh(), Linear(8, 3))
    emb  = Embedding(10, 4)
    attn = MultiheadAttention(8, 2, batch_first=True)
    cross = MultiheadAttention(8, 2, kdim=6, vdim=5, batch_first=True)   (separate q/k/v_proj_weight)
  in PyTorch's names and layouts, written in the safetensors format (by hand below: the format is an
  8-byte little-endian header length, a JSON header, then the raw tensor bytes).
- tests/fixtures/torch_convert.json: inputs and PyTorch's outputs, as {"shape": [...], "data": [...]}.
Every parameter is randomised, LayerNorm's and the attention biases included (their defaults, ones and
zeros, would hide a swapped or dropped tensor).
"""
import json
import pathlib
import struct

import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Tanh(),
                                       torch.nn.Linear(8, 3))
        self.emb = torch.nn.Embedding(10, 4)
        self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        self.cross = torch.nn.MultiheadAttention(8, 2, kdim=6, vdim=5, batch_first=True)


def t(x):
    return {"shape": list(x.shape), "data": x.detach().reshape(-1).tolist()}


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, x in tensors.items():
        data = x.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(x.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    torch.manual_seed(2027)
    model = Model()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    x = torch.randn(5, 4)
    ids = torch.tensor([[1, 9, 0], [4, 4, 7]])
    q = torch.randn(2, 3, 8)
    kv = torch.randn(2, 5, 8)
    k6, v5 = torch.randn(2, 5, 6), torch.randn(2, 5, 5)
    with torch.no_grad():
        out = {"x": t(x), "seq": t(model.seq(x)), "ids": t(ids), "emb": t(model.emb(ids)), "q": t(q), "kv": t(kv),
               "attn": t(model.attn(q, kv, kv, need_weights=False)[0]), "k6": t(k6), "v5": t(v5),
               "cross": t(model.cross(q, k6, v5, need_weights=False)[0])}
    OUT.mkdir(parents=True, exist_ok=True)
    save_safetensors(OUT / "torch_convert.safetensors", model.state_dict())
    (OUT / "torch_convert.json").write_text(json.dumps(out))
    print("wrote", OUT / "torch_convert.safetensors", "with", list(model.state_dict()))


if __name__ == "__main__":
    main()
