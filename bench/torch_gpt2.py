#!/usr/bin/env python3
"""PyTorch GPU peer: train GPT-2 124M for a few steps, eager and torch.compile.

The model is `gotrain gpt train -preset gpt2-124m`'s: GPT-2 with V=50257,
T=1024, L=12, NH=12, C=768 (124,439,808 parameters, the output layer tied
to the token embedding), pre-norm blocks, layer norm eps 1e-5, GELU with
the tanh approximation, causal attention through
F.scaled_dot_product_attention(is_causal=True) where torch has it (a
masked softmax written out otherwise). It trains as gotrain trains it:
fp32 parameters, TF32 tensor-core matmuls (as GOTRAIN_TF32's default:
matmul and cuDNN fp32_precision = "tf32" where torch has it, else
allow_tf32), mean cross-entropy, gradients clipped to global norm 1,
AdamW (betas 0.9/0.95, weight decay 0.1 on the matrices only, not on
biases, norms and embeddings; fused when torch has it) with gotrain's
cosine schedule. The batches are random tokens made on the
device before the run, so no input pipeline is timed.

Each mode (eager, then torch.compile; a mode torch lacks or that fails is
skipped with the reason) runs --steps steps; the first --warmup are not
timed. Every step ends with loss.item(), a synchronisation, as gotrain's
Step returns the loss. tokens/s = B·T·(timed steps) / (their time).

MFU is against --peak-tflops (495: the H200's dense TF32 peak):
    MFU      = (6·N + 12·L·T·C) · tokens/s / peak
where N counts every parameter once (the tied matrix once, the position
embedding included, as gotrain's MFU does) and 12·L·T·C is the attention
(QK^T and AV, forward and backward, counted for the full T x T square as
in nanoGPT and PaLM, though causal kernels skip half). The line also gives
the 6·N-only figure. The last line of each mode is machine-readable, in
the GPUTABLE format of .ci/gpu-run.sh:
    GPUTABLE|torch gpt2-124m eager B=8 T=1024|0|<tokens/s>|tok/s|<MFU %>

    python3 bench/torch_gpt2.py                          # cuda, B=8, T=1024, 20 steps
    python3 bench/torch_gpt2.py --modes eager --batch 16
    /usr/bin/python3 bench/torch_gpt2.py --device cpu --tiny   # smoke test
"""

import argparse
import inspect
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

GPT2_124M = dict(V=50257, T=1024, L=12, NH=12, C=768)
TINY = dict(V=512, T=64, L=2, NH=2, C=64)


class Block(nn.Module):
    def __init__(self, cfg, sdpa):
        super().__init__()
        C, T = cfg["C"], cfg["T"]
        self.nh = cfg["NH"]
        self.sdpa = sdpa
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)
        if not sdpa:
            self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)), persistent=False)

    def attn(self, x):
        B, T, C = x.shape
        hs = C // self.nh
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.nh, hs).transpose(1, 2)
        k = k.view(B, T, self.nh, hs).transpose(1, 2)
        v = v.view(B, T, self.nh, hs).transpose(1, 2)
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
            att = att.masked_fill(~self.mask[:T, :T], float("-inf"))
            y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, cfg, sdpa):
        super().__init__()
        self.V = cfg["V"]
        self.wte = nn.Embedding(cfg["V"], cfg["C"])
        self.wpe = nn.Embedding(cfg["T"], cfg["C"])
        self.h = nn.ModuleList(Block(cfg, sdpa) for _ in range(cfg["L"]))
        self.ln_f = nn.LayerNorm(cfg["C"], eps=1e-5)
        for name, p in self.named_parameters():  # GPT-2's init, as gotrain's nn.NewGPT
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in name:
                nn.init.ones_(p)
            elif name == "wpe.weight":
                nn.init.normal_(p, std=0.01)
            elif name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg["L"]))
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for b in self.h:
            x = b(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # tied output layer
        return F.cross_entropy(logits.view(-1, self.V), targets.view(-1))


def make_optimizer(model, lr, device):
    """AdamW as gotrain's: decay on the Linear matrices only; fused when
    this torch has it for the device, else foreach, else the loop."""
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and not n.startswith(("wte", "wpe"))]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and not n.startswith(("wte", "wpe")))]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}]
    kw = dict(lr=lr, betas=(0.9, 0.95), eps=1e-8)
    tries = [("fused", dict(fused=True))] if device == "cuda" else []  # torch 2.0 and later
    if "foreach" in inspect.signature(torch.optim.AdamW).parameters:
        tries.append(("foreach", dict(foreach=True)))
    tries.append(("for-loop", {}))
    for name, extra in tries:
        try:
            return torch.optim.AdamW(groups, **kw, **extra), name
        except (RuntimeError, TypeError, ValueError) as e:
            print(f"AdamW {name}: not available ({e}); trying the next", flush=True)
    raise RuntimeError("unreachable")


