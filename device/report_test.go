//go:build cuda || cudaemu

// TestGPUReport is the per-kernel report the GPU bundle prints last: for
// every kernel of the contract, the largest difference from the CPU
// fallback on the same inputs, and the kernel's speed against the machine's
// peak. It runs only when GOTRAIN_REPORT names the CSV file to write, so
// make test skips it:
//
//	GOTRAIN_REPORT=/tmp/r.csv go test -tags cudaemu -run TestGPUReport -v ./device/
//
// Sizes are large on a GPU (64M elements, 65536×1024 rows, 4096³ GEMMs) and
// small on the emulator. Each row is one entry of reportRows: its buffers
// (how each is filled, which are compared) and a closure that calls the
// kernel, with the napkin count of bytes moved or flops done next to it.
//
// Errors. The device output is compared with cpufallback.New(0)'s, element
// by element: err = |got−want| / max(|want|, rms(want)), so an element
// near zero is judged against the buffer's typical size rather than
// itself. The largest err over every output buffer of a row is its "max
// err"; a row fails when it exceeds the row's tolerance (1e-4 elementwise,
// 1e-3 reductions and row-wise kernels, 1e-3 FP32 GEMM, 1e-2 TF32 GEMM,
// exact for DropoutForward and ArgMax). A NaN or Inf that the reference
// does not have counts as an infinite error.
//
// Timing. After the checked call, one more call warms up and sizes the
// loop: R calls (enough for about 50 ms, at most maxReps) are queued
// between two Syncs. Bandwidth is judged against the H200's measured
// 4300 GB/s copy rate; GEMMs against the datasheet's 67 TFLOP/s FP32 or
// 495 TFLOP/s TF32.
//
// It never hangs: every row runs under a watchdog (a row that outlives
// rowTimeout stops the report, which is then printed with what it has and
// leaves the device unclosed), a panic or error becomes an ERROR row, and
// rows past the time budget (GOTRAIN_REPORT_BUDGET seconds, default 240)
// are SKIPped.

package device_test

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/device"
	"github.com/gotrain/gotrain/kernels"
)

const (
	envReport       = "GOTRAIN_REPORT"        // path of the CSV to write; unset: skip
	envReportBudget = "GOTRAIN_REPORT_BUDGET" // seconds for the whole report
	envTF32         = "GOTRAIN_TF32"          // read by the cuda driver at Open

	peakGBs  = 4300.0 // H200 device-to-device copy, measured
	peakFP32 = 67.0   // H200 FP32 TFLOP/s, datasheet
	peakTF32 = 495.0  // H200 TF32 dense TFLOP/s, datasheet

	timeTarget    = 50 * time.Millisecond
	maxReps       = 1000
	rowTimeout    = 120 * time.Second
	defaultBudget = 240 * time.Second
)

// Tolerances on max err (see the file comment).
const (
	tolElem   = 1e-4
	tolReduce = 1e-3
	tolFP32   = 1e-3
	tolTF32   = 1e-2
	tolExact  = 0
)

// Precision of a GEMM row.
const (
	precDefault = "default" // whatever the backend is set to
	precFP32    = "fp32"
	precTF32    = "tf32"
)

// tf32Switch is what a backend that can toggle TF32 GEMMs exposes.
type tf32Switch interface{ SetTF32(on bool) error }

// reportSizes are the problem sizes of one report.
type reportSizes struct {
	n          int // elements of elementwise, reduction and optimizer rows
	rows, cols int // softmax, cross-entropy, bias, argmax
	gemm       int // side of the square GEMM
	batch      int // MNIST batch
}

// gen fills dst with elements [off, off+len(dst)) of a deterministic
// sequence; it is called on chunks in parallel.
type gen func(dst []float32, off int)

// bufSpec is one argument of a row's kernel.
type bufSpec struct {
	n   int
	f   gen                        // float32 contents; nil for int32
	i   func(dst []int32, off int) // int32 contents
	out bool                       // compared after the call
}

func (s bufSpec) dtype() kernels.DType {
	if s.f == nil {
		return kernels.I32
	}
	return kernels.F32
}

// Buffer constructors. Seeds differ per argument so that no two inputs
// are equal.
func in(n int, g gen) bufSpec  { return bufSpec{n: n, f: g} }
func acc(n int, g gen) bufSpec { return bufSpec{n: n, f: g, out: true} } // read-modify-write output
func out(n int) bufSpec        { return bufSpec{n: n, f: nanGen, out: true} }
func labelsIn(rows, cols int, seed uint64) bufSpec {
	return bufSpec{n: rows, i: func(dst []int32, off int) {
		for k := range dst {
			dst[k] = int32(hash(seed, off+k) % uint64(cols))
		}
	}}
}
func outI32(n int) bufSpec {
	return bufSpec{n: n, out: true, i: func(dst []int32, _ int) {
		for k := range dst {
			dst[k] = -1
		}
	}}
}

