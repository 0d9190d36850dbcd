#!/usr/bin/python3
"""Writes tests/fixtures/optim_*.json: PyTorch reference runs of the xgrad optimizers.

A small MLP (4 -> 8 tanh -> 3, batch 6, cross-entropy) is built from raw tensors exactly as the C++
test builds it (w1 (4, 8), b1 (8,), w2 (8, 3), b2 (3,); logits = tanh(x @ w1 + b1) @ w2 + b2) and
trained 5 steps from the initial weights written into the fixture. Each fixture records the loss
before every step and the final weights, in float64 and float32.

Run with the interpreter that has torch:  /usr/bin/python3 tools/make_optim_fixtures.py
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
STEPS = 5
NAMES = ["w1", "b1", "w2", "b2"]

# name -> (torch optimizer class, keyword arguments); foreach=False selects the single-tensor
# reference loops whose formulas xgrad reproduces.
CASES = {
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    "adam_amsgrad": (torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01,
                                            amsgrad=True)),
    "rmsprop": (torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.5, centered=True,
                                          weight_decay=0.01)),
}


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def initial_data():
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    params = {
        "w1": torch.randn(4, 8, generator=g, dtype=torch.float64) * 0.5,
        "b1": torch.randn(8, generator=g, dtype=torch.float64) * 0.1,
        "w2": torch.randn(8, 3, generator=g, dtype=torch.float64) * 0.5,
        "b2": torch.randn(3, generator=g, dtype=torch.float64) * 0.1,
    }
    return x, y, params


def run(case, dtype):
    cls, kwargs = CASES[case]
    x, y, init = initial_data()
    x = x.to(dtype)
    params = {n: init[n].to(dtype).clone().requires_grad_() for n in NAMES}
    opt = cls([params[n] for n in NAMES], foreach=False, **kwargs)
    fixture = {
        "optimizer": cls.__name__,
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()},
        "dtype": str(dtype).replace("torch.", ""),
        "x": tensor_json(x),
        "y": tensor_json(y),
        "initial": {n: tensor_json(params[n]) for n in NAMES},
        "losses": [],
    }
    for _ in range(STEPS):
        opt.zero_grad()
        logits = torch.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        fixture["losses"].append(loss.item())
    fixture["final"] = {n: tensor_json(params[n]) for n in NAMES}
    return fixture


def main():
    os.makedirs(OUT, exist_ok=True)
    for case in CASES:
        for dtype in (torch.float64, torch.float32):
            name = f"optim_{case}_{str(dtype).replace('torch.', '')}.json"
            with open(os.path.join(OUT, name), "w") as f:
                json.dump(run(case, dtype), f)
                f.write("\n")
            print("wrote", name)


if __name__ == "__main__":
    main()
