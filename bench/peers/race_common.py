"""What every Python peer of the race shares: the models' sizes, the command line, the timing loop and the
JSON line each run prints (the same fields as bench_race_xgrad --json).

The models are those of bench/race_report.cpp (docs/benchmarks.md): a GPT-2-shaped LM with learned
positions, pre-LN blocks [LN -> causal MHA (separate Q, K, V, O projections with bias) -> residual -> LN ->
Linear(d, d_ff) -> GELU (tanh) -> Linear(d_ff, d) -> residual], a final LN and a Linear head with bias,
initialised as xgrad initialises it: N(0, 0.02) embeddings and positions, Glorot-uniform weights, zero biases,
LayerNorm 1 and 0. Cross-entropy, Adam (lr 3e-4, betas 0.9 / 0.999, eps 1e-8), dropout 0, one fixed random
batch.
"""
import argparse
import json
import resource
import statistics
import sys
import time

# name -> (vocab, context, d_model, heads, layers, d_ff, batch, parameters)
MODELS = {
    "tiny": dict(vocab=65, context=64, d_model=128, heads=4, layers=2, d_ff=512, batch=32, parameters=421_697),
    "large": dict(vocab=256, context=256, d_model=512, heads=8, layers=8, d_ff=2048, batch=16, parameters=25_613_568),
}
LR = 3e-4


def parse_args(description, modes=None):
    """The command line every peer takes (the same flags as bench_race_xgrad)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", choices=sorted(MODELS), default="tiny")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (pin the process with taskset too)")
    p.add_argument("--steps", type=int, default=20, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                   help="arithmetic of the products: f32, or bf16 (each framework's own mixed precision)")
    if modes:
        p.add_argument("--mode", choices=modes, default=modes[0])
    args = p.parse_args()
    args.sizes = MODELS[args.model]
    return args


def check_parameters(framework, args, count):
    """Exits with a message unless the model has exactly the raced parameter count."""
    want = args.sizes["parameters"]
    if count != want:
        sys.exit(f"{framework}: the {args.model} model has {count:,} parameters, expected {want:,}")


def time_steps(args, forward, backward, update, value):
    """Runs args.warmup untimed and args.steps timed steps of forward() (zero_grad + forward + loss; returns the
    loss), backward(loss), update(); returns medians (ms), CPU time per step and the first and last loss.
    A framework that runs the whole step as one compiled call passes it as forward and None for the others."""
    step, fwd, bwd, opt = [], [], [], []
    first = last = None
    cpu0 = None
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        loss = forward()
        t1 = time.perf_counter()
        if backward:
            backward(loss)
        t2 = time.perf_counter()
        if update:
            update()
        t3 = time.perf_counter()
        v = value(loss)  # also waits for asynchronous frameworks: the step is only done when its loss is
        t4 = time.perf_counter()
        first = v if i == 0 else first
        last = v
        if i < args.warmup:
            continue
        step.append((t4 - t0) * 1e3)
        fwd.append((t1 - t0) * 1e3)
        bwd.append((t2 - t1) * 1e3)
        opt.append((t3 - t2) * 1e3)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / args.steps
    med = statistics.median
    phases = (med(fwd), med(bwd), med(opt)) if backward else (None, None, None)
    return dict(step_ms=med(step), forward_ms=phases[0], backward_ms=phases[1], optimizer_ms=phases[2],
                cpu_ms=cpu_ms, first_loss=first, last_loss=last)


def report(framework, args, parameters, timings):
    """Prints the run as one JSON line, after checking that the loss fell; exits non-zero if it did not."""
    s = args.sizes
    tokens = s["batch"] * s["context"]
    result = dict(framework=framework, model=args.model, precision=args.precision, threads=args.threads,
                  parameters=parameters,
                  tokens_per_s=tokens / (timings["step_ms"] / 1e3),
                  peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **timings)
    print(json.dumps(result), flush=True)
    if not timings["last_loss"] < timings["first_loss"]:
        sys.exit(f"{framework}: the loss did not fall ({timings['first_loss']:.4f} -> {timings['last_loss']:.4f})")
