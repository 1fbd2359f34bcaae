#!/usr/bin/python3
"""PyTorch CPU peer: time one training step of `gotrain gpt train`'s model.

The model is the default preset of `gotrain gpt train` ("tiny"): a GPT-2
with V=2048, T=128, C=128, L=4, NH=4 (1,071,872 parameters; the output
layer tied to the token embedding, GELU with the tanh approximation, layer
norm eps 1e-5), trained as gotrain trains it: batch 8x128 tokens (--batch), mean
cross-entropy, clipping to global norm 1, AdamW (lr 4e-3, betas 0.9/0.95,
weight decay 0.1 on the matrices only), fp32. Attention is written out
(torch 1.13 has no scaled_dot_product_attention): softmax of the causally
masked scores, as nanoGPT's slow path.

For each thread count it warms up, times each step, and reports the median
ms/step and tokens/s. Compare with the tok/s that `gotrain gpt train`
prints at the same B and T on the same machine.

Run with Debian's interpreter, which has python3-torch:

    /usr/bin/python3 bench/pytorch_gpt.py                 # threads 1 and 2
    /usr/bin/python3 bench/pytorch_gpt.py --threads 2 --steps 30

Threads are set as in bench/pytorch_mlp.py: torch.set_num_threads for
torch's OpenMP pool, the same count for OpenBLAS's own pool (through
ctypes), and OMP_WAIT_POLICY=PASSIVE unless set, so that idle OpenMP
threads sleep instead of starving OpenBLAS's.

The last line for each thread count is machine-readable:
    RESULT threads=N ms_per_step=... tokens_per_s=...
"""

import argparse
import math
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch loads

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_mlp import blas_libs, openblas  # noqa: E402

V, T, C, L, NH = 2048, 128, 128, 4, 4


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def attn(self, x):
        B, Tn, _ = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, Tn, NH, C // NH).transpose(1, 2)
        k = k.view(B, Tn, NH, C // NH).transpose(1, 2)
        v = v.view(B, Tn, NH, C // NH).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // NH)
        att = att.masked_fill(~self.mask[:Tn, :Tn], float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(B, Tn, C))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        for name, p in self.named_parameters():  # GPT-2's init, as gotrain's nn.NewGPT
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in name:
                nn.init.ones_(p)
            elif name == "wpe.weight":
                nn.init.normal_(p, std=0.01)
            elif name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * L))
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1])
        x = self.wte(idx) + self.wpe(pos)
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.t()  # tied output layer
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


def bench(threads, steps, warmup, batch, seed=0):
    torch.set_num_threads(threads)
    ob = openblas()
    if ob is not None:
        ob.openblas_set_num_threads(threads)
    torch.manual_seed(seed)
    model = GPT()
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "wte" not in n and "wpe" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "wte" not in n and "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=4e-3, betas=(0.9, 0.95))
    x = torch.randint(0, V, (batch, T))
    y = torch.randint(0, V, (batch, T))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        loss.item()
        times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters())
    return times, loss.item(), params


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8, help="sequences per batch (gotrain gpt train -batch)")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}, GPT-2 V={V} T={T} C={C} L={L} NH={NH}, "
          f"batch {args.batch}x{T}, fp32, AdamW, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    for n in args.threads:
        times, loss, params = bench(n, args.steps, args.warmup, args.batch)
        if n == args.threads[0]:
            print(f"BLAS: {', '.join(blas_libs()) or 'none found'}; {params:,} parameters")
        q = statistics.quantiles(times, n=4)
        med = statistics.median(times)
        tok_s = args.batch * T / med
        print(f"threads={n}: median {med*1e3:.1f} ms/step (IQR {q[0]*1e3:.1f}-{q[2]*1e3:.1f}, min {min(times)*1e3:.1f}) "
              f"over {len(times)} steps after {args.warmup} warm-up; {tok_s:,.0f} tokens/s; "
              f"{6*params*tok_s/1e9:.1f} GFLOP/s (6·params·tokens/s); loss {loss:.4f}")
        print(f"RESULT threads={n} ms_per_step={med*1e3:.3f} tokens_per_s={tok_s:.0f}")


if __name__ == "__main__":
    main()
