#!/usr/bin/env python3
"""The race in one command: xgrad against LibTorch 1.13, PyTorch 2 (eager and torch.compile) and JAX (jit),
round by round, quiet and with a competing CPU-bound process on one core.

    python3 bench/peers/run_race.py --rounds 3 --threads 1,2 --competitor both

Needs the race programs (cmake -DXGRAD_BUILD_BENCH=ON; targets bench_race_xgrad, and bench_race where
Debian's libtorch-dev is installed) and the peers' environment (bash tools/setup-peers.sh). Standard library
only: it runs under any python3 and starts the peers with the environment's interpreter.

Every program runs in a process of its own, pinned with taskset to the first N CPUs this process may use
(N = the thread count), one after another: within a round, every program of one configuration runs back to
back, so the ratios compare runs made moments apart. The competitor (bench_race_xgrad --burn) is pinned to
the last CPU and killed when the runner ends, however it ends; it also dies by itself with the runner and
after --competitor-seconds. Prints per-round tokens/s, ratios xgrad / peer, peak RSS and the 1-minute load
average before each run, then a summary over the rounds; --json-out keeps every raw result.
"""
import argparse
import contextlib
import ctypes
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEERS = Path(__file__).resolve().parent
PROGRAMS = ["xgrad", "libtorch", "torch-eager", "torch-compile", "jax"]
# Run only when named in --programs: xgrad with TransformerLMOptions::gradient_checkpointing.
OPTIONAL = ["xgrad-checkpointed"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--steps", type=int, default=20, help="timed steps per run (the median is reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (torch.compile and jit compile here)")
    p.add_argument("--model", choices=["tiny", "large"], default="tiny")
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                   help="arithmetic of the products; bf16 is each framework's own mixed precision")
    p.add_argument("--competitor", choices=["off", "on", "both"], default="off")
    p.add_argument("--competitor-seconds", type=int, default=7200, help="the competitor's own time limit")
    p.add_argument("--programs", default=",".join(PROGRAMS),
                   help="comma-separated subset of " + ", ".join(PROGRAMS + OPTIONAL))
    p.add_argument("--build", default=str(ROOT / "build"), help="build folder holding bench/race/")
    p.add_argument("--python", default=str(ROOT / ".venv-peers" / "bin" / "python"), help="the peers' interpreter")
    p.add_argument("--timeout", type=int, default=3600, help="seconds one run may take before it is killed")
    p.add_argument("--json-out", help="write every result (JSON lines) here")
    p.add_argument("--tables", metavar="JSONL", help="only print Markdown tables of a --json-out file (for docs)")
    args = p.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    args.programs = [x for x in args.programs.split(",") if x]
    unknown = set(args.programs) - set(PROGRAMS + OPTIONAL)
    if unknown:
        p.error(f"unknown programs {sorted(unknown)}; valid: {', '.join(PROGRAMS + OPTIONAL)}")
    return args


def command(program, args, threads):
    """The command line and extra environment of one run, or None with the reason it cannot run here."""
    race = Path(args.build) / "bench" / "race"
    common = ["--threads", str(threads), "--steps", str(args.steps), "--warmup", str(args.warmup),
              "--model", args.model, "--precision", args.precision]
    # The race programs take the FMA limit main() measured once, rather than measuring it again every run.
    native = common + (["--fma-limit", f"{args.fma_limit:.6e}"] if args.fma_limit else [])
    if program in ("xgrad", "xgrad-checkpointed"):
        exe = race / "bench_race_xgrad"
        extra = ["--gradient-checkpointing", "on"] if program == "xgrad-checkpointed" else []
        return ([str(exe), "--json", *native, *extra], {}) if exe.exists() else (None, f"{exe} is not built")
    if program == "libtorch":
        exe = race / "bench_race"
        if not exe.exists():
            return None, f"{exe} is not built (needs Debian's libtorch-dev)"
        return [str(exe), "--json", "--frameworks", "libtorch", *native], {"OMP_WAIT_POLICY": "PASSIVE"}
    if not Path(args.python).exists():
        return None, f"{args.python} does not exist: run bash tools/setup-peers.sh"
    if program.startswith("torch-"):
        env = {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(threads)}
        return [args.python, str(PEERS / "lm_torch.py"), "--mode", program[len("torch-"):], *common], env
    env = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"} if threads == 1 else {}
    return [args.python, str(PEERS / "lm_jax.py"), *common], env


def run_one(program, args, threads, cpus):
    """Runs one program pinned to `cpus`; returns its parsed JSON result (with the load average), or None."""
    cmd, env = command(program, args, threads)
    load = os.getloadavg()[0]
    full = ["taskset", "-c", ",".join(map(str, cpus)), *cmd]
    try:
        done = subprocess.run(full, capture_output=True, text=True, timeout=args.timeout,
                              env={**os.environ, **env}, cwd=ROOT)
    except subprocess.TimeoutExpired:
        print(f"  {program}: killed after {args.timeout} s", flush=True)
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n    ".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        print(f"  {program}: failed (exit {done.returncode}):\n    {tail}", flush=True)
        return None
    result = json.loads(lines[-1])
    result.update(program=program, load_average=load)
    if program == "xgrad-checkpointed":
        result["framework"] = "xgrad, gradient checkpointing"
    return result


class Competitor:
    """bench_race_xgrad --burn on the last CPU, for as long as the `with` block runs."""

    def __init__(self, args, cpu):
        self.cmd = [str(Path(args.build) / "bench" / "race" / "bench_race_xgrad"), "--burn",
                    str(args.competitor_seconds), "--competitor-cpu", str(cpu)]
        self.proc = None

    def __enter__(self):
        if not Path(self.cmd[0]).exists():
            raise RuntimeError(f"the competitor needs {self.cmd[0]}: build bench_race_xgrad")
        self.proc = subprocess.Popen(self.cmd)
        time.sleep(0.5)  # let it take its core before the first timed step
        if self.proc.poll() is not None:
            raise RuntimeError(f"the competitor exited at once: {' '.join(self.cmd)}")
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def measure_fma_limit(args, cpu):
    """FLOP/s of one core's fp32 multiply-adds (bench_race_xgrad --measure-fma, pinned to `cpu`), or None."""
    exe = Path(args.build) / "bench" / "race" / "bench_race_xgrad"
    if not exe.exists():
        return None
    done = subprocess.run(["taskset", "-c", str(cpu), str(exe), "--measure-fma"], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("fma_limit_per_core_gflops:"):
            return float(line.split(":")[1]) * 1e9
    return None


def fma_share(r, threads):
    """The run's FLOP/s over the FMA limit of its threads, or None where either is unknown."""
    if "flops_per_step" not in r or not r.get("fma_limit_per_core"):
        return None
    return r["flops_per_step"] / (r["step_ms"] / 1e3) / (r["fma_limit_per_core"] * threads)


def fmt_ms(v):
    return "-" if v is None else f"{v:.1f}"


def print_round(rows):
    print(f"{'condition':<10} {'thr':>3} {'program':<26} {'step ms':>8} {'fwd':>7} {'bwd':>7} {'optim':>6} "
          f"{'cpu ms':>7} {'tok/s':>7} {'FMA %':>6} {'RSS MB':>7} {'load':>5} {'xgrad/this':>10}  loss")
    for r in rows:
        fma = fma_share(r, r["threads"])
        ratio = r.get("xgrad_ratio")
        print(f"{'competitor' if r['competitor'] else 'quiet':<10} {r['threads']:>3} {r['framework']:<26} "
              f"{r['step_ms']:>8.1f} {fmt_ms(r['forward_ms']):>7} {fmt_ms(r['backward_ms']):>7} "
              f"{fmt_ms(r['optimizer_ms']):>6} {r['cpu_ms']:>7.1f} {r['tokens_per_s']:>7.0f} "
              f"{'-' if fma is None else f'{100 * fma:.1f}':>6} {r['peak_rss_mb']:>7.0f} {r['load_average']:>5.1f} "
              f"{'-' if ratio is None else f'{ratio:.2f}x':>10}  {r['first_loss']:.3f}>{r['last_loss']:.3f}")


def summarize(results, args):
    """Ratios over the rounds: xgrad / each peer, and each program's N threads / 1 thread."""
    def spread(values):
        values = sorted(values)
        return f"median {statistics.median(values):.2f}x, range {values[0]:.2f}-{values[-1]:.2f}x, n={len(values)}"

    print("\nSummary over the rounds (tokens/s ratios; > 1: the first named is faster)")
    keys = sorted({(r["competitor"], r["threads"], r["program"]) for r in results if r["program"] != "xgrad"})
    for competitor, threads, program in keys:
        ratios = [r["xgrad_ratio"] for r in results if (r["competitor"], r["threads"], r["program"]) ==
                  (competitor, threads, program) and r.get("xgrad_ratio")]
        if ratios:
            condition = "competitor" if competitor else "quiet"
            print(f"  xgrad / {program:<14} {threads} thr, {condition:<10}: {spread(ratios)}")
    for program in args.programs:
        for competitor in sorted({r["competitor"] for r in results}):
            for threads in [t for t in args.threads if t != 1]:
                ratios = []
                for rnd in sorted({r["round"] for r in results}):
                    pick = {r["threads"]: r for r in results if (r["round"], r["program"], r["competitor"]) ==
                            (rnd, program, competitor)}
                    if threads in pick and 1 in pick:
                        ratios.append(pick[threads]["tokens_per_s"] / pick[1]["tokens_per_s"])
                if ratios:
                    print(f"  {program:<14} {threads} thr / 1 thr, {'competitor' if competitor else 'quiet':<10}: "
                          f"{spread(ratios)}")
    loads = [r["load_average"] for r in results]
    print(f"  load average (1 min) before the runs: {min(loads):.1f}-{max(loads):.1f}")


def markdown_tables(path):
    """One Markdown table per (condition, threads) of a --json-out file: each program's rounds side by side."""
    results = [json.loads(line) for line in open(path)]
    rounds = sorted({r["round"] for r in results})
    for competitor, threads in sorted({(r["competitor"], r["threads"]) for r in results}):
        print(f"\n**{threads_text(threads)}, {'with the competitor' if competitor else 'without the competitor'}**\n")
        print("| program | " + " | ".join(f"round {k}: step ms (tokens/s), FMA %, load" for k in rounds)
              + " | xgrad ÷ this, by round | peak RSS |")
        print("|---|" + "---|" * len(rounds) + "---|---|")
        for program in PROGRAMS + OPTIONAL:
            by_round = {r["round"]: r for r in results
                        if (r["program"], r["competitor"], r["threads"]) == (program, competitor, threads)}
            if not by_round:
                continue
            cells = []
            for k in rounds:
                r = by_round.get(k)
                fma = r and fma_share(r, threads)
                tps = r and r["tokens_per_s"]
                tps = tps and (f"{tps / 1000:.1f}k" if tps >= 1000 else f"{tps:.0f}")
                cells.append("—" if not r else f"{r['step_ms']:.0f} ({tps}), "
                             f"{'-' if not fma else f'{100 * fma:.1f} %'}, {r['load_average']:.1f}")
            ratios = " / ".join(f"{by_round[k]['xgrad_ratio']:.2f}×" for k in rounds
                                if by_round.get(k, {}).get("xgrad_ratio"))
            rss = max(r["peak_rss_mb"] for r in by_round.values())
            name = next(iter(by_round.values()))["framework"]
            print(f"| {name} | " + " | ".join(cells) + f" | {ratios or '—'} | {rss:.0f} MB |")


def threads_text(n):
    return f"{n} thread{'s' if n > 1 else ''}"


def openblas_core():
    """Sets OPENBLAS_CORETYPE for every program of the race when OpenBLAS would run its generic kernels on this
    CPU (as xgrad's one-line warning says, lib/backend/cpu/linalg.cpp); returns what was set, or why not."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} (given)"
    try:
        blas = ctypes.CDLL("libopenblas.so.0")
    except OSError:
        return "OpenBLAS not found"
    blas.openblas_get_corename.restype = ctypes.c_char_p
    core = blas.openblas_get_corename().decode()
    flags = set(next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), []))
    if core.lower() in ("haswell", "zen", "skylakex", "cooperlake", "sapphirerapids") or \
            not {"avx2", "fma"} <= flags:
        return f"OpenBLAS core {core}"
    os.environ["OPENBLAS_CORETYPE"] = "SkylakeX" if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags \
        else "Haswell"
    return f"OpenBLAS picked {core}: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} set for every program"


def main():
    args = parse_args()
    if args.tables:
        return markdown_tables(args.tables)
    allowed = sorted(os.sched_getaffinity(0))
    if max(args.threads) > len(allowed):
        sys.exit(f"run_race: {max(args.threads)} threads need as many CPUs; this process may use {len(allowed)}")
    conditions = {"off": [False], "on": [True], "both": [False, True]}[args.competitor]
    args.fma_limit = None
    for program in list(args.programs):  # a program that cannot run here is left out, said once
        cmd, why = command(program, args, 1)
        if cmd is None:
            print(f"run_race: {program} left out: {why}")
            args.programs.remove(program)
    blas_text = openblas_core()
    args.fma_limit = measure_fma_limit(args, allowed[0])
    fma_text = "unknown (bench_race_xgrad not built)" if not args.fma_limit else f"{args.fma_limit / 1e9:.1f} GFLOP/s"
    print(f"run_race: model {args.model}, {args.precision}, threads {args.threads}, {args.rounds} round(s), "
          f"{args.steps} timed steps; programs {', '.join(args.programs)}; CPUs {allowed}; competitor on CPU "
          f"{allowed[-1]} ({args.competitor}); FMA limit of one core {fma_text}; {blas_text}; uptime: "
          f"{Path('/proc/loadavg').read_text().strip()}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so `with Competitor` cleans up on kill too
    results, failures = [], 0
    out = open(args.json_out, "w") if args.json_out else None
    for rnd in range(1, args.rounds + 1):
        rows, started = [], time.strftime("%Y-%m-%d %H:%M:%S %Z")
        for competitor in conditions:
            with Competitor(args, allowed[-1]) if competitor else contextlib.nullcontext():
                for threads in args.threads:
                    config = [run_one(program, args, threads, allowed[:threads]) for program in args.programs]
                    failures += config.count(None)
                    config = [r for r in config if r]
                    xgrad = next((r for r in config if r["program"] == "xgrad"), None)
                    for r in config:
                        r.update(round=rnd, competitor=competitor, fma_limit_per_core=args.fma_limit)
                        if xgrad:
                            r["flops_per_step"] = xgrad["flops_per_step"]
                            if r is not xgrad:
                                r["xgrad_ratio"] = xgrad["tokens_per_s"] / r["tokens_per_s"]
                        if out:
                            out.write(json.dumps(r) + "\n")
                            out.flush()
                    rows += config
        print(f"\nround {rnd} of {args.rounds} (from {started} to {time.strftime('%H:%M:%S')}, load "
              f"{Path('/proc/loadavg').read_text().split()[0]} at its end)")
        print_round(rows)
        results += rows
    if results:
        summarize(results, args)
    if out:
        out.close()
    sys.exit(1 if failures or not results else 0)


if __name__ == "__main__":
    main()