// hash is SplitMix64 of (seed, i): a counter-based generator, so chunks
// fill in parallel and the contents depend on nothing but seed and i.
func hash(seed uint64, i int) uint64 {
	z := seed*0xD1B54A32D192ED03 + uint64(i)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// uni draws uniformly from [lo, hi).
func uni(lo, hi float32, seed uint64) gen {
	return func(dst []float32, off int) {
		for k := range dst {
			u := float32(hash(seed, off+k)>>40) / (1 << 24)
			dst[k] = lo + (hi-lo)*u
		}
	}
}

func constant(v float32) gen {
	return func(dst []float32, _ int) {
		for k := range dst {
			dst[k] = v
		}
	}
}

// nanGen poisons a pure output, so an element the kernel never writes
// cannot pass.
var nanGen = constant(float32(math.NaN()))

// reportRow is one line of the report.
type reportRow struct {
	kernel string  // the contract's method
	size   string  // the problem, for the table
	tol    float64 // largest allowed max err
	bytes  float64 // bytes a call moves (napkin), for memory-bound rows
	flops  float64 // flops a call does, for GEMMs
	prec   string  // GEMM precision; "" for the other rows
	bufs   []bufSpec
	call   func(k kernels.Kernels, b []kernels.Buffer) error
}

// reportRows lists the rows in the contract's order. Each byte count is
// the traffic a perfect kernel needs: reads plus writes, a
// read-modify-write output counted twice.
func reportRows(z reportSizes) []reportRow {
	n, rows, cols, g := z.n, z.rows, z.cols, z.gemm
	nf, rc, rf := float64(n), rows*cols, float64(rows)
	rcf := float64(rc)
	ns := "n=" + count(n)
	rs := fmt.Sprintf("%d×%d", rows, cols)
	u := func(seed uint64) gen { return uni(-1, 1, seed) }
	elem := func(kernel string, bytesPerElem float64, bufs []bufSpec, call func(k kernels.Kernels, b []kernels.Buffer) error) reportRow {
		return reportRow{kernel: kernel, size: ns, tol: tolElem, bytes: bytesPerElem * nf, bufs: bufs, call: call}
	}
	// unary is y = f(x) (8n bytes); unaryBack is dx += dy·f'(x or y)
	// (read dy and x, read and write dx: 16n bytes).
	unary := func(kernel string, lo, hi float32, f func(k kernels.Kernels, y, x kernels.Buffer) error) reportRow {
		return elem(kernel, 8, []bufSpec{out(n), in(n, uni(lo, hi, 2))},
			func(k kernels.Kernels, b []kernels.Buffer) error { return f(k, b[0], b[1]) })
	}
	unaryBack := func(kernel string, lo, hi float32, f func(k kernels.Kernels, dx, dy, x kernels.Buffer) error) reportRow {
		return elem(kernel, 16, []bufSpec{acc(n, u(1)), in(n, u(2)), in(n, uni(lo, hi, 3))},
			func(k kernels.Kernels, b []kernels.Buffer) error { return f(k, b[0], b[1], b[2]) })
	}
	gemm := func(size, prec string, p kernels.MatMulParams) reportRow {
		bt := p.Batches()
		tol := tolFP32
		if prec == precTF32 {
			tol = tolTF32
		}
		c := out(bt * p.M * p.N)
		if p.Beta != 0 {
			c = acc(bt*p.M*p.N, u(1))
		}
		return reportRow{kernel: "MatMul", size: size, tol: tol, prec: prec,
			flops: 2 * float64(bt) * float64(p.M) * float64(p.N) * float64(p.K), // one multiply-add per (i, j, l)
			bufs:  []bufSpec{c, in(bt*p.M*p.K, u(2)), in(bt*p.K*p.N, u(3))},
			call:  func(k kernels.Kernels, b []kernels.Buffer) error { return k.MatMul(b[0], b[1], b[2], p) }}
	}
	// The first and last layers of the MNIST MLP 784-256-128-10 at the
	// demo's batch, forward and the two backward products (graph/rules.go).
	bs := z.batch
	mnist := func(what string, p kernels.MatMulParams) reportRow {
		return gemm(fmt.Sprintf("mnist %s %d×%d×%d", what, p.M, p.N, p.K), precDefault, p)
	}
	gs := fmt.Sprintf("%d³", g)
	sgemm := kernels.MatMulParams{M: g, N: g, K: g, Alpha: 1}
	adam := kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2, Step: 3}
	// optimizer buffers: param, grad, moment(s); v must be >= 0.
	adamBufs := func() []bufSpec {
		return []bufSpec{acc(n, u(1)), in(n, u(2)), acc(n, u(3)), acc(n, uni(0, 1e-2, 4))}
	}

	return []reportRow{
		// Memory.
		elem("Fill", 4, []bufSpec{out(n)}, // write n
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.Fill(b[0], 0.5, n) }),
		elem("Copy", 8, []bufSpec{out(n), in(n, u(2))}, // read n, write n
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.Copy(b[0], b[1], n) }),
		elem("Axpy", 12, []bufSpec{acc(n, u(1)), in(n, u(2))}, // read x, read+write y
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.Axpy(b[0], 0.75, b[1], n) }),

		// MatMul.
		gemm(gs+" fp32", precFP32, sgemm),
		gemm(gs+" tf32", precTF32, sgemm),
		mnist("fwd", kernels.MatMulParams{M: bs, N: 256, K: 784, Alpha: 1}),
		mnist("dX", kernels.MatMulParams{M: bs, N: 784, K: 256, TransB: true, Alpha: 1, Beta: 1}),
		mnist("dW", kernels.MatMulParams{M: 784, N: 256, K: bs, TransA: true, Alpha: 1, Beta: 1}),
		mnist("fwd", kernels.MatMulParams{M: bs, N: 10, K: 128, Alpha: 1}),
		{kernel: "BiasAdd", size: rs, tol: tolElem, bytes: 8*rcf + 4*float64(cols), // read x, write y, read bias
			bufs: []bufSpec{out(rc), in(rc, u(2)), in(cols, u(3))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.BiasAdd(b[0], b[1], b[2], rows, cols) }},
		{kernel: "BiasAddBackward", size: rs, tol: tolReduce, bytes: 4*rcf + 8*float64(cols), // read dy, read+write dbias
			bufs: []bufSpec{acc(cols, u(1)), in(rc, u(2))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.BiasAddBackward(b[0], b[1], rows, cols) }},

		// Elementwise.
		elem("Add", 12, []bufSpec{out(n), in(n, u(2)), in(n, u(3))}, // read a, b, write y
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.Add(b[0], b[1], b[2], n) }),
		elem("AddBackward", 20, []bufSpec{acc(n, u(1)), acc(n, u(2)), in(n, u(3))}, // read dy, read+write da, db
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.AddBackward(b[0], b[1], b[2], n) }),
		elem("Mul", 12, []bufSpec{out(n), in(n, u(2)), in(n, u(3))}, // read a, b, write y
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.Mul(b[0], b[1], b[2], n) }),
		elem("MulBackward", 28, []bufSpec{acc(n, u(1)), acc(n, u(2)), in(n, u(3)), in(n, u(4)), in(n, u(5))}, // read dy, a, b, read+write da, db
			func(k kernels.Kernels, b []kernels.Buffer) error {
				return k.MulBackward(b[0], b[1], b[2], b[3], b[4], n)
			}),
		elem("Scale", 8, []bufSpec{out(n), in(n, u(2))}, // read x, write y
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.Scale(b[0], b[1], 1.5, n) }),
		elem("ScaleBackward", 12, []bufSpec{acc(n, u(1)), in(n, u(2))}, // read dy, read+write dx
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.ScaleBackward(b[0], b[1], 1.5, n) }),

		// Activations: inputs over [-3, 3) to reach the curved parts.
		unary("ReLUForward", -3, 3, func(k kernels.Kernels, y, x kernels.Buffer) error { return k.ReLUForward(y, x, n) }),
		unaryBack("ReLUBackward", -3, 3, func(k kernels.Kernels, dx, dy, x kernels.Buffer) error { return k.ReLUBackward(dx, dy, x, n) }),
		unary("GELUForward", -3, 3, func(k kernels.Kernels, y, x kernels.Buffer) error { return k.GELUForward(y, x, n) }),
		unaryBack("GELUBackward", -3, 3, func(k kernels.Kernels, dx, dy, x kernels.Buffer) error { return k.GELUBackward(dx, dy, x, n) }),
		unary("TanhForward", -3, 3, func(k kernels.Kernels, y, x kernels.Buffer) error { return k.TanhForward(y, x, n) }),
		unaryBack("TanhBackward", -1, 1, func(k kernels.Kernels, dx, dy, y kernels.Buffer) error { return k.TanhBackward(dx, dy, y, n) }),
		unary("SigmoidForward", -3, 3, func(k kernels.Kernels, y, x kernels.Buffer) error { return k.SigmoidForward(y, x, n) }),
		unaryBack("SigmoidBackward", 0, 1, func(k kernels.Kernels, dx, dy, y kernels.Buffer) error { return k.SigmoidBackward(dx, dy, y, n) }),

		// Softmax.
		{kernel: "SoftmaxForward", size: rs, tol: tolReduce, bytes: 8 * rcf, // read x, write y
			bufs: []bufSpec{out(rc), in(rc, uni(-3, 3, 2))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.SoftmaxForward(b[0], b[1], rows, cols) }},
		{kernel: "SoftmaxBackward", size: rs, tol: tolReduce, bytes: 16 * rcf, // read dy, y, read+write dx
			bufs: []bufSpec{acc(rc, u(1)), in(rc, u(2)), in(rc, uni(0, 2/float32(cols), 3))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error {
				return k.SoftmaxBackward(b[0], b[1], b[2], rows, cols)
			}},

		// Losses.
		{kernel: "CrossEntropyForward", size: rs, tol: tolReduce, bytes: 8*rcf + 8*rf, // read logits, write probs; labels, losses
			bufs: []bufSpec{out(rows), out(rc), in(rc, uni(-3, 3, 3)), labelsIn(rows, cols, 4)},
			call: func(k kernels.Kernels, b []kernels.Buffer) error {
				return k.CrossEntropyForward(b[0], b[1], b[2], b[3], rows, cols)
			}},
		{kernel: "CrossEntropyBackward", size: rs, tol: tolReduce, bytes: 12*rcf + 8*rf, // read probs, read+write dlogits; dlosses, labels
			bufs: []bufSpec{acc(rc, u(1)), in(rows, u(2)), in(rc, uni(0, 2/float32(cols), 3)), labelsIn(rows, cols, 4)},
			call: func(k kernels.Kernels, b []kernels.Buffer) error {
				return k.CrossEntropyBackward(b[0], b[1], b[2], b[3], rows, cols)
			}},
		{kernel: "MSEForward", size: ns, tol: tolReduce, bytes: 8 * nf, // read pred, target
			bufs: []bufSpec{out(1), in(n, u(2)), in(n, u(3))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.MSEForward(b[0], b[1], b[2], n) }},
		elem("MSEBackward", 16, []bufSpec{acc(n, u(1)), in(1, u(2)), in(n, u(3)), in(n, u(4))}, // read pred, target, read+write dpred
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.MSEBackward(b[0], b[1], b[2], b[3], n) }),

		// Reductions: sums over [0, 1), so that cancellation does not make
		// the relative error meaningless.
		{kernel: "SumForward", size: ns, tol: tolReduce, bytes: 4 * nf, // read x
			bufs: []bufSpec{out(1), in(n, uni(0, 1, 2))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.SumForward(b[0], b[1], n) }},
		elem("SumBackward", 8, []bufSpec{acc(n, u(1)), in(1, u(2))}, // read+write dx
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.SumBackward(b[0], b[1], n) }),
		{kernel: "MeanForward", size: ns, tol: tolReduce, bytes: 4 * nf, // read x
			bufs: []bufSpec{out(1), in(n, uni(0, 1, 2))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.MeanForward(b[0], b[1], n) }},
		elem("MeanBackward", 8, []bufSpec{acc(n, u(1)), in(1, u(2))}, // read+write dx
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.MeanBackward(b[0], b[1], n) }),
		{kernel: "ArgMax", size: rs, tol: tolExact, bytes: 4*rcf + 4*rf, // read x, write out
			bufs: []bufSpec{outI32(rows), in(rc, u(2))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.ArgMax(b[0], b[1], rows, cols) }},

		// Dropout: the forward is exact (the same hash, one rounded
		// product); the backward may fuse its multiply-add.
		{kernel: "DropoutForward", size: ns, tol: tolExact, bytes: 12 * nf, // read x, write y, mask
			bufs: []bufSpec{out(n), out(n), in(n, u(3))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error {
				return k.DropoutForward(b[0], b[1], b[2], 0.3, 1234, n)
			}},
		elem("DropoutBackward", 16, []bufSpec{acc(n, u(1)), in(n, u(2)), in(n, uni(0, 2, 3))}, // read dy, mask, read+write dx
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.DropoutBackward(b[0], b[1], b[2], n) }),

		// Regularizers.
		{kernel: "L1Forward", size: ns, tol: tolReduce, bytes: 4 * nf, // read w
			bufs: []bufSpec{out(1), in(n, u(2))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.L1Forward(b[0], b[1], 1e-3, n) }},
		elem("L1Backward", 12, []bufSpec{acc(n, u(1)), in(1, u(2)), in(n, u(3))}, // read w, read+write dw
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.L1Backward(b[0], b[1], b[2], 1e-3, n) }),
		{kernel: "L2Forward", size: ns, tol: tolReduce, bytes: 4 * nf, // read w
			bufs: []bufSpec{out(1), in(n, u(2))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.L2Forward(b[0], b[1], 1e-3, n) }},
		elem("L2Backward", 12, []bufSpec{acc(n, u(1)), in(1, u(2)), in(n, u(3))}, // read w, read+write dw
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.L2Backward(b[0], b[1], b[2], 1e-3, n) }),
		{kernel: "SumSquares", size: ns, tol: tolReduce, bytes: 4 * nf, // read x
			bufs: []bufSpec{acc(1, uni(0, 1, 1)), in(n, u(2))},
			call: func(k kernels.Kernels, b []kernels.Buffer) error { return k.SumSquares(b[0], b[1], n) }},
		// Scale s = 999/1000 (not far below 1, so R repeats keep x normal).
		elem("ClipByGlobalNorm", 8, []bufSpec{acc(n, u(1)), in(1, constant(1e6))}, // read+write x
			func(k kernels.Kernels, b []kernels.Buffer) error { return k.ClipByGlobalNorm(b[0], b[1], 999, n) }),

		// Optimizers.
		elem("SGDUpdate", 20, []bufSpec{acc(n, u(1)), in(n, u(2)), acc(n, u(3))}, // read grad, read+write param, vel
			func(k kernels.Kernels, b []kernels.Buffer) error {
				return k.SGDUpdate(b[0], b[1], b[2], kernels.SGDParams{LR: 1e-2, Momentum: 0.9, WeightDecay: 1e-4}, n)
			}),
		elem("AdamUpdate", 28, adamBufs(), // read grad, read+write param, m, v
			func(k kernels.Kernels, b []kernels.Buffer) error {
				return k.AdamUpdate(b[0], b[1], b[2], b[3], adam, n)
			}),
		elem("AdamWUpdate", 28, adamBufs(), // read grad, read+write param, m, v
			func(k kernels.Kernels, b []kernels.Buffer) error {
				return k.AdamWUpdate(b[0], b[1], b[2], b[3], adam, n)
			}),
	}
}

