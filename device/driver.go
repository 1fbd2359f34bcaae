package device

import (
	"math"
	"unsafe"
)

// ptr is a device address. On the emulated device it is a host address.
type ptr uintptr

// dim3 is a CUDA launch dimension.
type dim3 struct{ X, Y, Z uint32 }

// function is a loaded kernel, as the driver names it.
type function interface{ Name() string }

// gemmArgs is one cuBLAS-style strided-batched SGEMM in column-major terms:
// for each batch b, C_b = alpha·op(A_b)·op(B_b) + beta·C_b with op(A_b)
// m×k, op(B_b) k×n, C_b m×n (leading dimension ldc), A_b at a + b·strideA
// (elements), and so on. transA/transB say op is a transpose. When beta is
// 0, C is not read. TF32 and BF16 are the real driver's business; the
// emulator computes in float32 with a float64-free reference loop.
type gemmArgs struct {
	transA, transB            bool
	m, n, k                   int
	alpha, beta               float32
	a, b, c                   ptr
	lda, ldb, ldc             int
	strideA, strideB, strideC int64
	batch                     int
}

// driver is what package device needs from CUDA: memory, copies, kernel
// launches on one stream, a GEMM, and synchronisation. driver_cuda.go
// implements it with the CUDA driver API and cuBLAS (build tag cuda),
// driver_emu.go with the CUDA-on-CPU emulator (tag cudaemu), and
// driver_none.go not at all (ErrNoCUDA). Everything above it in package
// device is shared by all three. A driver is used from one goroutine; the
// real one forwards each call to the goroutine that owns its context.
type driver interface {
	// name describes the device: "NVIDIA H200 (sm_90)", "cudaemu".
	name() string
	// info describes the device for `gotrain info`.
	info() Info
	// alloc and free device memory; alloc returns an error mentioning
	// the request and free/total memory when it fails.
	alloc(bytes int64) (ptr, error)
	free(p ptr) error
	// memInfo returns free and total device memory in bytes.
	memInfo() (free, total int64, err error)
	// htod, dtoh and dtod copy bytes, ordered with launches on the stream.
	htod(dst ptr, src unsafe.Pointer, bytes int64) error
	dtoh(dst unsafe.Pointer, src ptr, bytes int64) error
	dtod(dst, src ptr, bytes int64) error
	// function looks up a kernel of the embedded module by name.
	function(name string) (function, error)
	// launch queues a kernel on the stream with the packed arguments. The
	// driver copies them (into C memory, with an array of pointers to each
	// slot, as cuLaunchKernel takes them) before returning, so a may be
	// reused at once.
	launch(f function, grid, block dim3, a *args) error
	// gemm queues a column-major SGEMM on the stream.
	gemm(g gemmArgs) error
	// sync waits for the stream and returns the first error it raised.
	sync() error
	// close releases the context, streams and handles.
	close() error
}

// Info describes a device.
type Info struct {
	Name              string
	ComputeCapability [2]int
	MemoryBytes       int64
	Driver            string // driver version, "12.8"
	CUBLAS            string // cuBLAS library and version
	Emulated          bool
}

// maxArgs bounds the arguments of one kernel.
const maxArgs = 16

// args packs a kernel's arguments: argument i is stored little-endian at
// the start of the 8-byte slot buf[8i:8i+8] (every argument of our kernels
// is a pointer, an int, a float or an unsigned long long). Packing into a
// plain byte array keeps Go pointers out of what is handed to C.
type args struct {
	buf [8 * maxArgs]byte
	n   int
}

func (a *args) reset() *args {
	a.n = 0
	return a
}

func (a *args) slot() []byte {
	if a.n >= maxArgs {
		panic("device: more than maxArgs kernel arguments") // a programming error in this package
	}
	s := a.buf[8*a.n : 8*a.n+8]
	clear(s)
	a.n++
	return s
}

// p appends a device pointer.
func (a *args) p(v ptr) *args {
	putU64(a.slot(), uint64(v))
	return a
}

// i appends a C int (32 bits).
func (a *args) i(v int) *args {
	putU32(a.slot(), uint32(int32(v)))
	return a
}

// f appends a float.
func (a *args) f(v float32) *args {
	putU32(a.slot(), math.Float32bits(v))
	return a
}

// u64 appends an unsigned long long.
func (a *args) u64(v uint64) *args {
	putU64(a.slot(), v)
	return a
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func putU64(b []byte, v uint64) {
	putU32(b, uint32(v))
	putU32(b[4:], uint32(v>>32))
}
