#!/usr/bin/python3
"""Writes tests/fixtures/numpy_print.json: arrays of random shapes, dtypes and scales with the
text NumPy's str() gives them, which xgrad::to_string must reproduce (plus its dtype suffix).
Run with the system interpreter (NumPy 1.24): /usr/bin/python3 tools/make_print_fixture.py"""
import json
import pathlib

import numpy as np

rng = np.random.default_rng(2024)
cases = []


def add(a):
    a = np.asarray(a)
    cases.append({"shape": list(a.shape), "dtype": str(a.dtype),
                  "data": [int(x) if a.dtype == np.int64 else float(x) for x in a.ravel()],
                  "str": str(a)})


for _ in range(160):
    shape = tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(1, 4)))
    kind = rng.integers(0, 7)
    if kind == 0:
        a = rng.normal(size=shape)
    elif kind == 1:  # scales from 1e-8 to 1e8: positional and scientific notation
        a = rng.normal(size=shape) * 10.0 ** rng.integers(-8, 9)
    elif kind == 2:  # short decimals: padding to the longest fraction
        a = np.round(rng.normal(size=shape) * 100) / 4
    elif kind == 3:
        a = rng.integers(-1000, 1000, size=shape).astype(np.int64)
    elif kind == 4:  # zeros do not count towards the notation choice
        a = rng.normal(size=shape)
        a.ravel()[::3] = 0
    elif kind == 5:
        a = np.exp(rng.normal(size=shape) * 5)
    else:  # long rows wrap at 75 columns
        a = rng.normal(size=(int(rng.integers(1, 3)), int(rng.integers(8, 30))))
    if kind != 3 and rng.random() < 0.5:
        a = a.astype(np.float32)
    add(a)
# Summarised (> 1000 elements): only the shown edges choose the layout.
add(rng.normal(size=(40, 30)).astype(np.float32))
add(np.arange(3 * 4 * 100, dtype=np.int64).reshape(3, 4, 100) - 600)
add(rng.normal(size=(11, 10, 12)) * 1e-3)

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "numpy_print.json"
out.parent.mkdir(exist_ok=True)
out.write_text(json.dumps({"numpy": np.__version__, "cases": cases}, separators=(",", ":")))
print(f"wrote {len(cases)} cases to {out}")
