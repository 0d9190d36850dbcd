"""PyTorch 2's side of the race: the raced LM (race_common.py) trained in eager mode or under torch.compile.

    OMP_WAIT_POLICY=PASSIVE taskset -c 0 python bench/peers/lm_torch.py --threads 1 --mode compile

With --precision bf16 the forward and loss run under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's
own mixed precision: linear layers and attention compute in bfloat16 (their outputs are bfloat16 too), layer
norm, softmax inside the loss and the loss itself in float32; parameters, gradients and Adam stay float32.

Prints one JSON line (race_common.report). Run by bench/peers/run_race.py, which sets the environment
(OMP_WAIT_POLICY=PASSIVE: with OpenMP's default spinning, 2 threads on 2 shared cores run ~2.5x slower).
"""

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

import race_common


class Block(nn.Module):
    """Pre-LN block: x + MHA(LN(x)), then x + MLP(LN(x)); causal attention through SDPA."""

    def __init__(self, d, heads, d_ff):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, x):
        b, t, d = x.shape
        h = self.ln1(x)
        split = lambda y: y.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, Dk)
        a = F.scaled_dot_product_attention(split(self.q(h)), split(self.k(h)), split(self.v(h)), is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class LM(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.tok = nn.Embedding(s["vocab"], s["d_model"])
        self.pos = nn.Parameter(torch.empty(s["context"], s["d_model"]))
        self.blocks = nn.ModuleList(Block(s["d_model"], s["heads"], s["d_ff"]) for _ in range(s["layers"]))
        self.ln_f = nn.LayerNorm(s["d_model"])
        self.head = nn.Linear(s["d_model"], s["vocab"])
        # xgrad's initialisation (race_common.py): N(0, 0.02) tables, Glorot-uniform weights, zero biases.
        nn.init.normal_(self.tok.weight, 0.0, 0.02)
        nn.init.normal_(self.pos, 0.0, 0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, ids):
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))


def main():
    args = race_common.parse_args("PyTorch 2 side of the xgrad race", modes=["eager", "compile"])
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    s = args.sizes
    model = LM(s)
    race_common.check_parameters("PyTorch", args, sum(p.numel() for p in model.parameters()))
    opt = torch.optim.Adam(model.parameters(), lr=race_common.LR)
    run = torch.compile(model) if args.mode == "compile" else model
    x = torch.randint(s["vocab"], (s["batch"], s["context"]))
    y = torch.randint(s["vocab"], (s["batch"] * s["context"],))

    def precision():
        if args.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward():
        opt.zero_grad(set_to_none=True)
        with precision():
            return F.cross_entropy(run(x).view(-1, s["vocab"]), y)

    timings = race_common.time_steps(args, forward, lambda loss: loss.backward(), opt.step, lambda loss: loss.item())
    name = f"PyTorch {torch.__version__.split('+')[0]} {args.mode}"
    race_common.report(name, args, sum(p.numel() for p in model.parameters()), timings)


if __name__ == "__main__":
    main()
