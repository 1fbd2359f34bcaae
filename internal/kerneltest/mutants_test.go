package kerneltest

import (
	"math"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/kernels"
)

// The suite tests itself: TestMutants runs it on backends with injected bugs
// and requires the tests concerned to fail. Each mutant runs in a child
// process (the test binary, with mutantEnv set), since a failing subtest
// cannot be contained in-process.

const mutantEnv = "KERNELTEST_MUTANT"

// mutant is a backend with one targeted bug.
type mutant struct {
	*cpufallback.Backend
	mode string
}

func hostF(b kernels.Buffer) []float32 { return b.(*cpufallback.Buffer).F }

func (m mutant) CrossEntropyForward(losses, probs, logits, labels kernels.Buffer, rows, cols int) error {
	err := m.Backend.CrossEntropyForward(losses, probs, logits, labels, rows, cols)
	if err == nil && m.mode == "ce-probs" {
		hostF(probs)[rows*cols-1] += 1e-4
	}
	return err
}

func (m mutant) DropoutForward(y, mask, x kernels.Buffer, p float32, seed uint64, n int) error {
	if m.mode == "dropout-seed" {
		seed++
	}
	err := m.Backend.DropoutForward(y, mask, x, p, seed, n)
	if err == nil && m.mode == "dropout-mask" && n > 1 {
		hostF(mask)[n-1] = 1 - hostF(mask)[n-1]
	}
	return err
}

func (m mutant) AdamUpdate(param, grad, mm, v kernels.Buffer, h kernels.AdamParams, n int) error {
	switch m.mode {
	case "adam-v":
		err := m.Backend.AdamUpdate(param, grad, mm, v, h, n)
		hostF(v)[n-1] *= 1.001
		return err
	case "adam-no-bias-correction":
		h.Step = 1 << 20
	}
	return m.Backend.AdamUpdate(param, grad, mm, v, h, n)
}

func (m mutant) AdamWUpdate(param, grad, mm, v kernels.Buffer, h kernels.AdamParams, n int) error {
	if m.mode == "adamw-coupled" {
		return m.Backend.AdamUpdate(param, grad, mm, v, h, n)
	}
	return m.Backend.AdamWUpdate(param, grad, mm, v, h, n)
}

func (m mutant) MatMul(c, a, b kernels.Buffer, p kernels.MatMulParams) error {
	switch {
	case m.mode == "matmul-reads-c" && p.Beta == 0:
		p.Beta = 1e-30 // NaN in C propagates
	case m.mode == "matmul-ignores-trans" && p.TransA:
		p.TransA = false
		if p.M != p.K {
			return nil
		}
	}
	return m.Backend.MatMul(c, a, b, p)
}

func (m mutant) SoftmaxForward(y, x kernels.Buffer, rows, cols int) error {
	if m.mode != "softmax-no-max" {
		return m.Backend.SoftmaxForward(y, x, rows, cols)
	}
	X, Y := hostF(x), hostF(y)
	for r := 0; r < rows; r++ {
		var s float32
		for c := 0; c < cols; c++ {
			s += float32(math.Exp(float64(X[r*cols+c])))
		}
		for c := 0; c < cols; c++ {
			Y[r*cols+c] = float32(math.Exp(float64(X[r*cols+c]))) / s
		}
	}
	return nil
}

func (m mutant) ArgMax(out, x kernels.Buffer, rows, cols int) error {
	if m.mode != "argmax-last" {
		return m.Backend.ArgMax(out, x, rows, cols)
	}
	X, O := hostF(x), out.(*cpufallback.Buffer).I
	for r := 0; r < rows; r++ {
		best := 0
		for c := 1; c < cols; c++ {
			if X[r*cols+c] >= X[r*cols+best] {
				best = c
			}
		}
		O[r] = int32(best)
	}
	return nil
}

func (m mutant) L1Backward(dw, dout, w kernels.Buffer, lambda float32, n int) error {
	if m.mode != "l1-sign0" {
		return m.Backend.L1Backward(dw, dout, w, lambda, n)
	}
	W, D, DO := hostF(w), hostF(dw), hostF(dout)
	for i := 0; i < n; i++ {
		s := float32(1)
		if W[i] < 0 {
			s = -1
		}
		D[i] += DO[0] * lambda * s
	}
	return nil
}

func (m mutant) TanhBackward(dx, dy, y kernels.Buffer, n int) error {
	if m.mode == "tanh-overwrites" {
		if err := m.Backend.Fill(dx, 0, n); err != nil {
			return err
		}
	}
	return m.Backend.TanhBackward(dx, dy, y, n)
}

