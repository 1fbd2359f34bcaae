package device

import (
	"errors"
	"fmt"
	"math"
	"os"
	"unsafe"

	"github.com/gotrain/gotrain/kernels"
)

// ErrNoCUDA is returned by Open in a build without GPU support.
var ErrNoCUDA = errors.New("device: this gotrain was built without CUDA support; build with -tags cuda (needs the CUDA toolkit's headers and libcuda) to use an NVIDIA GPU, or -tags cudaemu to run the CUDA kernels on the CPU")

// Buffer is device memory: an allocation or a view of one.
type Buffer struct {
	p     ptr
	n     int
	dt    kernels.DType
	owner bool // returned by Alloc (not a view)
}

// DType implements kernels.Buffer.
func (b *Buffer) DType() kernels.DType { return b.dt }

// Len implements kernels.Buffer.
func (b *Buffer) Len() int { return b.n }

// Backend runs the kernels contract on one device. Like a CUDA stream, it is
// used from one goroutine; kernels run asynchronously and in order, and
// Sync reports their errors.
type Backend struct {
	d        driver
	alloc    *allocator
	fn       map[string]function
	a        args
	partials ptr // reduce_partials_f32 output, maxPartials floats
	debug    bool
	label    string
}

var _ kernels.Backend = (*Backend)(nil)

// Launch shapes (kernels/kernels.cuh).
const (
	blockSize     = 256
	rowsPerBlock  = blockSize / 32
	maxGrid       = 65535
	maxPartials   = 1024
	finishThreads = 1024
)

// Open returns a backend on device ordinal (0 for the first GPU). Without
// GPU support it returns ErrNoCUDA.
func Open(ordinal int) (*Backend, error) {
	d, err := openDriver(ordinal)
	if err != nil {
		return nil, err
	}
	b := &Backend{d: d, alloc: newAllocator(d), fn: map[string]function{}, debug: os.Getenv("GOTRAIN_CUDA_DEBUG") != ""}
	b.label = "cuda:" + fmt.Sprint(ordinal)
	if i := d.info(); i.Emulated {
		b.label = "cudaemu"
	}
	for _, name := range append(kernelNames, transformerKernelNames...) {
		f, err := d.function(name)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("device: loading kernel %s: %w", name, err)
		}
		b.fn[name] = f
	}
	if b.partials, err = b.alloc.alloc(maxPartials * 4); err != nil {
		d.close()
		return nil, err
	}
	return b, nil
}

// kernelNames are the kernels Open loads (GOTRAIN_KERNELS in kernels.cuh).
var kernelNames = []string{
	"fill_f32", "copy_f32", "axpy_f32", "bias_add_f32", "bias_add_backward_f32",
	"add_f32", "add_backward_f32", "mul_f32", "mul_backward_f32", "scale_f32", "scale_backward_f32",
	"relu_forward_f32", "relu_backward_f32", "gelu_forward_f32", "gelu_backward_f32",
	"tanh_forward_f32", "tanh_backward_f32", "sigmoid_forward_f32", "sigmoid_backward_f32",
	"softmax_forward_f32", "softmax_backward_f32", "cross_entropy_forward_f32", "cross_entropy_backward_f32",
	"mse_backward_f32", "scalar_backward_f32", "argmax_f32", "dropout_forward_f32", "dropout_backward_f32",
	"l1_backward_f32", "l2_backward_f32", "clip_by_global_norm_f32", "sgd_update_f32", "adam_update_f32",
	"reduce_partials_f32", "reduce_finish_f32",
}

// Name implements kernels.Backend.
func (b *Backend) Name() string { return b.label }

// Info describes the device.
func (b *Backend) Info() Info { return b.d.info() }

// Stats returns the allocator's counters.
func (b *Backend) Stats() Stats { return b.alloc.stats }

// SetPlannedPeak records a graph's planned peak memory, quoted by
// out-of-memory errors.
func (b *Backend) SetPlannedPeak(bytes int64) { b.alloc.planned = bytes }

// Close releases the device.
func (b *Backend) Close() error {
	b.alloc.release()
	return b.d.close()
}

// Alloc implements kernels.Backend.
func (b *Backend) Alloc(dt kernels.DType, n int) (kernels.Buffer, error) {
	if n < 0 || dt.Size() == 0 {
		return nil, fmt.Errorf("device: alloc %d elements of %v: invalid request", n, dt)
	}
	p, err := b.alloc.alloc(int64(max(n, 1) * dt.Size()))
	if err != nil {
		return nil, err
	}
	return &Buffer{p: p, n: n, dt: dt, owner: true}, nil
}

// View implements kernels.Backend.
func (b *Backend) View(buf kernels.Buffer, off, n int) (kernels.Buffer, error) {
	d, ok := buf.(*Buffer)
	if !ok || d == nil {
		return nil, fmt.Errorf("device: view of %T: not a device buffer", buf)
	}
	if off < 0 || n < 0 || off+n > d.n {
		return nil, fmt.Errorf("device: view [%d:%d] of a %d-element buffer: out of range", off, off+n, d.n)
	}
	return &Buffer{p: d.p + ptr(off*d.dt.Size()), n: n, dt: d.dt}, nil
}

// Free implements kernels.Backend.
func (b *Backend) Free(buf kernels.Buffer) error {
	d, ok := buf.(*Buffer)
	if !ok || d == nil || !d.owner {
		return fmt.Errorf("device: free of %T: not an allocation of this backend", buf)
	}
	d.owner = false
	return b.alloc.freeBlock(d.p)
}