// count writes an element count compactly: 64M, 1M, 1000.
func count(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return strconv.Itoa(n)
}

// Row outcomes.
const (
	statusOK    = "ok"
	statusFail  = "FAIL"
	statusError = "ERROR"
	statusSkip  = "SKIP"
)

// rowResult is what one row measured.
type rowResult struct {
	row     reportRow
	prec    string  // the GEMM precision it ran in
	maxAbs  float64 // largest |got−want| over its outputs
	maxErr  float64 // largest err (see the file comment)
	worst   string  // where maxErr was found
	perCall time.Duration
	reps    int
	status  string
	msg     string
}

// rate is GB/s or TFLOP/s, and the percentage of the matching peak.
func (r rowResult) rate() (v float64, unit string, pct float64) {
	if r.perCall <= 0 {
		return 0, "", 0
	}
	s := r.perCall.Seconds()
	if r.row.flops > 0 {
		v = r.row.flops / s / 1e12
		peak := peakFP32
		if r.prec == precTF32 {
			peak = peakTF32
		}
		return v, "TFLOP/s", 100 * v / peak
	}
	v = r.row.bytes / s / 1e9
	return v, "GB/s", 100 * v / peakGBs
}

// reporter runs rows on the device and the CPU reference.
type reporter struct {
	dev      *device.Backend
	cpu      kernels.Backend
	tf32     tf32Switch // nil when the backend has no switch
	tf32Def  bool       // the precision GEMMs run in unless switched
	emulated bool       // the CUDA-on-CPU emulator (no TF32)
	hostF    [][]float32
	hostI    [][]int32
	gotF     []float32
	wantF    []float32
	gotI     []int32
	wantI    []int32
}

