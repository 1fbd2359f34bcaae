package kerneltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

const (
	// guard is the number of sentinel elements after the logical end of
	// every buffer the suite allocates; kernels must leave them untouched.
	guard = 5
	// sentinel is the value of the guard elements.
	sentinel = 12345
	// u is the unit roundoff of float32.
	u = 0x1p-24
	// maxReport is how many mismatches a comparison prints before it stops.
	maxReport = 10
)

// Sizes. The largest elementwise size is above the CPU pool's parallel grain
// (32768), so that multi-chunk paths run.
var (
	elemSizes = []int{1, 7, 1000, 100003}
	rowSizes  = [][2]int{{1, 1}, {3, 7}, {37, 129}, {128, 10}, {300, 1001}}
	gemmSizes = [][3]int{{1, 1, 1}, {7, 5, 3}, {33, 65, 17}, {64, 128, 96}, {129, 257, 67}, {1, 300, 17}, {65, 1, 130}}
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x853c49e6748fea9b)) }

// uniform returns n float32 values uniform in [lo, hi).
func uniform(r *rand.Rand, n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return x
}

// normal returns n float32 values ~ N(0, std²).
func normal(r *rand.Rand, n int, std float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(std * r.NormFloat64())
	}
	return x
}

// awayFromZero moves values closer to 0 than eps out to ±eps, so that finite
// differences never straddle a kink.
func awayFromZero(x []float32, eps float32) {
	for i, v := range x {
		if v >= 0 && v < eps {
			x[i] = eps
		} else if v < 0 && v > -eps {
			x[i] = -eps
		}
	}
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// harness allocates guarded buffers on the backend under test, runs kernels
// and reads results back.
type harness struct {
	t *testing.T
	b kernels.Backend
}

func newHarness(t *testing.T, b kernels.Backend) *harness {
	t.Helper()
	if b == nil {
		t.Fatal("nil backend")
	}
	return &harness{t: t, b: b}
}

func (h *harness) alloc(dt kernels.DType, n int) kernels.Buffer {
	h.t.Helper()
	buf, err := h.b.Alloc(dt, n)
	if err != nil {
		h.t.Fatalf("alloc %v[%d]: %v", dt, n, err)
	}
	if buf.Len() != n || buf.DType() != dt {
		h.t.Fatalf("alloc %v[%d] returned %v[%d]", dt, n, buf.DType(), buf.Len())
	}
	h.t.Cleanup(func() { _ = h.b.Free(buf) })
	return buf
}

// in returns a buffer holding x followed by guard sentinels.
func (h *harness) in(x []float32) kernels.Buffer {
	h.t.Helper()
	buf := h.alloc(kernels.F32, len(x)+guard)
	h.write(buf, x)
	return buf
}

// write stores x and guard sentinels into buf (which has len(x)+guard elements).
func (h *harness) write(buf kernels.Buffer, x []float32) {
	h.t.Helper()
	host := make([]float32, len(x)+guard)
	copy(host, x)
	for i := len(x); i < len(host); i++ {
		host[i] = sentinel
	}
	if err := h.b.WriteF32(buf, host); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

// out returns an output buffer of n elements poisoned with NaN, followed by
// guard sentinels: an element the kernel does not write stays NaN.
func (h *harness) out(n int) kernels.Buffer {
	h.t.Helper()
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.NaN())
	}
	return h.in(x)
}

// inI32 returns an int32 buffer holding x followed by guard sentinels.
func (h *harness) inI32(x []int32) kernels.Buffer {
	h.t.Helper()
	buf := h.alloc(kernels.I32, len(x)+guard)
	host := make([]int32, len(x)+guard)
	copy(host, x)
	for i := len(x); i < len(host); i++ {
		host[i] = sentinel
	}
	if err := h.b.WriteI32(buf, host); err != nil {
		h.t.Fatalf("write int32: %v", err)
	}
	return buf
}

// read returns the logical contents of a buffer from in or out (all but the
// guard) after checking that the guard is intact.
func (h *harness) read(what string, buf kernels.Buffer) []float32 {
	h.t.Helper()
	host := make([]float32, buf.Len())
	if err := h.b.ReadF32(host, buf); err != nil {
		h.t.Fatalf("%s: read: %v", what, err)
	}
	n := len(host) - guard
	for i := n; i < len(host); i++ {
		if host[i] != sentinel {
			h.t.Errorf("%s: guard element %d (logical length %d) = %v, want it untouched (%v)", what, i, n, host[i], float32(sentinel))
			break
		}
	}
	return host[:n]
}

// readI32 is read for int32 buffers.
func (h *harness) readI32(what string, buf kernels.Buffer) []int32 {
	h.t.Helper()
	host := make([]int32, buf.Len())
	if err := h.b.ReadI32(host, buf); err != nil {
		h.t.Fatalf("%s: read int32: %v", what, err)
	}
	n := len(host) - guard
	for i := n; i < len(host); i++ {
		if host[i] != sentinel {
			h.t.Errorf("%s: guard element %d (logical length %d) = %v, want it untouched (%v)", what, i, n, host[i], sentinel)
			break
		}
	}
	return host[:n]
}

// run calls a kernel, turning a panic into a failure, and fails the test
// now if it or the following Sync returns an error.
func (h *harness) run(what string, f func() error) {
	h.t.Helper()
	if err := catch(f); err != nil {
		h.t.Fatalf("%s: %v", what, err)
	}
	if err := h.b.Sync(); err != nil {
		h.t.Fatalf("%s: sync: %v", what, err)
	}
}