func (b *Backend) buffer(op, what string, buf kernels.Buffer, n int, dt kernels.DType) (ptr, error) {
	var err error
	if dt == kernels.I32 {
		err = kernels.CheckI32(op, what, buf, n)
	} else {
		err = kernels.CheckF32(op, what, buf, n)
	}
	if err != nil {
		return 0, err
	}
	d, ok := buf.(*Buffer)
	if !ok {
		return 0, fmt.Errorf("%s: %s is a %T, not a device buffer", op, what, buf)
	}
	return d.p, nil
}

// f32 checks a float32 argument and returns its address.
func (b *Backend) f32(op, what string, buf kernels.Buffer, n int) (ptr, error) {
	return b.buffer(op, what, buf, n, kernels.F32)
}

// opt is f32 for an optional gradient: nil gives address 0.
func (b *Backend) opt(op, what string, buf kernels.Buffer, n int) (ptr, error) {
	if buf == nil {
		return 0, nil
	}
	if d, ok := buf.(*Buffer); ok && d == nil {
		return 0, nil
	}
	return b.f32(op, what, buf, n)
}

// WriteF32 implements kernels.Backend.
func (b *Backend) WriteF32(dst kernels.Buffer, src []float32) error {
	p, err := b.f32("write", "dst", dst, len(src))
	if err != nil || len(src) == 0 {
		return err
	}
	return b.d.htod(p, unsafe.Pointer(&src[0]), int64(4*len(src)))
}

// WriteI32 implements kernels.Backend.
func (b *Backend) WriteI32(dst kernels.Buffer, src []int32) error {
	p, err := b.buffer("write", "dst", dst, len(src), kernels.I32)
	if err != nil || len(src) == 0 {
		return err
	}
	return b.d.htod(p, unsafe.Pointer(&src[0]), int64(4*len(src)))
}

// ReadF32 implements kernels.Backend.
func (b *Backend) ReadF32(dst []float32, src kernels.Buffer) error {
	p, err := b.f32("read", "src", src, len(dst))
	if err != nil || len(dst) == 0 {
		return err
	}
	return b.d.dtoh(unsafe.Pointer(&dst[0]), p, int64(4*len(dst)))
}

// ReadI32 implements kernels.Backend.
func (b *Backend) ReadI32(dst []int32, src kernels.Buffer) error {
	p, err := b.buffer("read", "src", src, len(dst), kernels.I32)
	if err != nil || len(dst) == 0 {
		return err
	}
	return b.d.dtoh(unsafe.Pointer(&dst[0]), p, int64(4*len(dst)))
}

// Sync implements kernels.Backend.
func (b *Backend) Sync() error { return b.d.sync() }

// launch queues kernel name on grid blocks of blockSize threads with the
// arguments packed in b.a; in debug mode it waits and checks at once.
func (b *Backend) launch(op, name string, grid int, block int) error {
	if grid <= 0 {
		return nil
	}
	err := b.d.launch(b.fn[name], dim3{uint32(grid), 1, 1}, dim3{uint32(block), 1, 1}, &b.a)
	if err == nil && b.debug {
		err = b.d.sync()
	}
	if err != nil {
		return fmt.Errorf("%s: kernel %s<<<%d, %d>>>: %w", op, name, grid, block, err)
	}
	return nil
}

// Launch shapes of kernels.cuh.
func elementwiseGrid(n int) int { return min((n+4*blockSize-1)/(4*blockSize), maxGrid) }
func rowsGrid(rows int) int     { return min((rows+rowsPerBlock-1)/rowsPerBlock, maxGrid) }
func columnsGrid(cols int) int  { return min((cols+blockSize-1)/blockSize, maxGrid) }

func (b *Backend) elementwise(op, name string, n int) error {
	return b.launch(op, name, elementwiseGrid(n), blockSize)
}

// reduce computes out[0] = (accumulate ? out[0] : 0) + scale·Σ mode(x, t)
// with the two REDUCE kernels.
func (b *Backend) reduce(op string, out, x, t ptr, n, mode int, scale float32, accumulate bool) error {
	g := min(max((n+8*blockSize-1)/(8*blockSize), 1), maxPartials)
	b.a.reset().p(b.partials).p(x).p(t).i(n).i(mode)
	if err := b.launch(op, "reduce_partials_f32", g, blockSize); err != nil {
		return err
	}
	acc := 0
	if accumulate {
		acc = 1
	}
	b.a.reset().p(out).p(b.partials).i(g).f(scale).i(acc)
	return b.launch(op, "reduce_finish_f32", 1, finishThreads)
}

// rowDims checks a rows×cols shape.
func rowDims(op string, rows, cols int) (int, error) {
	if rows < 0 || cols < 0 || (cols > 0 && rows > math.MaxInt32/cols) {
		return 0, fmt.Errorf("%s: rows=%d cols=%d: want non-negative dimensions whose product fits in an int32: %w", op, rows, cols, kernels.ErrShape)
	}
	return rows * cols, nil
}

// size checks an element count for a kernel taking a C int.
func size(op string, n int) error {
	if n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("%s: n=%d: want 0 <= n <= %d: %w", op, n, math.MaxInt32, kernels.ErrShape)
	}
	return nil
}

// SetTF32 switches the GEMMs between TF32 tensor cores (the default on
// Ampere and later) and true fp32. The emulated device always computes in
// fp32 and reports an error when asked for TF32.
func (b *Backend) SetTF32(on bool) error {
	if s, ok := b.d.(interface{ setTF32(bool) error }); ok {
		return s.setTF32(on)
	}
	if on {
		return fmt.Errorf("device: %s has no TF32 mode", b.d.name())
	}
	return nil
}