func TestGPUReport(t *testing.T) {
	path := os.Getenv(envReport)
	if path == "" {
		t.Skipf("set %s to the path of a CSV file to run the per-kernel GPU report", envReport)
	}
	budget := defaultBudget
	if s := os.Getenv(envReportBudget); s != "" {
		sec, err := strconv.ParseFloat(s, 64)
		if err != nil || sec <= 0 {
			t.Fatalf("%s=%q: want a positive number of seconds", envReportBudget, s)
		}
		budget = time.Duration(sec * float64(time.Second))
	}
	start := time.Now()

	dev, err := device.Open(0)
	if err != nil {
		res := []rowResult{{row: reportRow{kernel: "Open"}, status: statusError, msg: err.Error()}}
		finishReport(t, "device.Open failed", res, path)
		t.Fatalf("device.Open(0): %v", err)
	}
	info := dev.Info()
	z := reportSizes{n: 64 << 20, rows: 65536, cols: 1024, gemm: 4096, batch: 128}
	if info.Emulated {
		z = reportSizes{n: 1 << 20, rows: 1024, cols: 1024, gemm: 512, batch: 128}
	}
	rp := &reporter{dev: dev, cpu: cpufallback.New(0), emulated: info.Emulated}
	rp.tf32, _ = any(dev).(tf32Switch)
	rp.tf32Def = !info.Emulated && info.ComputeCapability[0] >= 8 && os.Getenv(envTF32) != "0"
	gemmMode := "fp32"
	if rp.tf32Def {
		gemmMode = "tf32"
	}
	switchNote := "no TF32 switch"
	if rp.tf32 != nil {
		switchNote = "TF32 switch"
	}
	header := fmt.Sprintf("GPU report on %s (%s, sm_%d%d, %s; %s): n=%s, rows×cols=%d×%d, GEMM %d³; default GEMMs %s (%s); CPU reference %s with %d threads; peaks %.0f GB/s, %.0f FP32 / %.0f TF32 TFLOP/s",
		dev.Name(), info.Name, info.ComputeCapability[0], info.ComputeCapability[1], info.Driver, info.CUBLAS,
		count(z.n), z.rows, z.cols, z.gemm, gemmMode, switchNote, rp.cpu.Name(), runtime.GOMAXPROCS(0),
		peakGBs, peakFP32, peakTF32)

	// Every method of the contract has a row.
	rows := reportRows(z)
	kt := reflect.TypeFor[kernels.Kernels]()
	for i := range kt.NumMethod() {
		name := kt.Method(i).Name
		if !slices.ContainsFunc(rows, func(r reportRow) bool { return r.kernel == name }) {
			t.Errorf("GPU report: no row for kernels.Kernels.%s: add one to reportRows", name)
		}
	}

	var results []rowResult
	hung := false
	for _, r := range rows {
		if hung {
			results = append(results, rowResult{row: r, status: statusSkip, msg: "device hung on an earlier row"})
			continue
		}
		if left := budget - time.Since(start); left <= 0 {
			results = append(results, rowResult{row: r, status: statusSkip, msg: fmt.Sprintf("over the %v budget (%s)", budget, envReportBudget)})
			continue
		}
		res, ok := rp.guarded(r)
		if !ok {
			hung = true
		}
		results = append(results, res)
		v, unit, pct := res.rate()
		t.Logf("%-20s %-28s %-5s err %.2e  %.4g %s (%.1f%%) ×%d  %s", r.kernel, r.size, res.status, res.maxErr, v, unit, pct, res.reps, res.msg)
	}
	if !hung {
		if err := dev.Close(); err != nil {
			t.Errorf("closing the device: %v", err)
		}
	}
	header += fmt.Sprintf("; took %.1f s", time.Since(start).Seconds())
	finishReport(t, header, results, path)
}

