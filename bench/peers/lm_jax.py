"""JAX's side of the race: the raced LM (race_common.py) with the whole training step (forward, loss,
gradients and Adam) compiled as one jax.jit function.

    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false taskset -c 0 python bench/peers/lm_jax.py --threads 1

XLA has no intra-op thread count: it sizes its pools from the CPUs the process may use, so the thread count
is set by pinning (taskset), and at 1 thread Eigen's own multi-threading is switched off. Run by
bench/peers/run_race.py, which does both. Prints one JSON line (race_common.report).

With --precision bf16 every product (the linear layers and the attention's two) takes bfloat16 operands and
returns float32 (preferred_element_type), the policy of Keras's mixed_bfloat16 and of xgrad's PrecisionScope;
parameters, layer norm, softmax, the loss, gradients and Adam stay float32.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

import race_common


def init(key, s):
    """Parameters as a dict, initialised like xgrad's (race_common.py)."""
    d, f, v = s["d_model"], s["d_ff"], s["vocab"]
    keys = iter(jax.random.split(key, 8 + 8 * s["layers"]))

    def glorot(n_in, n_out):
        limit = math.sqrt(6.0 / (n_in + n_out))
        return jax.random.uniform(next(keys), (n_in, n_out), jnp.float32, -limit, limit)

    def dense(n_in, n_out):
        return {"w": glorot(n_in, n_out), "b": jnp.zeros((n_out,), jnp.float32)}

    def norm():
        return {"g": jnp.ones((d,), jnp.float32), "b": jnp.zeros((d,), jnp.float32)}

    return {
        "tok": 0.02 * jax.random.normal(next(keys), (v, d), jnp.float32),
        "pos": 0.02 * jax.random.normal(next(keys), (s["context"], d), jnp.float32),
        "blocks": [{"ln1": norm(), "q": dense(d, d), "k": dense(d, d), "v": dense(d, d), "o": dense(d, d),
                    "ln2": norm(), "fc1": dense(d, f), "fc2": dense(f, d)} for _ in range(s["layers"])],
        "ln_f": norm(),
        "head": dense(d, v),
    }


def layer_norm(p, x):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["g"] + p["b"]


def product(precision):
    """The matrix product of the raced precision: float32, or bfloat16 operands with a float32 result."""
    if precision == "bf16":
        return lambda a, b: jnp.matmul(a.astype(jnp.bfloat16), b.astype(jnp.bfloat16),
                                       preferred_element_type=jnp.float32)
    return jnp.matmul


def forward(params, ids, heads, mm):
    linear = lambda p, x: mm(x, p["w"]) + p["b"]
    b, t = ids.shape
    x = params["tok"][ids] + params["pos"][:t]
    d = x.shape[-1]
    causal = jnp.tril(jnp.ones((t, t), bool))
    for p in params["blocks"]:
        h = layer_norm(p["ln1"], x)
        split = lambda y: y.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)  # (B, H, T, Dk)
        q, k, v = split(linear(p["q"], h)), split(linear(p["k"], h)), split(linear(p["v"], h))
        scores = jnp.where(causal, mm(q, k.transpose(0, 1, 3, 2)) / math.sqrt(d // heads), -jnp.inf)
        a = mm(jax.nn.softmax(scores, axis=-1), v)
        x = x + linear(p["o"], a.transpose(0, 2, 1, 3).reshape(b, t, d))
        x = x + linear(p["fc2"], jax.nn.gelu(linear(p["fc1"], layer_norm(p["ln2"], x)), approximate=True))
    return linear(params["head"], layer_norm(params["ln_f"], x))


def loss_fn(params, x, y, heads, mm):
    logits = forward(params, x, heads, mm).reshape(-1, params["head"]["b"].shape[0])
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def make_step(heads, mm, lr=race_common.LR, b1=0.9, b2=0.999, eps=1e-8):
    """One training step, Adam included (PyTorch's Adam: bias-corrected moments, eps outside the sqrt)."""

    def step(params, m, v, t, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, heads, mm)
        t = t + 1
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        params = jax.tree.map(lambda p, m, v: p - lr / c1 * m / (jnp.sqrt(v / c2) + eps), params, m, v)
        return params, m, v, t, loss

    return jax.jit(step, donate_argnums=(0, 1, 2))


def main():
    args = race_common.parse_args("JAX side of the xgrad race (jit of the whole step)")
    s = args.sizes
    params = init(jax.random.PRNGKey(0), s)
    count = sum(p.size for p in jax.tree.leaves(params))
    race_common.check_parameters("JAX", args, count)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.integers(0, s["vocab"], (s["batch"], s["context"])), jnp.int32)
    y = jnp.asarray(rng.integers(0, s["vocab"], (s["batch"] * s["context"],)), jnp.int32)
    state = {"params": params, "m": jax.tree.map(jnp.zeros_like, params), "v": jax.tree.map(jnp.zeros_like, params),
             "t": jnp.zeros((), jnp.float32)}
    step = make_step(s["heads"], product(args.precision))

    def whole_step():
        st = state
        st["params"], st["m"], st["v"], st["t"], loss = step(st["params"], st["m"], st["v"], st["t"], x, y)
        return loss

    timings = race_common.time_steps(args, whole_step, None, None, lambda loss: float(loss))
    race_common.report(f"JAX {jax.__version__} jit", args, count, timings)


if __name__ == "__main__":
    main()
