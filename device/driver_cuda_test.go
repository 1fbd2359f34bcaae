//go:build cuda

// Tests of the real CUDA driver (tag cuda; they need a GPU, and the test
// binary exits at start without one, in gorgonia.org/cu's init): memory and
// copies, every kernel of the fatbin by name, launches, and cuBLAS GEMMs in
// fp32, TF32 and bf16 against a float64 reference.
//
// TestCUDAReport (only with GOTRAIN_GPU_REPORT=1) measures each kernel's
// bandwidth and each GEMM's throughput on large sizes, checks each against
// cpufallback (kernels) or float64 (GEMMs) on a smaller odd size, and
// prints one "GPUTABLE|kernel|max err|rate|unit|% of peak" line per row for
// gpu-bundle/run.sh.

package device

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// cudaKernelNames is the X-macro list of kernels.cuh: every one must be in
// the fatbin.
var cudaKernelNames = []string{
	"fill_f32", "copy_f32", "axpy_f32",
	"bias_add_f32", "bias_add_backward_f32",
	"add_f32", "add_backward_f32", "mul_f32", "mul_backward_f32",
	"scale_f32", "scale_backward_f32",
	"relu_forward_f32", "relu_backward_f32", "gelu_forward_f32",
	"gelu_backward_f32", "tanh_forward_f32", "tanh_backward_f32",
	"sigmoid_forward_f32", "sigmoid_backward_f32",
	"softmax_forward_f32", "softmax_backward_f32",
	"cross_entropy_forward_f32", "cross_entropy_backward_f32",
	"mse_backward_f32", "scalar_backward_f32", "argmax_f32",
	"dropout_forward_f32", "dropout_backward_f32",
	"l1_backward_f32", "l2_backward_f32", "clip_by_global_norm_f32",
	"sgd_update_f32", "adam_update_f32",
	"reduce_partials_f32", "reduce_finish_f32",
}

// cudaT wraps a driver for tests: every failure is fatal, every allocation
// freed at the end.
type cudaT struct {
	t     testing.TB
	d     *cudaDriver
	owned []ptr
	a     args
}

