#!/usr/bin/python3
"""PyTorch CPU peer: time one training step of gotrain's MNIST MLP.

One step is forward + backward + Adam update with cross-entropy loss, for a
784-256-128-10 ReLU MLP at batch 128 on random fp32 data. For each thread
count it warms up, times each step, and reports the median and the
interquartile range in ms/step, examples/s, and the time of an epoch of
60,000 examples extrapolated from the median (468.75 steps).

Run with Debian's interpreter, which has python3-torch (the python3 on PATH
may be another install without it); install libopenblas0-pthread too, or
torch falls back to the slow reference BLAS.

torch.set_num_threads sets only torch's OpenMP pool; OpenBLAS (pthreads)
keeps its own pool, sized to all cores. So that "threads=N" means N cores,
the script sets OpenBLAS's pool to N too (openblas_set_num_threads, through
ctypes); --blas-threads changes that. With two pools of 2 threads on a
2-core machine, OpenMP's threads spin-wait after each parallel region and
starve OpenBLAS's: steps took 9-78 ms instead of 3. So unless the caller
sets it, the script sets OMP_WAIT_POLICY=PASSIVE (before torch starts
OpenMP), which makes OpenMP's idle threads sleep.

    /usr/bin/python3 bench/pytorch_mlp.py            # threads 1 and 2
    /usr/bin/python3 bench/pytorch_mlp.py --threads 1 --steps 500

The last line of output for each thread count is machine-readable:
    RESULT threads=N blas_threads=M ms_per_step=... ex_per_s=... epoch_s=...
"""

import argparse
import ctypes
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see the doc comment; read when torch loads

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

BATCH = 128
SIZES = (784, 256, 128, 10)
EPOCH_EXAMPLES = 60000


def blas_libs():
    """The BLAS libraries this process has mapped (after a matmul)."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f if "blas" in line.lower()})
    except OSError:
        return []


def openblas():
    """The loaded OpenBLAS as a ctypes library, or None."""
    torch.ones(2, 2) @ torch.ones(2, 2)  # make sure the BLAS is loaded
    for path in blas_libs():
        if "openblas" in path:
            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_set_num_threads"):
                return lib
    return None


def bench(threads, blas_threads, steps, warmup, seed=0):
    torch.set_num_threads(threads)
    ob = openblas()
    if ob is not None and blas_threads != "default":
        ob.openblas_set_num_threads(threads if blas_threads == "match" else int(blas_threads))
    torch.manual_seed(seed)
    layers = []
    for i in range(len(SIZES) - 1):
        layers.append(nn.Linear(SIZES[i], SIZES[i + 1]))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(BATCH, SIZES[0])
    y = torch.randint(0, SIZES[-1], (BATCH,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        loss.item()  # CPU ops are synchronous; this only reads the value
        times.append(time.perf_counter() - t0)
    return times, loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--blas-threads", default="match",
                    help="OpenBLAS threads: 'match' (as many as torch's, the default), "
                         "a number, or 'default' (leave OpenBLAS's own choice, all cores)")
    args = ap.parse_args()

    params = sum(SIZES[i] * SIZES[i + 1] + SIZES[i + 1] for i in range(len(SIZES) - 1))
    # Napkin FLOPs per step: forward 2*B*params (the GEMMs), backward twice that.
    flops = 6 * BATCH * sum(SIZES[i] * SIZES[i + 1] for i in range(len(SIZES) - 1))
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}, "
          f"MLP {'-'.join(map(str, SIZES))} ({params:,} parameters), batch {BATCH}, fp32, Adam, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    for n in args.threads:
        times, loss = bench(n, args.blas_threads, args.steps, args.warmup)
        ob = openblas()
        if n == args.threads[0]:
            print(f"BLAS: {', '.join(blas_libs()) or 'none found'}")
        blas_n = ob.openblas_get_num_threads() if ob is not None else "?"
        q = statistics.quantiles(times, n=4)
        med = statistics.median(times)
        ex_s = BATCH / med
        epoch = EPOCH_EXAMPLES / BATCH * med
        print(f"threads={n} (OpenBLAS threads {blas_n}): median {med*1e3:.3f} ms/step (IQR {q[0]*1e3:.3f}-{q[2]*1e3:.3f}, "
              f"min {min(times)*1e3:.3f}) over {len(times)} steps after {args.warmup} warm-up; "
              f"{ex_s:,.0f} ex/s; {flops/med/1e9:.1f} GFLOP/s; epoch of {EPOCH_EXAMPLES} ex {epoch:.2f} s; "
              f"final loss {loss:.4f}")
        print(f"RESULT threads={n} blas_threads={blas_n} ms_per_step={med*1e3:.4f} ex_per_s={ex_s:.0f} epoch_s={epoch:.3f}")


if __name__ == "__main__":
    main()
