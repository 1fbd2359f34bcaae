#!/usr/bin/python3
"""Writes gpt2_tiny.safetensors, the PyTorch reference of gpt_pytorch_test.go.

A tiny GPT-2 written here in plain PyTorch (not the transformers library),
in float32, with seeded random weights under Hugging Face's names and
layouts (Conv1D weights [in, out], wte [V, C], wpe [maxT, C], the output
projection tied to wte). It runs one batch and records, as llm.c's
test_gpt2 does:

    transformer.*            the initial weights
    tokens, targets          int32 [B, T]
    logits                   [B*T, V]
    loss                     [1], the mean next-token cross-entropy
    grad.<name>              every parameter's gradient for that batch
    step1.loss, step2.loss   [1], the losses seen by two AdamW steps
    step2.<name>             the parameters after those two steps

AdamW is torch.optim.AdamW (lr 1e-2, betas (0.9, 0.95), eps 1e-8) with
weight decay 0.1 on the 2-D block matrices (c_attn, c_proj, c_fc weights)
only, as gotrain's nn.AdamW decays the parameters that Decays(): biases,
layer norms, wte and wpe are not decayed. The two steps use the same batch.

The weights are not GPT-2's initialisation: they are larger (attention
scores of order 1, GELU inputs well inside its curved part, logits of order
a few units), so that a wrong scale, mask or layout changes the results by
far more than float32 rounding. The sizes are odd on purpose. The
configuration goes to the header's metadata, where the Go test reads it.

The Hugging Face `safetensors` package is not in Debian, so the file is
laid out by hand: u64 little-endian header length, JSON header padded with
spaces to 8 bytes, then the data.

Run from this folder:  /usr/bin/python3 gpt2_pytorch.py
Needs Debian's python3-torch (1.13, CPU) and python3-numpy.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F

V, MAXT, L, NH, C = 61, 16, 2, 2, 32  # HS = C/NH = 16
B, T = 3, 11
LR, BETAS, EPS, WD = 1e-2, (0.9, 0.95), 1e-8, 0.1
OUT = "gpt2_tiny.safetensors"

torch.set_default_dtype(torch.float32)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(20240611)


def randn(*shape, std=1.0, mean=0.0):
    return torch.randn(*shape, generator=gen) * std + mean


def init_params():
    """Parameters in Hugging Face's GPT-2 order, names and layouts."""
    p = {
        "transformer.wte.weight": randn(V, C, std=0.3),
        "transformer.wpe.weight": randn(MAXT, C, std=0.3),
    }
    for l in range(L):
        h = f"transformer.h.{l}."
        p[h + "ln_1.weight"] = randn(C, std=0.2, mean=1.0)
        p[h + "ln_1.bias"] = randn(C, std=0.1)
        p[h + "attn.c_attn.weight"] = randn(C, 3 * C, std=0.1)
        p[h + "attn.c_attn.bias"] = randn(3 * C, std=0.1)
        p[h + "attn.c_proj.weight"] = randn(C, C, std=0.1)
        p[h + "attn.c_proj.bias"] = randn(C, std=0.1)
        p[h + "ln_2.weight"] = randn(C, std=0.2, mean=1.0)
        p[h + "ln_2.bias"] = randn(C, std=0.1)
        p[h + "mlp.c_fc.weight"] = randn(C, 4 * C, std=0.2)
        p[h + "mlp.c_fc.bias"] = randn(4 * C, std=0.1)
        p[h + "mlp.c_proj.weight"] = randn(4 * C, C, std=0.1)
        p[h + "mlp.c_proj.bias"] = randn(C, std=0.1)
    p["transformer.ln_f.weight"] = randn(C, std=0.2, mean=1.0)
    p["transformer.ln_f.bias"] = randn(C, std=0.1)
    return {k: v.contiguous().requires_grad_(True) for k, v in p.items()}


def decays(name):
    """The 2-D block matrices; wte and wpe are 2-D too but not decayed."""
    return name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))