func newCUDAT(t testing.TB) *cudaT {
	t.Helper()
	dr, err := openDriver(0)
	if err != nil {
		t.Fatal(err)
	}
	c := &cudaT{t: t, d: dr.(*cudaDriver)}
	t.Cleanup(func() {
		for _, p := range c.owned {
			if err := c.d.free(p); err != nil {
				t.Error(err)
			}
		}
		if err := c.d.close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func (c *cudaT) must(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *cudaT) alloc(bytes int64) ptr {
	c.t.Helper()
	p, err := c.d.alloc(bytes)
	c.must(err)
	c.owned = append(c.owned, p)
	return p
}

func (c *cudaT) release(p ptr) {
	c.t.Helper()
	for i, q := range c.owned {
		if q == p {
			c.owned = append(c.owned[:i], c.owned[i+1:]...)
			c.must(c.d.free(p))
			return
		}
	}
}

func (c *cudaT) upload(x []float32) ptr {
	c.t.Helper()
	p := c.alloc(int64(4 * max(len(x), 1)))
	if len(x) > 0 {
		c.must(c.d.htod(p, unsafe.Pointer(&x[0]), int64(4*len(x))))
	}
	return p
}

func (c *cudaT) uploadI32(x []int32) ptr {
	c.t.Helper()
	p := c.alloc(int64(4 * max(len(x), 1)))
	if len(x) > 0 {
		c.must(c.d.htod(p, unsafe.Pointer(&x[0]), int64(4*len(x))))
	}
	return p
}

func (c *cudaT) uploadU16(x []uint16) ptr {
	c.t.Helper()
	p := c.alloc(int64(2 * max(len(x), 1)))
	if len(x) > 0 {
		c.must(c.d.htod(p, unsafe.Pointer(&x[0]), int64(2*len(x))))
	}
	return p
}

func (c *cudaT) download(p ptr, n int) []float32 {
	c.t.Helper()
	x := make([]float32, n)
	if n > 0 {
		c.must(c.d.dtoh(unsafe.Pointer(&x[0]), p, int64(4*n)))
	}
	return x
}

func (c *cudaT) downloadU16(p ptr, n int) []uint16 {
	c.t.Helper()
	x := make([]uint16, n)
	if n > 0 {
		c.must(c.d.dtoh(unsafe.Pointer(&x[0]), p, int64(2*n)))
	}
	return x
}

func (c *cudaT) fn(name string) function {
	c.t.Helper()
	f, err := c.d.function(name)
	c.must(err)
	return f
}

// Launch shapes of kernels.cuh, for these tests: ELEMENTWISE with a float4
// per thread, ROWS with 8 rows a block.
func tElemGrid(n int) dim3    { return dim3{uint32(max(1, (n+1023)/1024)), 1, 1} }
func tRowsGrid(rows int) dim3 { return dim3{uint32(max(1, (rows+7)/8)), 1, 1} }

var block256 = dim3{256, 1, 1}

func randF32(r *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * scale
	}
	return x
}

func TestCUDADriverBasics(t *testing.T) {
	c := newCUDAT(t)
	inf := c.d.info()
	t.Logf("%s: %+v", c.d.name(), inf)
	if inf.Name == "" || inf.MemoryBytes <= 0 || inf.Driver == "" || !strings.Contains(inf.CUBLAS, "libcublas") {
		t.Errorf("info() = %+v: want a name, memory, driver version and the cuBLAS library", inf)
	}
	free, total, err := c.d.memInfo()
	c.must(err)
	if free <= 0 || free > total || total != inf.MemoryBytes {
		t.Errorf("memInfo() = %d free, %d total; info says %d: want 0 < free <= total = info's", free, total, inf.MemoryBytes)
	}

	// Every kernel of kernels.cuh is in the fatbin; a missing one is an error.
	for _, name := range cudaKernelNames {
		f := c.fn(name)
		if f.Name() != name {
			t.Errorf("function(%q).Name() = %q", name, f.Name())
		}
	}
	if _, err := c.d.function("no_such_kernel_f32"); err == nil || !strings.Contains(err.Error(), "no_such_kernel_f32") {
		t.Errorf("function(no_such_kernel_f32) = %v: want an error naming it", err)
	}

	// Allocation errors name the request and the free memory.
	if _, err := c.d.alloc(1 << 50); err == nil || !strings.Contains(err.Error(), "MiB free of") {
		t.Errorf("alloc(1 PiB) = %v: want an error with the free and total memory", err)
	}
	if _, err := c.d.alloc(0); err == nil {
		t.Errorf("alloc(0) succeeded: want an error")
	}

	// Copies: host -> device -> device -> host, at an odd size.
	r := rand.New(rand.NewPCG(1, 2))
	const n = 1<<20 + 37
	x := randF32(r, n, 1)
	p := c.upload(x)
	q := c.alloc(4 * n)
	c.must(c.d.dtod(q, p, 4*n))
	if got := c.download(q, n); !cudaEqualF32(got, x) {
		t.Errorf("htod/dtod/dtoh round trip of %d floats changed the data", n)
	}

	// Launches: fill, then copy, through the argument packing.
	fill, cp := c.fn("fill_f32"), c.fn("copy_f32")
	c.must(c.d.launch(fill, tElemGrid(n), block256, c.a.reset().p(p).f(1.5).i(n)))
	c.must(c.d.launch(cp, tElemGrid(n), block256, c.a.reset().p(q).p(p).i(n)))
	c.must(c.d.sync())
	for i, v := range c.download(q, n) {
		if v != 1.5 {
			t.Fatalf("fill_f32(1.5) then copy_f32: element %d = %g", i, v)
		}
	}

	// A bad launch configuration is an error naming the kernel.
	err = c.d.launch(fill, dim3{1, 1, 1}, dim3{2048, 1, 1}, c.a.reset().p(p).f(0).i(n))
	if err == nil || !strings.Contains(err.Error(), "fill_f32") {
		t.Errorf("launch with 2048 threads a block = %v: want an error naming fill_f32", err)
	}
	c.must(c.d.sync())
}

func cudaEqualF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// gemmCase is one column-major GEMM of the tests.
type gemmCase struct {
	m, n, k        int
	transA, transB bool
	batch          int
	alpha, beta    float32
}

func (g gemmCase) String() string {
	return fmt.Sprintf("m=%d n=%d k=%d tA=%v tB=%v batch=%d alpha=%g beta=%g", g.m, g.n, g.k, g.transA, g.transB, g.batch, g.alpha, g.beta)
}

// dims returns the stored shapes (rows, cols) of A and B, column-major.
func (g gemmCase) dims() (ar, ac, br, bc int) {
	ar, ac = g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc = g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	return
}

// cudaGemmRef computes C = alpha·op(A)·op(B) + beta·C in float64 for one batch,
// and the bound on fp32 rounding: sum over l of |alpha·a·b| plus |beta·c|.
func cudaGemmRef(g gemmCase, a, b, c []float32) (ref, mag []float64) {
	ar, _, br, _ := g.dims()
	ref = make([]float64, g.m*g.n)
	mag = make([]float64, g.m*g.n)
	for j := 0; j < g.n; j++ {
		for i := 0; i < g.m; i++ {
			var s, sa float64
			for l := 0; l < g.k; l++ {
				var av, bv float64
				if g.transA {
					av = float64(a[i*ar+l])
				} else {
					av = float64(a[l*ar+i])
				}
				if g.transB {
					bv = float64(b[l*br+j])
				} else {
					bv = float64(b[j*br+l])
				}
				s += av * bv
				sa += math.Abs(av * bv)
			}
			cv := 0.0
			if g.beta != 0 {
				cv = float64(c[j*g.m+i])
			}
			ref[j*g.m+i] = float64(g.alpha)*s + float64(g.beta)*cv
			mag[j*g.m+i] = math.Abs(float64(g.alpha))*sa + math.Abs(float64(g.beta)*cv)
		}
	}
	return ref, mag
}

// runGemm runs g on the GPU with inputs from r and checks each element
// against float64: |got - ref| <= relTol·mag + 1e-30. bf16 rounds A and B
// to bfloat16 first (the reference uses the rounded values) and cBF16 makes
// C bfloat16. It returns the largest |got - ref| / max(1, |ref|).
func runGemm(c *cudaT, r *rand.Rand, g gemmCase, bf16, cBF16 bool, relTol float64) float64 {
	c.t.Helper()
	ar, ac, br, bc := g.dims()
	sa, sb, sc := ar*ac, br*bc, g.m*g.n
	a := randF32(r, sa*g.batch, 1)
	b := randF32(r, sb*g.batch, 1)
	cc := randF32(r, sc*g.batch, 1)
	if g.beta == 0 {
		for i := range cc {
			cc[i] = float32(math.NaN()) // beta = 0: C must not be read
		}
	}
	var pa, pb, pc ptr
	if bf16 {
		for i := range a {
			a[i] = roundBF16(a[i])
		}
		for i := range b {
			b[i] = roundBF16(b[i])
		}
		pa, pb = c.uploadU16(toBF16(a)), c.uploadU16(toBF16(b))
	} else {
		pa, pb = c.upload(a), c.upload(b)
	}
	if cBF16 {
		for i := range cc {
			cc[i] = roundBF16(cc[i])
		}
		pc = c.uploadU16(toBF16(cc))
	} else {
		pc = c.upload(cc)
	}
	ga := gemmArgs{
		transA: g.transA, transB: g.transB, m: g.m, n: g.n, k: g.k,
		alpha: g.alpha, beta: g.beta, a: pa, b: pb, c: pc,
		lda: ar, ldb: br, ldc: g.m,
		strideA: int64(sa), strideB: int64(sb), strideC: int64(sc), batch: g.batch,
	}
	if bf16 {
		c.must(c.d.gemmBF16(ga, cBF16))
	} else {
		c.must(c.d.gemm(ga))
	}
	c.must(c.d.sync())
	var got []float32
	if cBF16 {
		got = fromBF16(c.downloadU16(pc, sc*g.batch))
	} else {
		got = c.download(pc, sc*g.batch)
	}
	c.release(pa)
	c.release(pb)
	c.release(pc)
	worst, bad := 0.0, 0
	for bt := 0; bt < g.batch; bt++ {
		ref, mag := cudaGemmRef(g, a[bt*sa:(bt+1)*sa], b[bt*sb:(bt+1)*sb], cc[bt*sc:(bt+1)*sc])
		for i := range ref {
			gv := float64(got[bt*sc+i])
			d := math.Abs(gv - ref[i])
			tol := relTol*mag[i] + 1e-30
			if cBF16 {
				tol += math.Abs(ref[i]) * 0x1p-8 // the final rounding to bf16
			}
			if !(d <= tol) {
				if bad++; bad <= 5 {
					c.t.Errorf("gemm %v bf16=%v: batch %d element (%d,%d) = %g, want %g (|diff| %.3g > tol %.3g)",
						g, bf16, bt, i%g.m, i/g.m, gv, ref[i], d, tol)
				}
			}
			worst = math.Max(worst, d/math.Max(1, math.Abs(ref[i])))
		}
	}
	if bad > 5 {
		c.t.Errorf("gemm %v: %d elements out of tolerance in all", g, bad)
	}
	return worst
}

// roundBF16 rounds x to the nearest bfloat16 (ties to even), as float32.
func roundBF16(x float32) float32 {
	u := math.Float32bits(x)
	u += 0x7FFF + (u>>16)&1
	return math.Float32frombits(u &^ 0xFFFF)
}

func toBF16(x []float32) []uint16 {
	h := make([]uint16, len(x))
	for i, v := range x {
		h[i] = uint16(math.Float32bits(roundBF16(v)) >> 16)
	}
	return h
}

func fromBF16(h []uint16) []float32 {
	x := make([]float32, len(h))
	for i, v := range h {
		x[i] = math.Float32frombits(uint32(v) << 16)
	}
	return x
}

var gemmCases = []gemmCase{
	{m: 1, n: 1, k: 1, batch: 1, alpha: 1},
	{m: 17, n: 33, k: 65, batch: 1, alpha: 1},
	{m: 64, n: 48, k: 129, transA: true, batch: 1, alpha: 1},
	{m: 127, n: 5, k: 300, transB: true, batch: 3, alpha: 1, beta: 1},
	{m: 31, n: 77, k: 19, transA: true, transB: true, batch: 2, alpha: 0.5, beta: 1.5},
	{m: 256, n: 256, k: 1024, batch: 1, alpha: 1},
}

// u32 is the unit roundoff of float32.
const u32 = 0x1p-24

func TestCUDAGemmFP32(t *testing.T) {
	c := newCUDAT(t)
	c.must(c.d.setTF32(false))
	r := rand.New(rand.NewPCG(3, 4))
	for _, g := range gemmCases {
		// fp32 accumulation: |error| <= (k+2)·u·sum|a·b| (+|beta·c|), doubled.
		runGemm(c, r, g, false, false, 2*float64(g.k+2)*u32)
	}
}

// TestCUDAGemmTF32Switch checks that setTF32 really switches: with A =
// 1+2^-12 (exact in fp32, 1 in TF32) and B = 2^-8, every product and every
// partial sum is exact in fp32 (multiples of 2^-20 below 8), so fp32 gives
// exactly k·2^-8·(1+2^-12) = 4+2^-10 and TF32 tensor cores give 4.
func TestCUDAGemmTF32Switch(t *testing.T) {
	c := newCUDAT(t)
	const m, k = 512, 1024
	a := make([]float32, m*k)
	b := make([]float32, k*m)
	for i := range a {
		a[i], b[i] = 1+0x1p-12, 0x1p-8
	}
	pa, pb, pc := c.upload(a), c.upload(b), c.alloc(4*m*m)
	g := gemmArgs{m: m, n: m, k: k, alpha: 1, a: pa, b: pb, c: pc, lda: m, ldb: k, ldc: m, batch: 1}
	run := func(tf32 bool) (exact, rounded int) {
		c.must(c.d.setTF32(tf32))
		c.must(c.d.gemm(g))
		c.must(c.d.sync())
		for _, v := range c.download(pc, m*m) {
			switch v {
			case 4 + 0x1p-10:
				exact++
			case 4:
				rounded++
			}
		}
		return
	}
	if exact, _ := run(false); exact != m*m {
		t.Errorf("fp32 GEMM: %d of %d elements exact (4+2^-10): want all", exact, m*m)
	}
	cc := c.d.info().ComputeCapability
	if cc[0] < 8 {
		if err := c.d.setTF32(true); err == nil {
			t.Errorf("setTF32(true) on sm_%d%d: want an error", cc[0], cc[1])
		}
		return
	}
	_, rounded := run(true)
	t.Logf("TF32 on: %d of %d elements show TF32 rounding", rounded, m*m)
	if rounded != m*m {
		t.Errorf("TF32 GEMM: %d of %d elements rounded as TF32 does: want all (is TF32 math mode on?)", rounded, m*m)
	}
	c.must(c.d.setTF32(false))
}

func TestCUDAGemmTF32(t *testing.T) {
	c := newCUDAT(t)
	if c.d.info().ComputeCapability[0] < 8 {
		t.Skip("TF32 needs sm_80 or later")
	}
	c.must(c.d.setTF32(true))
	r := rand.New(rand.NewPCG(5, 6))
	for _, g := range gemmCases {
		// TF32 keeps 10 mantissa bits of each input (2^-10 relative if
		// truncated, 2^-11 if rounded), so a product is off by up to about
		// 2^-9; allow 2^-8, plus fp32 accumulation.
		runGemm(c, r, g, false, false, 0x1p-8+2*float64(g.k+2)*u32)
	}
}

func TestCUDAGemmBF16(t *testing.T) {
	c := newCUDAT(t)
	r := rand.New(rand.NewPCG(7, 8))
	for _, g := range gemmCases {
		// Products of bf16 values are exact in fp32; only the fp32
		// accumulation rounds.
		runGemm(c, r, g, true, false, 2*float64(g.k+2)*u32)
		runGemm(c, r, g, true, true, 2*float64(g.k+2)*u32)
	}
}

func TestCUDAGemmErrors(t *testing.T) {
	c := newCUDAT(t)
	p := c.alloc(4 * 64)
	err := c.d.gemm(gemmArgs{m: 8, n: 8, k: 8, alpha: 1, a: p, b: p, c: p, lda: 2, ldb: 8, ldc: 8, batch: 1})
	if err == nil || !strings.Contains(err.Error(), "lda=2") {
		t.Errorf("gemm with lda=2 < m=8 = %v: want an error naming the sizes", err)
	}
	if err := c.d.gemm(gemmArgs{m: 8, n: 8, k: 8, lda: 8, ldb: 8, ldc: 8, batch: 0}); err == nil {
		t.Errorf("gemm with batch=0: want an error")
	}
	c.must(c.d.sync())
}
