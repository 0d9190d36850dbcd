#!/usr/bin/python3
"""Writes tests/fixtures/attention_keras.json: Keras 3 MultiHeadAttention and Attention outputs and scores for
what torch has no counterpart of: attention_axes on N-D inputs, output_shape, Keras's mask shapes and rules.

Keras is not a Debian package; it was installed outside the system so that torch keeps the system numpy:
    /usr/bin/python3 -m pip install --break-system-packages --target /tmp/keras_site keras jax
(keras 3.15.1, jax 0.10.2). Run from the repository root with
    PYTHONPATH=/tmp/keras_site KERAS_BACKEND=jax JAX_ENABLE_X64=1 /usr/bin/python3 tools/make_attention_keras_fixtures.py
Gradients are checked by finite differences in the tests, so only forward values are stored (float64).
"""
import json
import pathlib

import jax.numpy as jnp
import keras
import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
keras.config.set_floatx("float64")
rng = np.random.default_rng(2024)


def t(x):
    x = np.asarray(x)
    if x.dtype == bool:
        x = x.astype(np.int64)
    return {"shape": list(x.shape), "data": x.flatten().tolist()}


def randn(*shape):
    return rng.standard_normal(shape)


def mha_case(query, value, key=None, *, num_heads, key_dim, value_dim=None, output_shape=None, attention_axes=None,
             use_bias=True, masks=None, use_causal_mask=False):
    layer = keras.layers.MultiHeadAttention(num_heads, key_dim, value_dim=value_dim, output_shape=output_shape,
                                            attention_axes=attention_axes, use_bias=use_bias, dtype="float64")
    layer(query, value, key)  # builds the weights
    weights = [randn(*w.shape) * 0.5 for w in layer.weights]
    layer.set_weights(weights)
    masks = masks or {}
    call_masks = {k: v for k, v in masks.items() if k != "query_mask"}
    q_in = query
    if "query_mask" in masks:
        # Keras 3 reads the query mask only from the query tensor's propagated mask and drops the call argument
        # (a Keras quirk); attach it the way Embedding(mask_zero=True) would.
        q_in = jnp.asarray(query)
        keras.src.backend.set_keras_mask(q_in, jnp.asarray(masks["query_mask"]))
    out, scores = layer(q_in, value, key, return_attention_scores=True, use_causal_mask=use_causal_mask,
                        **call_masks)
    case = {"query": t(query), "value": t(value), "num_heads": num_heads, "key_dim": key_dim,
            "weights": [t(w) for w in weights], "out": t(out), "scores": t(scores), "use_bias": use_bias,
            "use_causal_mask": use_causal_mask}
    if key is not None:
        case["key"] = t(key)
    if value_dim is not None:
        case["value_dim"] = value_dim
    if output_shape is not None:
        case["output_shape"] = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    if attention_axes is not None:
        case["attention_axes"] = [attention_axes] if isinstance(attention_axes, int) else list(attention_axes)
    for name, m in masks.items():
        case[name] = t(m)
    return case


def mha_cases():
    cases = {}
    x = randn(2, 2, 3, 2, 4)
    cases["axes_2_3"] = mha_case(x, x, num_heads=2, key_dim=2, attention_axes=(2, 3))
    cases["axes_neg_cross"] = mha_case(randn(2, 3, 4, 5), randn(2, 3, 2, 6), randn(2, 3, 2, 3), num_heads=2,
                                       key_dim=3, value_dim=2, output_shape=(2, 3), attention_axes=-2)
    cases["default_axes_nd"] = mha_case(randn(2, 3, 2, 2, 4), randn(2, 1, 1, 3, 4), num_heads=3, key_dim=2,
                                        output_shape=5)
    cases["axes_3_1"] = mha_case(randn(2, 3, 2, 4, 5), randn(2, 2, 2, 3, 5), num_heads=2, key_dim=2,
                                 attention_axes=(3, 1), use_bias=False)
    B, T, S = 2, 4, 5
    keep = rng.random((B, T, S)) < 0.7
    keep[:, :, 0] = True
    qm = np.ones((B, T), bool)
    qm[1, 2] = False  # a padded query: fully blocked, output row = output bias
    vm = np.ones((B, S), bool)
    vm[0, 3:] = False
    km = np.ones((B, S), bool)
    km[1, 1] = False
    cases["masks_rank3"] = mha_case(randn(B, T, 6), randn(B, S, 6), randn(B, S, 3), num_heads=2, key_dim=3,
                                    masks={"attention_mask": keep, "query_mask": qm, "value_mask": vm, "key_mask": km},
                                    use_causal_mask=True)
    cases["mask_2d"] = mha_case(randn(B, T, 6), randn(B, S, 6), num_heads=2, key_dim=3,
                                masks={"attention_mask": keep[0]})
    per_head = rng.random((B, 2, T, S)) < 0.6
    per_head[..., 1] = True
    cases["mask_per_head"] = mha_case(randn(B, T, 6), randn(B, S, 6), num_heads=2, key_dim=3,
                                      masks={"attention_mask": per_head})
    x = randn(2, 3, 4, 4)
    cases["axes_1_causal_nd"] = mha_case(x, x, num_heads=2, key_dim=2, attention_axes=1, use_causal_mask=True)
    return cases


def luong_cases():
    cases = {}
    q, v, k = randn(2, 3, 4), randn(2, 5, 2), randn(2, 5, 4)
    qm = np.array([[1, 0, 1], [1, 1, 1]], bool)
    vm = np.array([[1, 1, 0, 1, 1], [1, 0, 1, 1, 0]], bool)
    for mode in ("dot", "concat"):
        layer = keras.layers.Attention(use_scale=True, score_mode=mode, dtype="float64")
        layer([q, v, k])
        weights = [np.array(1.0 + 0.25 * (i + 1)) for i in range(len(layer.weights))]
        layer.set_weights(weights)
        out, scores = layer([q, v, k], mask=[qm, vm], return_attention_scores=True, use_causal_mask=True)
        cases[mode] = {"query": t(q), "value": t(v), "key": t(k), "query_mask": t(qm), "value_mask": t(vm),
                       "weights": [w.item() for w in weights], "weight_names": [w.name for w in layer.weights],
                       "out": t(out), "scores": t(scores)}
    return cases


if __name__ == "__main__":
    path = OUT / "attention_keras.json"
    path.write_text(json.dumps({"keras_version": keras.__version__, "mha": mha_cases(),
                                "attention": luong_cases()}) + "\n")
    print("wrote", path)