// guarded runs one row under the watchdog; ok is false when it timed out
// (the device is then unusable: its goroutine is stuck).
func (rp *reporter) guarded(r reportRow) (res rowResult, ok bool) {
	done := make(chan rowResult, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- rowResult{row: r, status: statusError, msg: fmt.Sprintf("panic: %v", p)}
			}
		}()
		done <- rp.run(r)
	}()
	timer := time.NewTimer(rowTimeout)
	defer timer.Stop()
	select {
	case res = <-done:
		return res, true
	case <-timer.C:
		return rowResult{row: r, status: statusError, msg: fmt.Sprintf("timed out after %v; remaining rows skipped", rowTimeout)}, false
	}
}

// run checks and times one row.
func (rp *reporter) run(r reportRow) (res rowResult) {
	res = rowResult{row: r, prec: r.prec}
	fail := func(format string, a ...any) rowResult {
		res.status, res.msg = statusError, fmt.Sprintf(format, a...)
		return res
	}

	// GEMM precision: switch it when the backend can, else run only the
	// rows that match what it does.
	if r.prec != "" {
		want := rp.tf32Def
		switch r.prec {
		case precFP32:
			want = false
		case precTF32:
			want = true
		}
		res.prec = precFP32
		if want {
			res.prec = precTF32
		}
		if r.prec == precDefault {
			res.row.size += " " + res.prec
			if want {
				res.row.tol, r.tol = tolTF32, tolTF32
			}
		}
		if want != rp.tf32Def {
			if rp.tf32 == nil {
				res.status = statusSkip
				res.msg = fmt.Sprintf("no TF32 switch on the backend; its GEMMs run %s", map[bool]string{true: "tf32", false: "fp32"}[rp.tf32Def])
				return res
			}
			if err := rp.tf32.SetTF32(want); err != nil {
				if want && rp.emulated {
					res.status, res.msg = statusSkip, fmt.Sprintf("no TF32 on this device: %v", err)
					return res
				}
				return fail("SetTF32(%v): %v", want, err)
			}
			defer func() {
				if err := rp.tf32.SetTF32(rp.tf32Def); err != nil && res.status != statusError {
					res.status, res.msg = statusError, fmt.Sprintf("restoring SetTF32(%v): %v", rp.tf32Def, err)
				}
			}()
		}
	}

	devBufs := make([]kernels.Buffer, len(r.bufs))
	cpuBufs := make([]kernels.Buffer, len(r.bufs))
	defer func() {
		for _, b := range devBufs {
			if b != nil {
				if err := rp.dev.Free(b); err != nil && res.status != statusError {
					res.status, res.msg = statusError, "free: "+err.Error()
				}
			}
		}
	}()
	nf, ni := 0, 0
	for i, s := range r.bufs {
		var err error
		if devBufs[i], err = rp.dev.Alloc(s.dtype(), s.n); err != nil {
			return fail("alloc argument %d (%d × %v) on the device: %v", i, s.n, s.dtype(), err)
		}
		if cpuBufs[i], err = rp.cpu.Alloc(s.dtype(), s.n); err != nil {
			return fail("alloc argument %d on the CPU: %v", i, err)
		}
		if s.f != nil {
			h := grow(&rp.hostF, nf, s.n)
			nf++
			parallel(s.n, func(lo, hi int) { s.f(h[lo:hi], lo) })
			err = rp.dev.WriteF32(devBufs[i], h)
			if err == nil {
				err = rp.cpu.WriteF32(cpuBufs[i], h)
			}
		} else {
			h := grow(&rp.hostI, ni, s.n)
			ni++
			parallel(s.n, func(lo, hi int) { s.i(h[lo:hi], lo) })
			err = rp.dev.WriteI32(devBufs[i], h)
			if err == nil {
				err = rp.cpu.WriteI32(cpuBufs[i], h)
			}
		}
		if err != nil {
			return fail("writing argument %d: %v", i, err)
		}
	}

	// One checked call on each backend.
	if err := r.call(rp.dev, devBufs); err != nil {
		return fail("device: %v", err)
	}
	if err := rp.dev.Sync(); err != nil {
		return fail("device sync: %v", err)
	}
	if err := r.call(rp.cpu, cpuBufs); err != nil {
		return fail("cpu reference: %v", err)
	}
	if err := rp.cpu.Sync(); err != nil {
		return fail("cpu reference sync: %v", err)
	}
	for i, s := range r.bufs {
		if !s.out {
			continue
		}
		var c cmp
		if s.f != nil {
			rp.gotF, rp.wantF = resize(rp.gotF, s.n), resize(rp.wantF, s.n)
			if err := rp.dev.ReadF32(rp.gotF, devBufs[i]); err != nil {
				return fail("reading argument %d from the device: %v", i, err)
			}
			if err := rp.cpu.ReadF32(rp.wantF, cpuBufs[i]); err != nil {
				return fail("reading argument %d from the cpu: %v", i, err)
			}
			c = compareF32(rp.gotF, rp.wantF)
		} else {
			rp.gotI, rp.wantI = resize(rp.gotI, s.n), resize(rp.wantI, s.n)
			if err := rp.dev.ReadI32(rp.gotI, devBufs[i]); err != nil {
				return fail("reading argument %d from the device: %v", i, err)
			}
			if err := rp.cpu.ReadI32(rp.wantI, cpuBufs[i]); err != nil {
				return fail("reading argument %d from the cpu: %v", i, err)
			}
			c = compareI32(rp.gotI, rp.wantI)
		}
		res.maxAbs = max(res.maxAbs, c.abs)
		if c.where != "" && (res.worst == "" || c.err > res.maxErr) {
			res.maxErr, res.worst = c.err, fmt.Sprintf("argument %d%s", i, c.where)
		}
	}
	clear(cpuBufs) // the CPU reference's memory is the garbage collector's

	res.status = statusOK
	if res.maxErr > r.tol || math.IsNaN(res.maxErr) {
		res.status = statusFail
		res.msg = fmt.Sprintf("max err %.3g > tolerance %.3g at %s", res.maxErr, r.tol, res.worst)
	}

	// Timing: one warm-up call sizes the loop, then R calls between Syncs.
	t0 := time.Now()
	if err := r.call(rp.dev, devBufs); err != nil {
		return fail("device (warm-up): %v", err)
	}
	if err := rp.dev.Sync(); err != nil {
		return fail("device sync (warm-up): %v", err)
	}
	one := time.Since(t0)
	reps := maxReps
	if one > 0 {
		reps = int(min(max(math.Ceil(float64(timeTarget)/float64(one)), 1), maxReps))
	}
	t0 = time.Now()
	for range reps {
		if err := r.call(rp.dev, devBufs); err != nil {
			return fail("device (timed): %v", err)
		}
	}
	if err := rp.dev.Sync(); err != nil {
		return fail("device sync (timed): %v", err)
	}
	res.perCall = time.Since(t0) / time.Duration(reps)
	res.reps = reps
	return res
}

