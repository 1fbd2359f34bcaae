// Package kerneltest is the shared test suite of the kernel contract in
// package kernels, in the manner of gonum's testblas: one exported function
// per kernel, taking a *testing.T and the kernels.Backend under test, so that
// the pure-Go backend, an emulated CUDA backend and a real GPU backend all run
// the same checks.
//
// Every kernel is compared with a float64 reference computed in the test from
// the contract's loop, at several sizes including odd ones and one above the
// CPU pool's parallel grain. Forward outputs are poisoned with NaN before the
// kernel runs, and every buffer carries guard elements after its logical end
// that must come back untouched. Backward kernels accumulate, so their
// gradient buffers are pre-filled with random values; each is also checked
// against central finite differences of the float64 reference forward.
//
// A backend's test file runs the suite with one line per kernel:
//
//	func TestGELUForward(t *testing.T) { kerneltest.GELUForward(t, cpufallback.New(0)) }
//
// or all of it with Run(t, b).
//
// Tolerances assume true float32 arithmetic: a GEMM may differ from the
// float64 reference by at most twice the worst-case rounding of a float32 dot
// product (so TF32 or half-precision tensor-core math fails), elementwise
// transcendentals by about 1e-5 relative, reductions by a few times the
// typical rounding of a float32 sum of that length. Seeds are fixed, so a
// failure reproduces.
//
// TestMutants (in this package) runs the suite against deliberately broken
// copies of the pure-Go backend and requires it to fail, so that a check
// cannot silently become vacuous.
package kerneltest

import (
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// Test is one test of the suite: Fn checks the kernel Name on a backend.
type Test struct {
	Name string
	Fn   func(t *testing.T, b kernels.Backend)
}

// All returns every test of the suite, in the order of the contract.
func All() []Test {
	return []Test{
		{"Fill", Fill},
		{"Copy", Copy},
		{"Axpy", Axpy},
		{"MatMul", MatMul},
		{"MatMulBackward", MatMulBackward},
		{"BiasAdd", BiasAdd},
		{"BiasAddBackward", BiasAddBackward},
		{"Add", Add},
		{"AddBackward", AddBackward},
		{"Mul", Mul},
		{"MulBackward", MulBackward},
		{"Scale", Scale},
		{"ScaleBackward", ScaleBackward},
		{"ReLUForward", ReLUForward},
		{"ReLUBackward", ReLUBackward},
		{"GELUForward", GELUForward},
		{"GELUBackward", GELUBackward},
		{"TanhForward", TanhForward},
		{"TanhBackward", TanhBackward},
		{"SigmoidForward", SigmoidForward},
		{"SigmoidBackward", SigmoidBackward},
		{"SoftmaxForward", SoftmaxForward},
		{"SoftmaxBackward", SoftmaxBackward},
		{"CrossEntropyForward", CrossEntropyForward},
		{"CrossEntropyBackward", CrossEntropyBackward},
		{"MSEForward", MSEForward},
		{"MSEBackward", MSEBackward},
		{"SumForward", SumForward},
		{"SumBackward", SumBackward},
		{"MeanForward", MeanForward},
		{"MeanBackward", MeanBackward},
		{"ArgMax", ArgMax},
		{"DropoutForward", DropoutForward},
		{"DropoutBackward", DropoutBackward},
		{"L1Forward", L1Forward},
		{"L1Backward", L1Backward},
		{"L2Forward", L2Forward},
		{"L2Backward", L2Backward},
		{"SumSquares", SumSquares},
		{"ClipByGlobalNorm", ClipByGlobalNorm},
		{"SGDUpdate", SGDUpdate},
		{"AdamUpdate", AdamUpdate},
		{"AdamWUpdate", AdamWUpdate},
		{"BadInputs", BadInputs},
	}
}

// Run runs every test of the suite as a subtest on b. The tests share b one
// after another (a Backend is used from one goroutine at a time).
func Run(t *testing.T, b kernels.Backend) {
	for _, tc := range All() {
		t.Run(tc.Name, func(t *testing.T) { tc.Fn(t, b) })
	}
}
