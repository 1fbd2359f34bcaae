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
#   6. measures every kernel's bandwidth and the GEMMs' throughput
#      (TestGPUReport: max error against the CPU fallback, GB/s or TFLOP/s
#      and % of peak per kernel; CSV in LOGDIR/report.csv) and, when a PyTorch is found, the same copy and
#      GEMMs in PyTorch as a peer;
#   7. runs the GPU benchmarks of bench.test, if it has any.
# Full logs go to LOGDIR (default ./gpu-logs); a short table comes last.
# The exit status is 0 only if every step passed.
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

step() { # step NAME TIMEOUT LOG CMD...: run CMD, log it, record the outcome
	local name=$1 limit=$2 log=$3
	shift 3
	local s=$(date +%s)
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
cands=$(timeout 120 find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -name 'libcublas.so.*' -print 2>/dev/null)
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

# 6. Bandwidth and GEMM throughput.
step "kernel and gemm report" 280 report.log \
	env GOTRAIN_REPORT="$logs/report.csv" "$bin/device.test" -test.run '^TestGPUReport$'

# The PyTorch peer, when the machine has one (from the folder of the cuBLAS
# it ships, or on PATH).
py=
case $cublas in */lib/python3*/site-packages/*) py=${cublas%%/lib/python3*}/bin/python ;; esac
for p in "$py" python3 python; do
	if [ -n "$p" ] && command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
		py=$p
		break
	fi
	py=
done
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
} | tee -a "$logs/run.log"
exit $fail
