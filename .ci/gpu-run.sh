#!/usr/bin/env bash
# run.sh [LOGDIR]: gotrain's checks on a GPU host, from the bundle that
# `make gpu-bundle` builds (this file is .ci/gpu-run.sh in the repository).
# It needs no Go toolchain and builds nothing (gunzip, find, timeout and
# awk only). It:
#   1. finds cuBLAS (prefers libcublas.so.13, then .12, .11) and sets
#      LD_LIBRARY_PATH and GOTRAIN_CUBLAS;
#   2. runs the driver and GEMM checks (device.test -test.run '^TestCUDA');
#   3. runs the other device tests: the shared kernel suite against the GPU,
#      MNIST steps against the CPU fallback (fp32: GOTRAIN_TF32=0);
#   4. runs graph.test and any other test binary in bin/;
#   5. trains MNIST for one epoch on the GPU (gotrain mnist -device cuda);
#   5b. trains GPT-2 124M for 20 steps (B=8, T=1024; GOTRAIN_GPT_BATCH
#      changes B) with gotrain on the bundled Go sources, and, when a
#      PyTorch is found, the same model in PyTorch eager and torch.compile
#      (gpt2/torch_gpt2.py), all fp32 with TF32 matmuls: tokens/s and MFU
#      side by side in the final table;
#   6. measures every kernel's bandwidth and the GEMMs' throughput
#      (TestGPUReport: max error against the CPU fallback, GB/s or TFLOP/s
#      and % of peak per kernel; CSV in LOGDIR/report.csv) and, when a PyTorch is found, the same copy and
#      GEMMs in PyTorch as a peer;
#   7. runs the GPU benchmarks of bench.test, if it has any.
# Full logs go to LOGDIR (default ./gpu-logs); a short table comes last.
# The exit status is 0 only if every step passed.
#
# GOTRAIN_RUN_BUDGET=SECONDS caps the whole run (a leased GPU is counted
# by the second): each step's timeout is cut to what is left, and a step
# that would get under 15 s is skipped (SKIP(budget)). torch.compile,
# the slowest step and the one about PyTorch rather than gotrain, goes last.
# GOTRAIN_RUN_SKIP=REGEXP skips the steps whose names match (SKIP(asked)).
set -u
here=$(cd "$(dirname "$0")" && pwd)
logs=${1:-./gpu-logs}
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
# The binaries travel gzipped; unpack them where we may write.
bin=$(mktemp -d "${TMPDIR:-/tmp}/gotrain-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
for z in "$here"/bin/*.gz; do
	out=$bin/$(basename "$z" .gz)
	gunzip -c "$z" >"$out" && chmod +x "$out"
done
status=()
fail=0
t0=$(date +%s)
budget=${GOTRAIN_RUN_BUDGET:-0}

step() { # step NAME TIMEOUT LOG CMD...: run CMD, log it, record the outcome
	local name=$1 limit=$2 log=$3
	shift 3
	local s=$(date +%s)
	if [ -n "${GOTRAIN_RUN_SKIP:-}" ] && echo "$name" | grep -Eq -- "$GOTRAIN_RUN_SKIP"; then
		status+=("$(printf '%-28s %-16s' "$name" "SKIP(asked)")")
		echo "== $name: skipped (GOTRAIN_RUN_SKIP)" | tee -a "$logs/run.log"
		return
	fi
	if [ "$budget" -gt 0 ]; then
		local left=$((t0 + budget - s))
		if [ $left -lt 15 ]; then
			fail=1
			status+=("$(printf '%-28s %-16s' "$name" "SKIP(budget)")")
			echo "== $name: skipped, ${left}s of GOTRAIN_RUN_BUDGET left" | tee -a "$logs/run.log"
			return
		fi
		[ $left -lt "$limit" ] && limit=$left
	fi
	echo "== $name: $*" | tee -a "$logs/run.log"
	timeout --signal=INT --kill-after=10 "$limit" "$@" >"$logs/$log" 2>&1
	local rc=$?
	local took=$(($(date +%s) - s))
	local what=PASS
	if [ $rc -eq 124 ]; then what="TIMEOUT(${limit}s)"; elif [ $rc -ne 0 ]; then what="FAIL(rc=$rc)"; fi
	[ "$what" = PASS ] || fail=1
	status+=("$(printf '%-28s %-16s %4ss  %s' "$name" "$what" "$took" "$log")")
	tail -n 3 "$logs/$log" | sed 's/^/   /' | tee -a "$logs/run.log"
}

{
	echo "gotrain GPU run, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm)"
	command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
} 2>&1 | tee "$logs/run.log"
command -v nvidia-smi >/dev/null && nvidia-smi >"$logs/nvidia-smi.txt" 2>&1

# 1. cuBLAS.
cands=$(timeout 60 find /opt /usr /lib /lib64 /root /home -name 'libcublas.so.*' -print 2>/dev/null)
echo "$cands" >"$logs/cublas-candidates.txt"
cublas=
for v in 13 12 11; do
	cublas=$(echo "$cands" | grep -E "/libcublas\.so\.$v(\.[0-9.]*)?\$" | awk '{ print length($0) " " $0 }' | sort -n | head -n 1 | cut -d' ' -f2-)
	[ -n "$cublas" ] && break
done
if [ -z "$cublas" ]; then
	echo "run.sh: no libcublas.so.{13,12,11} on this machine; the GEMM steps will fail" | tee -a "$logs/run.log"
else
	export GOTRAIN_CUBLAS=$cublas
	export LD_LIBRARY_PATH=$(dirname "$cublas")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	echo "cuBLAS: $cublas" | tee -a "$logs/run.log"
fi
export GOTRAIN_MNIST=$here/mnist
export GOTRAIN_GPT_FIXTURE=$here/gpt2_tiny.safetensors

# 2-3. Device tests: fp32 GEMMs, so the suite's tolerances hold.
step "driver+gemm checks" 150 driver.log \
	env GOTRAIN_TF32=0 "$bin/device.test" -test.v -test.run '^TestCUDA'
step "kernel suite + mnist steps" 180 device.log \
	env GOTRAIN_TF32=0 "$bin/device.test" -test.v -test.skip '^TestCUDA'

# 4. Other test binaries (graph, and any cuda-tagged package).
for tb in "$bin"/*.test; do
	name=$(basename "$tb" .test)
	case $name in device | bench) continue ;; esac
	step "$name tests" 120 "$name.log" env GOTRAIN_TF32=0 "$tb" -test.v
done

# 5. MNIST on the GPU.
step "mnist 1 epoch on the gpu" 180 mnist.log "$bin/gotrain" mnist -device cuda -epochs 1
"$bin/gotrain" info >"$logs/gotrain-info.log" 2>&1 || true

# A CUDA-capable PyTorch, when the machine has one (from the folder of the
# cuBLAS it ships, or on PATH): the peer of 5b and 6.
py=
case $cublas in */lib/python3*/site-packages/*) py=${cublas%%/lib/python3*}/bin/python ;; esac
for p in "$py" python3 python; do
	if [ -n "$p" ] && command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
		py=$p
		break
	fi
	py=
done

# 5b. GPT-2 124M, 20 steps, the first gpt_warm untimed: gotrain (TF32 on, its
# default), then PyTorch eager and torch.compile at the same B, T and
# precision. gotrain trains its BPE on the bundled text (about 24 MB, which
# gives the full 50257 tokens) and writes one CSV line per step (-log);
# its tokens/s is B·T·(timed steps) / (sum of their step times), as the
# PyTorch script measures it.
gpt_b=${GOTRAIN_GPT_BATCH:-8} gpt_t=1024 gpt_steps=20 gpt_warm=3
gunzip -c "$here/gpt2/go-src.txt.gz" >"$bin/go-src.txt"
rm -f "$logs/gpt2-gotrain-steps.csv" "$logs"/gpt2-torch-*.log
step "gpt2-124m gotrain" 240 gpt2-gotrain.log \
	env GOTRAIN_TF32=1 "$bin/gotrain" gpt train -preset gpt2-124m -device cuda \
	-batch "$gpt_b" -seq "$gpt_t" -steps "$gpt_steps" -data "$bin/go-src.txt" \
	-ckpt "$bin/gpt2-ckpt" -eval-every 0 -val-tokens $((gpt_b * gpt_t)) \
	-log "$logs/gpt2-gotrain-steps.csv"
rm -rf "$bin/gpt2-ckpt"
# Where gotrain's step goes: 4 steps with every op timed (synchronised).
step "gpt2-124m gotrain profile" 120 gpt2-gotrain-profile.log \
	env GOTRAIN_TF32=1 "$bin/gotrain" gpt train -preset gpt2-124m -device cuda \
	-batch "$gpt_b" -seq "$gpt_t" -steps 5 -profile 4 -data "$bin/go-src.txt" \
	-ckpt "$bin/gpt2-ckpt" -eval-every 0 -val-tokens $((gpt_b * gpt_t))
rm -rf "$bin/gpt2-ckpt" "$bin/go-src.txt"
awk -F, -v w="$gpt_warm" -v bt=$((gpt_b * gpt_t)) -v b="$gpt_b" -v t="$gpt_t" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; cs = col["step"]; cr = col["tokens_per_s"]; next }
	cs && cr && $cs > w && $cr > 0 { sec += bt / $cr; n++ }
	END { if (n) { r = n * bt / sec; printf "GPUTABLE|gotrain gpt2-124m B=%d T=%d|0|%.1f|tok/s|%.1f\n", b, t, r, 100 * r * (6 * 124439808 + 12 * 12 * t * 768) / 495e12 } }
' "$logs/gpt2-gotrain-steps.csv" 2>/dev/null >>"$logs/gpt2-gotrain.log"
if [ -n "$py" ]; then
	gpt_py=("$py" "$here/gpt2/torch_gpt2.py" --batch "$gpt_b" --seq "$gpt_t" --steps "$gpt_steps" --warmup "$gpt_warm")
	step "gpt2-124m torch eager" 150 gpt2-torch-eager.log "${gpt_py[@]}" --modes eager
else
	status+=("$(printf '%-28s %-16s' "gpt2-124m torch" "SKIP(no torch)")")
fi

# 6. Bandwidth and GEMM throughput.
step "kernel and gemm report" 280 report.log \
	env GOTRAIN_REPORT="$logs/report.csv" "$bin/device.test" -test.run '^TestGPUReport$'

if [ -n "$py" ]; then
	cat >"$logs/torch_peer.py" <<'EOF'
import torch, time
def t(f, iters):
    for _ in range(2): f()
    torch.cuda.synchronize(); s = time.perf_counter()
    for _ in range(iters): f()
    torch.cuda.synchronize(); return (time.perf_counter() - s) / iters
n = 1 << 26
x = torch.randn(n, device="cuda"); y = torch.empty_like(x)
sec = t(lambda: y.copy_(x), 20)
print("GPUTABLE|torch copy_|0|%.1f|GB/s|%.1f" % (8 * n / sec / 1e9, 100 * 8 * n / sec / 4.3e12))
sec = t(lambda: torch.nn.functional.gelu(x, approximate="tanh"), 20)
print("GPUTABLE|torch gelu (tanh)|0|%.1f|GB/s|%.1f" % (8 * n / sec / 1e9, 100 * 8 * n / sec / 4.3e12))
del x, y
s = 8192
for name, dt, tf32, peak in [("fp32", torch.float32, False, 67e12), ("tf32", torch.float32, True, 495e12), ("bf16", torch.bfloat16, False, 989e12)]:
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a = torch.randn(s, s, device="cuda", dtype=dt); b = torch.randn(s, s, device="cuda", dtype=dt)
    sec = t(lambda: a @ b, 10)
    f = 2 * s ** 3 / sec
    print("GPUTABLE|torch matmul %s 8192^3|0|%.1f|TFLOP/s|%.1f" % (name, f / 1e12, 100 * f / peak))
print("torch", torch.__version__, torch.version.cuda, torch.cuda.get_device_name())
EOF
	step "pytorch peer" 120 torch.log "$py" "$logs/torch_peer.py"
fi

# 5b, continued: torch.compile, last.
if [ -n "$py" ]; then
	step "gpt2-124m torch.compile" 300 gpt2-torch-compile.log "${gpt_py[@]}" --modes compile
fi

# 7. GPU benchmarks of the bench package, if it has any.
if [ -x "$bin/bench.test" ]; then
	step "bench (gpu)" 150 bench.log \
		"$bin/bench.test" -test.run '^$' -test.bench '(?i)cuda|gpu|device' -test.benchtime 20x
fi

{
	echo
	echo "== steps ($(($(date +%s) - t0))s in all; logs in $logs)"
	printf '%s\n' "${status[@]}"
	echo
	echo "== kernels (TestGPUReport; max err relative to max(|ref|, rms(ref)) against the CPU fallback)"
	grep -E '^(GPU report|kernel +\||[A-Za-z0-9]+ +\|)' "$logs/report.log" 2>/dev/null | awk '!seen[$0]++'
	echo
	echo "== PyTorch peer"
	grep '^GPUTABLE|' "$logs"/torch.log 2>/dev/null |
		awk -F'|' '{ printf "%-40s %9s %9s %-8s %6s%%\n", $2, $3, $4, $5, $6 }'
	echo
	# MFU from tokens/s for all three alike: per token 6·N (N from gotrain's
	# "model:" line, every parameter once) plus 12·L·T·C of attention.
	n=$(sed -n 's/^model: GPT-2 .*, \([0-9,]*\) parameters;.*/\1/p' "$logs/gpt2-gotrain.log" 2>/dev/null | tr -d , | head -n 1)
	echo "== GPT-2 124M, $gpt_steps steps, B=$gpt_b T=$gpt_t: gotrain vs PyTorch eager vs torch.compile"
	echo "   (fp32 weights, TF32 matmuls; steps $((gpt_warm + 1))-$gpt_steps timed; MFU = tokens/s x FLOP/token / 495 TFLOP/s (H200 TF32 dense),"
	echo "    FLOP/token = 6N + 12·L·T·C (attention), N = ${n:-124439808}; the 6N-only MFU in the last column)"
	cat "$logs/gpt2-gotrain.log" "$logs/gpt2-torch-eager.log" "$logs/gpt2-torch-compile.log" 2>/dev/null |
		grep '^GPUTABLE|' |
		awk -F'|' -v n="${n:-124439808}" -v t="$gpt_t" '
			BEGIN { f6 = 6 * n; f = f6 + 12 * 12 * t * 768; printf "   %-40s %12s %8s %8s\n", "", "tokens/s", "MFU", "MFU(6N)" }
			{ printf "   %-40s %12.0f %7.1f%% %7.1f%%\n", $2, $4, 100 * $4 * f / 495e12, 100 * $4 * f6 / 495e12; rows++ }
			END { if (!rows) print "   (no results: see gpt2-*.log)" }'
	grep -h -E 'compile: skipped|^model: GPT-2|^steps 1-.* avg  in |^trained ' "$logs"/gpt2-*.log 2>/dev/null | sed 's/^/   /'
	sed -n '/^profile of/,/^validation/p' "$logs/gpt2-gotrain-profile.log" 2>/dev/null | grep -v '^validation' | head -n 24 | sed 's/^/   /'
	if grep -q '^model: GPT-2 ' "$logs/gpt2-gotrain.log" 2>/dev/null && ! grep -q '^model: GPT-2 V=50257 ' "$logs/gpt2-gotrain.log"; then
		echo "   note: gotrain's BPE stopped short of 50257 tokens (model line above), so its model is smaller than PyTorch's"
	fi
} | tee -a "$logs/run.log"
exit $fail