// panicError is a panic caught by catch.
type panicError struct {
	v     any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", e.v, e.stack) }

// catch calls f and reports a panic as a *panicError.
func catch(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{r, debug.Stack()}
		}
	}()
	return f()
}

// compare checks |got[i] - want[i]| <= tol(i) for every i. A NaN want
// requires a NaN got; an infinite want requires the same infinity. It prints
// the first mismatches (at most maxReport) and returns whether all matched.
func compare(t *testing.T, what string, got []float32, want []float64, tol func(i int) float64) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d elements, want %d", what, len(got), len(want))
		return false
	}
	bad := 0
	for i := range want {
		g, w := float64(got[i]), want[i]
		var ok bool
		switch {
		case math.IsNaN(w):
			ok = math.IsNaN(g)
		case math.IsInf(w, 0):
			ok = g == w
		default:
			ok = !math.IsNaN(g) && !math.IsInf(g, 0) && math.Abs(g-w) <= tol(i)
		}
		if ok {
			continue
		}
		if bad < maxReport {
			t.Errorf("%s[%d] = %.9g, want %.9g (diff %.3g, tol %.3g)", what, i, g, w, math.Abs(g-w), tol(i))
		}
		bad++
	}
	if bad > maxReport {
		t.Errorf("%s: %d of %d elements mismatched (first %d shown)", what, bad, len(want), maxReport)
	}
	return bad == 0
}

// compareAR compares with tolerance atol + rtol·|want|.
func compareAR(t *testing.T, what string, got []float32, want []float64, atol, rtol float64) bool {
	t.Helper()
	return compare(t, what, got, want, func(i int) float64 { return atol + rtol*math.Abs(want[i]) })
}

// compareExact requires got to equal want exactly (NaN matches NaN).
func compareExact(t *testing.T, what string, got []float32, want []float32) bool {
	t.Helper()
	return compare(t, what, got, to64(want), func(int) float64 { return 0 })
}

// compareAccum checks a backward kernel's accumulation: got must be
// prefill + contrib, with tolerance atol + rtol·|contrib| plus the rounding
// of the float32 sum.
func compareAccum(t *testing.T, what string, got, prefill []float32, contrib []float64, atol, rtol float64) bool {
	t.Helper()
	want := make([]float64, len(contrib))
	for i := range want {
		want[i] = float64(prefill[i]) + contrib[i]
	}
	return compare(t, what, got, want, func(i int) float64 {
		return atol + rtol*math.Abs(contrib[i]) + 2*u*(math.Abs(float64(prefill[i]))+math.Abs(contrib[i]))
	})
}

// sumTol is the tolerance of a float32 sum of terms (in this order) against
// its float64 value: a few times the typical error of a naive float32 sum,
// u·√n·max|partial sum|, so that sequential, chunked and tree reductions all
// pass while a lost or doubled chunk does not.
func sumTol(terms []float64) float64 {
	var s, m float64
	for _, v := range terms {
		s += v
		m = max(m, math.Abs(s))
	}
	return 1e-5 + 6*u*(math.Sqrt(float64(len(terms)))+1)*m
}

// fdIndices picks the coordinates of an n-vector to check by finite
// differences: all of them when n <= 64, otherwise the first, the last and
// random others, 64 in all. skip, if not nil, excludes coordinates (kinks).
func fdIndices(r *rand.Rand, n int, skip func(i int) bool) []int {
	var idx []int
	add := func(i int) {
		if skip == nil || !skip(i) {
			idx = append(idx, i)
		}
	}
	if n <= 64 {
		for i := 0; i < n; i++ {
			add(i)
		}
		return idx
	}
	add(0)
	add(n - 1)
	for _, i := range r.Perm(n - 2)[:62] {
		add(i + 1)
	}
	return idx
}

// checkFD compares the gradient contributions grad (what the backend added
// to a pre-filled gradient buffer, as float64) with central differences of a
// float64 loss at the coordinates idx. loss(i, v) is the loss, or any part of
// it that contains every term depending on coordinate i, with coordinate i set
// to v and all others at x.
func checkFD(t *testing.T, what string, x, grad []float64, idx []int, loss func(i int, v float64) float64, atol, rtol float64) bool {
	t.Helper()
	bad := 0
	for _, i := range idx {
		h := 1e-6 * max(1, math.Abs(x[i]))
		fd := (loss(i, x[i]+h) - loss(i, x[i]-h)) / (2 * h)
		g := grad[i]
		if !math.IsNaN(g) && math.Abs(g-fd) <= atol+rtol*math.Abs(fd) {
			continue
		}
		if bad < maxReport {
			t.Errorf("%s: gradient[%d] = %.9g, finite difference %.9g (diff %.3g)", what, i, g, fd, math.Abs(g-fd))
		}
		bad++
	}
	if bad > maxReport {
		t.Errorf("%s: %d of %d finite-difference checks failed (first %d shown)", what, bad, len(idx), maxReport)
	}
	return bad == 0
}

// contribution returns got - prefill in float64: what a backward kernel added.
func contribution(got, prefill []float32) []float64 {
	c := make([]float64, len(got))
	for i := range got {
		c[i] = float64(got[i]) - float64(prefill[i])
	}
	return c
}

func nans(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = math.NaN()
	}
	return x
}