def lr_at(step, steps, peak, warmup=100, min_factor=0.1):
    """gotrain's nn.CosineWarmup: linear warmup to peak, cosine to
    min_factor·peak at steps (step is 0-based)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, steps - warmup))
    return peak * (min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * p)))


def run(mode, cfg, args, sdpa, n_expected, flops_per_token, label):
    """Trains a fresh model in mode (eager or compile); returns tokens/s,
    or None when the mode is skipped."""
    dev = args.device
    B, T = args.batch, args.seq
    torch.manual_seed(args.seed)
    model = GPT(cfg, sdpa).to(dev)
    opt, opt_kind = make_optimizer(model, args.lr, dev)
    fwd = model
    if mode == "compile":
        if not hasattr(torch, "compile"):
            print(f"{label} compile: skipped: torch {torch.__version__} has no torch.compile", flush=True)
            return None
        try:
            fwd = torch.compile(model)
        except Exception as e:  # noqa: BLE001: any failure only skips the mode
            print(f"{label} compile: skipped: torch.compile failed: {type(e).__name__}: {first_line(e)}", flush=True)
            return None
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed)
    data = torch.randint(0, cfg["V"], (args.steps, B, T + 1), device=dev, generator=gen)
    tokens, targets = data[:, :, :T].contiguous(), data[:, :, 1:].contiguous()
    del data
    params = [p for p in model.parameters()]
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step(i):
        for g in opt.param_groups:
            g["lr"] = lr_at(i, args.steps, args.lr)
        opt.zero_grad(set_to_none=True)
        loss = fwd(tokens[i], targets[i])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    times, losses = [], []
    t_start = time.perf_counter()
    for i in range(args.steps):
        t0 = time.perf_counter()
        try:
            losses.append(step(i))
        except Exception as e:  # noqa: BLE001
            if mode == "compile" and i < args.warmup:
                print(f"{label} compile: skipped: step {i + 1} failed: {type(e).__name__}: {first_line(e)}", flush=True)
                return None
            raise
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
        elif args.verbose or mode == "compile":
            print(f"  {mode} warm-up step {i + 1}: {dt:.2f}s, loss {losses[-1]:.4f}", flush=True)
    total = time.perf_counter() - t_start
    tok_s = B * T * len(times) / sum(times)
    n = sum(p.numel() for p in params)
    if n != n_expected:
        print(f"warning: the model has {n:,} parameters, main() counted {n_expected:,}", flush=True)
    mfu = 100 * flops_per_token * tok_s / (args.peak_tflops * 1e12)
    mfu6 = 100 * 6 * n * tok_s / (args.peak_tflops * 1e12)
    mem = f", peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if dev == "cuda" else ""
    ts = sorted(times)
    print(f"{label} {mode}: steps {args.warmup + 1}-{args.steps}: {1e3 * sum(times) / len(times):.1f} ms/step "
          f"(min {1e3 * ts[0]:.1f}, max {1e3 * ts[-1]:.1f}), {tok_s:,.0f} tokens/s, "
          f"MFU {mfu:.1f}% ((6N+12LTC)/token) or {mfu6:.1f}% (6N/token); "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; AdamW {opt_kind}; {total:.1f}s with warm-up{mem}", flush=True)
    print(f"GPUTABLE|torch {args.name} {mode} B={B} T={T}|0|{tok_s:.1f}|tok/s|{mfu:.1f}", flush=True)
    return tok_s


def enable_tf32():
    """TF32 tensor cores for fp32 matmuls (and cuDNN): the fp32_precision
    settings where torch has them (2.9 and later deprecate the old flags),
    else allow_tf32. Returns what it set."""
    m = torch.backends.cuda.matmul
    try:
        m.fp32_precision  # torch 1.13's matmul object raises AssertionError, not AttributeError
        new_api = True
    except Exception:  # noqa: BLE001
        new_api = False
    if new_api:
        try:
            m.fp32_precision = "tf32"
            torch.backends.cudnn.conv.fp32_precision = "tf32"
            return "matmul.fp32_precision=tf32"
        except Exception as e:  # noqa: BLE001
            print(f"fp32_precision: {first_line(e)}; using allow_tf32", flush=True)
    m.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return "allow_tf32"


def first_line(e):
    s = str(e).strip().splitlines()
    return s[0][:300] if s else "(no message)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda or cpu")
    ap.add_argument("--batch", type=int, default=8, help="sequences per batch (B)")
    ap.add_argument("--seq", type=int, default=0, help="tokens per sequence (T; 0: the model's context)")
    ap.add_argument("--steps", type=int, default=20, help="steps per mode, warm-up included")
    ap.add_argument("--warmup", type=int, default=3, help="first steps not timed")
    ap.add_argument("--modes", default="eager,compile", help="comma-separated: eager, compile")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (gotrain's default)")
    ap.add_argument("--peak-tflops", type=float, default=495.0, help="peak TFLOP/s for MFU (H200 dense TF32: 495)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tiny", action="store_true", help=f"smoke test: {TINY}, B=2, 2 steps (1 warm-up)")
    ap.add_argument("--verbose", action="store_true", help="print the warm-up steps of eager too")
    args = ap.parse_args()

    cfg = dict(TINY if args.tiny else GPT2_124M)
    args.name = "gpt2-tiny" if args.tiny else "gpt2-124m"
    if args.tiny:
        args.batch, args.steps, args.warmup = min(args.batch, 2), 2, 1
    if args.seq == 0:
        args.seq = cfg["T"]
    if not 1 <= args.seq <= cfg["T"]:
        sys.exit(f"--seq {args.seq}: want 1..{cfg['T']}")
    if args.batch < 1 or args.steps < 1 or not 0 <= args.warmup < args.steps:
        sys.exit("--batch and --steps must be >= 1 and --warmup in [0, steps)")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("eager", "compile"):
            sys.exit(f"--modes: unknown mode {m!r}: want eager or compile")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch.cuda.is_available() is False (use --device cpu)")

    tf32 = enable_tf32()
    sdpa = hasattr(F, "scaled_dot_product_attention")
    L, C, T = cfg["L"], cfg["C"], args.seq
    n = cfg["V"] * C + cfg["T"] * C + L * (12 * C * C + 13 * C) + 2 * C
    flops_per_token = 6 * n + 12 * L * T * C
    label = f"torch {args.name}"
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), python {sys.version.split()[0]}, {where}; "
          f"GPT-2 V={cfg['V']} T={cfg['T']} L={L} NH={cfg['NH']} C={C}, {n:,} parameters; "
          f"batch {args.batch}x{T} = {args.batch * T:,} tokens/step, {args.steps} steps ({args.warmup} warm-up); "
          f"fp32 + TF32 matmuls ({tf32}); attention: {'scaled_dot_product_attention' if sdpa else 'masked softmax'}; "
          f"{flops_per_token / 1e9:.3f} GFLOP/token (6N {6 * n / 1e9:.3f} + attention {12 * L * T * C / 1e9:.3f}); "
          f"peak {args.peak_tflops:g} TFLOP/s", flush=True)
    for m in modes:
        run(m, cfg, args, sdpa, n, flops_per_token, label)
        if args.device == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