def gelu(x):
    """GPT-2's GELU, the tanh approximation."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layernorm(x, w, b):
    """Biased variance, eps 1e-5, written out rather than F.layer_norm."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def attention(x, p, h):
    """Causal self-attention of x [B, T, C]: the fused c_attn gives q, k, v
    side by side, each split into NH heads of HS channels."""
    Bx, Tx, Cx = x.shape
    HS = Cx // NH
    qkv = x @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]
    q, k, v = qkv.split(Cx, dim=2)
    q, k, v = (t.view(Bx, Tx, NH, HS).transpose(1, 2) for t in (q, k, v))  # [B, NH, T, HS]
    att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)
    mask = torch.tril(torch.ones(Tx, Tx, dtype=torch.bool))
    att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    y = (att @ v).transpose(1, 2).reshape(Bx, Tx, Cx)
    return y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]


def forward(p, tokens):
    """Logits [B*T, V]."""
    Bx, Tx = tokens.shape
    x = p["transformer.wte.weight"][tokens] + p["transformer.wpe.weight"][:Tx]
    for l in range(L):
        h = f"transformer.h.{l}."
        x = x + attention(layernorm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"]), p, h)
        m = layernorm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        m = gelu(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        x = x + m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
    x = layernorm(x, p["transformer.ln_f.weight"], p["transformer.ln_f.bias"])
    return (x @ p["transformer.wte.weight"].t()).reshape(Bx * Tx, V)  # tied output


def main():
    params = init_params()
    init = {k: v.detach().clone() for k, v in params.items()}
    tokens = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)

    logits = forward(params, tokens)
    loss = F.cross_entropy(logits, targets.reshape(-1))
    loss.backward()
    grads = {k: v.grad.detach().clone() for k, v in params.items()}

    opt = torch.optim.AdamW([
        {"params": [v for k, v in params.items() if decays(k)], "weight_decay": WD},
        {"params": [v for k, v in params.items() if not decays(k)], "weight_decay": 0.0},
    ], lr=LR, betas=BETAS, eps=EPS)
    step_losses = []
    for _ in range(2):
        opt.zero_grad()
        l = F.cross_entropy(forward(params, tokens), targets.reshape(-1))
        l.backward()
        opt.step()
        step_losses.append(l.detach())

    f32 = lambda t: ("F32", list(t.shape), t.detach().numpy().astype("<f4").tobytes())
    i32 = lambda t: ("I32", list(t.shape), t.numpy().astype("<i4").tobytes())
    tensors = [(k, *f32(v)) for k, v in init.items()]
    tensors += [("tokens", *i32(tokens)), ("targets", *i32(targets))]
    tensors += [("logits", *f32(logits)), ("loss", *f32(loss.reshape(1)))]
    tensors += [("grad." + k, *f32(v)) for k, v in grads.items()]
    tensors += [("step1.loss", *f32(step_losses[0].reshape(1))), ("step2.loss", *f32(step_losses[1].reshape(1)))]
    tensors += [("step2." + k, *f32(v)) for k, v in params.items()]

    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {
        "format": "pt", "source": "nn/testdata/gpt2_pytorch.py", "torch": torch.__version__,
        "vocab": str(V), "context": str(MAXT), "layers": str(L), "heads": str(NH), "channels": str(C),
        "batch": str(B), "seq": str(T),
        "lr": repr(LR), "beta1": repr(BETAS[0]), "beta2": repr(BETAS[1]), "eps": repr(EPS), "weight_decay": repr(WD),
    }
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(OUT, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + data)
    print(f"{OUT}: {len(params)} parameters, loss {loss.item():.6f}, "
          f"steps {step_losses[0].item():.6f} {step_losses[1].item():.6f}, {8 + len(hb) + len(data)} bytes")
    kb = grads[f"transformer.h.0.attn.c_attn.bias"][C:2 * C]
    print(f"largest |grad| of a key bias (analytically 0): {kb.abs().max().item():.3g}")


if __name__ == "__main__":
    main()