// grow returns (*pool)[i] with length n, allocating as needed.
func grow[T any](pool *[][]T, i, n int) []T {
	for len(*pool) <= i {
		*pool = append(*pool, nil)
	}
	(*pool)[i] = resize((*pool)[i], n)
	return (*pool)[i]
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// parallel runs f over [0, n) in chunks on every CPU.
func parallel(n int, f func(lo, hi int)) {
	const grain = 1 << 16
	workers := min(runtime.GOMAXPROCS(0), (n+grain-1)/grain)
	if workers <= 1 {
		f(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() { f(lo, min(lo+chunk, n)) })
	}
	wg.Wait()
}

// cmp is the comparison of one output buffer.
type cmp struct {
	abs, err float64
	where    string
}

// compareF32 computes max |got−want| and max |got−want|/max(|want|,
// rms(want)); a non-finite value that differs from the reference's counts
// as an infinite error.
func compareF32(got, want []float32) cmp {
	n := len(want)
	var mu sync.Mutex
	var ss float64
	parallel(n, func(lo, hi int) {
		var s float64
		for _, w := range want[lo:hi] {
			if !math.IsNaN(float64(w)) && !math.IsInf(float64(w), 0) {
				s += float64(w) * float64(w)
			}
		}
		mu.Lock()
		ss += s
		mu.Unlock()
	})
	floor := max(math.Sqrt(ss/float64(max(n, 1))), 1e-30)
	best := cmp{}
	worst := -1
	parallel(n, func(lo, hi int) {
		c, at := cmp{}, -1
		for i := lo; i < hi; i++ {
			g, w := float64(got[i]), float64(want[i])
			var d, e float64
			switch {
			case math.Float32bits(got[i]) == math.Float32bits(want[i]):
				continue
			case math.IsNaN(g) || math.IsNaN(w) || math.IsInf(g, 0) || math.IsInf(w, 0):
				d, e = math.Inf(1), math.Inf(1)
			default:
				d = math.Abs(g - w)
				e = d / max(math.Abs(w), floor)
			}
			c.abs = max(c.abs, d)
			if e > c.err || at < 0 {
				c.err, at = e, i
			}
		}
		mu.Lock()
		best.abs = max(best.abs, c.abs)
		if at >= 0 && (c.err > best.err || worst < 0 || (c.err == best.err && at < worst)) {
			best.err, worst = c.err, at
		}
		mu.Unlock()
	})
	if worst >= 0 {
		best.where = fmt.Sprintf("[%d]: got %g, want %g", worst, got[worst], want[worst])
	}
	return best
}

// compareI32 counts mismatches: err is the fraction of wrong elements.
func compareI32(got, want []int32) cmp {
	bad, first := 0, -1
	for i := range want {
		if got[i] != want[i] {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad == 0 {
		return cmp{}
	}
	return cmp{abs: float64(bad), err: float64(bad) / float64(len(want)),
		where: fmt.Sprintf(": %d of %d differ, first [%d]: got %d, want %d", bad, len(want), first, got[first], want[first])}
}

// finishReport prints the table (t.Log and stdout), writes the CSV and
// fails the test for every row that is not ok or skipped.
func finishReport(t *testing.T, header string, res []rowResult, path string) {
	var sb strings.Builder
	sb.WriteString(header + "\n")
	fmt.Fprintf(&sb, "%-21s | %-28s | %-8s | %-16s | %-6s | %s\n", "kernel", "size", "max err", "GB/s or TFLOP/s", "% peak", "status")
	fmt.Fprintf(&sb, "%s\n", strings.Repeat("-", 101))
	var csvRows [][]string
	csvRows = append(csvRows, []string{"kernel", "size", "precision", "status", "max_err", "max_abs_err", "tolerance",
		"time_us", "reps", "rate", "unit", "pct_peak", "message"})
	bad := 0
	for _, r := range res {
		v, unit, pct := r.rate()
		rate, pcts, errs := "-", "-", "-"
		if unit != "" {
			rate = fmt.Sprintf("%.4g %s", v, unit)
			pcts = fmt.Sprintf("%.1f%%", pct)
		}
		if r.status == statusOK || r.status == statusFail {
			errs = fmt.Sprintf("%.1e", r.maxErr)
		}
		status := r.status
		if r.msg != "" {
			status += ": " + r.msg
		}
		fmt.Fprintf(&sb, "%-21s | %-28s | %-8s | %-16s | %-6s | %s\n", r.row.kernel, r.row.size, errs, rate, pcts, status)
		csvRows = append(csvRows, []string{r.row.kernel, r.row.size, r.prec, r.status,
			fmt.Sprintf("%.3e", r.maxErr), fmt.Sprintf("%.3e", r.maxAbs), fmt.Sprintf("%g", r.row.tol),
			fmt.Sprintf("%.3f", float64(r.perCall.Nanoseconds())/1e3), strconv.Itoa(r.reps),
			fmt.Sprintf("%.4g", v), unit, fmt.Sprintf("%.2f", pct), r.msg})
		if r.status == statusFail || r.status == statusError {
			bad++
			t.Errorf("GPU report: %s %s: %s: %s", r.row.kernel, r.row.size, r.status, r.msg)
		}
	}
	fmt.Fprintf(&sb, "%d rows, %d failed or errored\n", len(res), bad)
	t.Log("\n" + sb.String())
	fmt.Print(sb.String())

	f, err := os.Create(path)
	if err != nil {
		t.Errorf("GPU report: writing the CSV: %v", err)
		return
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(csvRows); err != nil {
		t.Errorf("GPU report: writing %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("GPU report: closing %s: %v", path, err)
	}
}