func (m mutant) GELUBackward(dx, dy, x kernels.Buffer, n int) error {
	if m.mode != "gelu-1pct" {
		return m.Backend.GELUBackward(dx, dy, x, n)
	}
	// 1% too large a gradient: dx += 1.01·(the right contribution).
	tmp := &cpufallback.Buffer{F: make([]float32, n)}
	if err := m.Backend.GELUBackward(tmp, dy, x, n); err != nil {
		return err
	}
	return m.Backend.Axpy(dx, 1.01, tmp, n)
}

func (m mutant) SGDUpdate(param, grad, vel kernels.Buffer, h kernels.SGDParams, n int) error {
	if m.mode == "sgd-no-nesterov" {
		h.Nesterov = false
	}
	return m.Backend.SGDUpdate(param, grad, vel, h, n)
}

func (m mutant) SumForward(y, x kernels.Buffer, n int) error {
	if m.mode == "sum-drops-last" && n > 1 {
		n--
	}
	return m.Backend.SumForward(y, x, n)
}

func (m mutant) ClipByGlobalNorm(x, sumSq kernels.Buffer, maxNorm float32, n int) error {
	if m.mode == "clip-always" {
		S := hostF(sumSq)[0]
		return m.Backend.Scale(x, x, maxNorm/(float32(math.Sqrt(float64(S)))+1e-6), n)
	}
	return m.Backend.ClipByGlobalNorm(x, sumSq, maxNorm, n)
}

// mutants maps each mode to the tests that must fail under it (nil: every
// test but BadInputs, for the corrupter's modes).
var mutants = map[string][]string{
	"last":                    nil,
	"guard":                   nil,
	"skip":                    nil,
	"ce-probs":                {"CrossEntropyForward"},
	"dropout-seed":            {"DropoutForward"},
	"dropout-mask":            {"DropoutForward"},
	"adam-v":                  {"AdamUpdate"},
	"adam-no-bias-correction": {"AdamUpdate"},
	"adamw-coupled":           {"AdamWUpdate"},
	"matmul-reads-c":          {"MatMul"},
	"matmul-ignores-trans":    {"MatMul", "MatMulBackward"},
	"softmax-no-max":          {"SoftmaxForward"},
	"argmax-last":             {"ArgMax"},
	"l1-sign0":                {"L1Backward"},
	"tanh-overwrites":         {"TanhBackward"},
	"gelu-1pct":               {"GELUBackward"},
	"sgd-no-nesterov":         {"SGDUpdate"},
	"sum-drops-last":          {"SumForward"},
	"clip-always":             {"ClipByGlobalNorm"},
}

func mutantBackend(mode string) (kernels.Backend, []string) {
	want, ok := mutants[mode]
	if !ok {
		return nil, nil
	}
	if want != nil {
		return mutant{cpufallback.New(0), mode}, want
	}
	for _, tc := range All() {
		if tc.Name != "BadInputs" || mode == "skip" {
			want = append(want, tc.Name)
		}
	}
	return corrupter{cpufallback.New(0), mode}, want
}

var subtestResult = regexp.MustCompile(`--- (PASS|FAIL|SKIP): TestMutants/(\S+)`)

func TestMutants(t *testing.T) {
	if mode := os.Getenv(mutantEnv); mode != "" {
		// Child: run the tests concerned on the mutant; they should fail.
		b, names := mutantBackend(mode)
		if b == nil {
			t.Fatalf("unknown mutant %q", mode)
		}
		for _, name := range names {
			for _, tc := range All() {
				if tc.Name == name {
					t.Run(name, func(t *testing.T) { tc.Fn(t, b) })
				}
			}
		}
		return
	}
	if testing.Short() {
		t.Skip("mutation tests of the suite skipped in -short mode")
	}
	for mode := range mutants {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			_, names := mutantBackend(mode)
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutants$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), mutantEnv+"="+mode)
			out, _ := cmd.CombinedOutput()
			result := map[string]string{}
			for _, m := range subtestResult.FindAllStringSubmatch(string(out), -1) {
				result[m[2]] = m[1]
			}
			for _, name := range names {
				if result[name] != "FAIL" {
					t.Errorf("mutant %q: %s did not fail (result %q)", mode, name, result[name])
				}
			}
			if t.Failed() {
				t.Logf("child output:\n%s", out)
			}
		})
	}
}
