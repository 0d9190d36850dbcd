#!/usr/bin/env python3
"""PyTorch peer of bench/cuda/cuda_bench.cpp: the same two language models trained on the GPU, eager and
torch.compile, in tokens/s. Run by tools/gpu-check.sh with the GPU machine's python3; prints one
"key value" line per figure.

The model is xgrad's nn::TransformerLM (examples/char_lm): token and learned position embeddings, pre-LN
blocks [LayerNorm -> causal multi-head attention -> residual -> LayerNorm -> Linear(d, 4d) -> GELU ->
Linear(4d, d) -> residual] with tanh GELU, a final LayerNorm and an untied Linear(d, vocab) head; cross-entropy, Adam(lr 3e-4),
dropout 0, float32 without TF32 (as xgrad's default). Attention uses scaled_dot_product_attention, PyTorch's
fused kernels.
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 65
SIZES = {  # name: (context, d_model, heads, layers, batch)
    "tiny_lm": (64, 128, 4, 2, 32),
    "large_lm": (256, 512, 8, 8, 32),
}


def attend(q, k, v):
    """Causal attention: PyTorch 2's fused kernels, or the same math spelled out on PyTorch 1."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    t = q.shape[-2]
    z = (q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5
    z = z.masked_fill(torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return z.softmax(-1) @ v


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        a = attend(q, k, v)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class LM(nn.Module):
    def __init__(self, context, d, heads, layers):
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, VOCAB)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def tokens_per_s(name, compiled, warmup=3, steps=20):
    context, d, heads, layers, batch = SIZES[name]
    torch.manual_seed(0)
    model = LM(context, d, heads, layers).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    fwd = torch.compile(model) if compiled else model
    x = torch.randint(0, VOCAB, (batch, context), device="cuda")
    y = torch.randint(0, VOCAB, (batch * context,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(fwd(x).view(-1, VOCAB), y).backward()
        opt.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return batch * context / times[len(times) // 2]


def check_model():
    """--check (any machine): the Tiny LM has xgrad's 421,697 parameters and one CPU step runs."""
    model = LM(*SIZES["tiny_lm"][:4])
    count = sum(p.numel() for p in model.parameters())
    loss = F.cross_entropy(model(torch.randint(0, VOCAB, (2, 64))).view(-1, VOCAB), torch.randint(0, VOCAB, (128,)))
    loss.backward()
    print(f"tiny_lm parameters {count}, first loss {loss.item():.3f} (log 65 = 4.174)")
    return 0 if count == 421697 else 1


def main():
    if "--check" in sys.argv:
        return check_model()
    if not torch.cuda.is_available():
        print("torch_peer: PyTorch sees no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"torch_version {torch.__version__}")
    status = 0
    for name in SIZES:
        for mode, compiled in (("eager", False), ("compile", True)):
            try:
                print(f"torch_{name}_{mode}_tokens_per_s {tokens_per_s(name, compiled):.4g}", flush=True)
            except Exception as e:  # torch.compile needs a working Triton toolchain; report, go on
                print(f"torch_peer: {name} {mode} failed: {e}", file=sys.stderr)
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
