//go:build cuda

// This file is built with the cuda tag only: it implements driver with the
// CUDA driver API (gorgonia.org/cu, whose package init calls cuInit and
// exits the process when there is no GPU, so nothing else may import it)
// and cuBLAS (cublas_cuda.go, loaded with dlopen).
//
// Threading. A CUDA context is current per OS thread, and goroutines
// migrate between threads, so one goroutine per device, locked to its OS
// thread, owns everything: the device's primary context (shared with any
// CUDA runtime code in the process, cuBLAS's included), one non-blocking
// stream, the module loaded from the embedded fatbin, the cuBLAS handle
// bound to that stream, and a block of C memory for kernel arguments. Each
// driver method sends a request to it and waits for the reply; the request
// lives in the driver and is reused, so a call allocates nothing.
//
// Errors. Launches and GEMMs are asynchronous: a fault inside a kernel
// (an illegal address, say) shows at the next sync, and it is sticky: the
// context is unusable afterwards. Set GOTRAIN_CUDA_DEBUG=1 to synchronise
// and check after every launch and GEMM, so the error names the kernel.
//
// Environment:
//
//	GOTRAIN_CUDA_DEBUG=1  synchronise and check after every launch and GEMM
//	GOTRAIN_TF32=0        true fp32 GEMMs (default on sm_80+: TF32 tensor cores)
//	GOTRAIN_CUBLAS=path   the cuBLAS library to load (default: search
//	                      libcublas.so.13, .12, .11, libcublas.so)

package device

/*
#cgo CFLAGS: -I/usr/local/cuda/include
#cgo LDFLAGS: -L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -lcuda
#include <cuda.h>
#include <stdint.h>
#include <stdlib.h>

// gt_module_load loads a fatbin (or cubin or PTX) image, with the JIT's
// error and info logs written into the given C buffers.
static CUresult gt_module_load(CUmodule* mod, const void* image,
	char* errlog, unsigned int errlen, char* infolog, unsigned int infolen) {
	CUjit_option opts[4] = {
		CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
		CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
	};
	void* vals[4] = {
		errlog, (void*)(uintptr_t)errlen,
		infolog, (void*)(uintptr_t)infolen,
	};
	errlog[0] = 0;
	infolog[0] = 0;
	return cuModuleLoadDataEx(mod, image, 4, opts, vals);
}

static CUresult gt_launch(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
	unsigned int bx, unsigned int by, unsigned int bz, CUstream s, void** params) {
	return cuLaunchKernel(f, gx, gy, gz, bx, by, bz, 0, s, params, NULL);
}

// Host copies go through a pinned buffer owned by the driver (see
// cudaServer.stage), so no Go pointer is passed to C for them.
static CUresult gt_alloc_host(void** p, size_t bytes) { return cuMemAllocHost(p, bytes); }
static CUresult gt_free_host(void* p) { return cuMemFreeHost(p); }
static CUresult gt_htod(uint64_t dst, const void* src, size_t bytes, CUstream s) {
	return cuMemcpyHtoDAsync((CUdeviceptr)dst, src, bytes, s);
}
static CUresult gt_dtoh(void* dst, uint64_t src, size_t bytes, CUstream s) {
	return cuMemcpyDtoHAsync(dst, (CUdeviceptr)src, bytes, s);
}

static const char* gt_error_name(int r) {
	const char* s = NULL;
	if (cuGetErrorName((CUresult)r, &s) != CUDA_SUCCESS || s == NULL) return "CUDA_ERROR_UNKNOWN_CODE";
	return s;
}

static const char* gt_error_string(int r) {
	const char* s = NULL;
	if (cuGetErrorString((CUresult)r, &s) != CUDA_SUCCESS || s == NULL) return "unknown error";
	return s;
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/gotrain/gotrain/kernels"
)

// Environment variables read when a device is opened.
const (
	envCUDADebug = "GOTRAIN_CUDA_DEBUG"
	envTF32      = "GOTRAIN_TF32"
)

// fatbinMagic starts a fatbin file written by nvcc -fatbin (little-endian).
const fatbinMagic = 0xBA55ED50

type cudaOp uint8

const (
	opAlloc cudaOp = iota
	opFree
	opMemInfo
	opHtoD
	opDtoH
	opDtoD
	opFunction
	opLaunch
	opGemm
	opGemmBF16
	opSetTF32
	opSync
	opClose
)

// cudaRequest is one call to the goroutine that owns the context: the op,
// its operands and, on return, its results.
type cudaRequest struct {
	op          cudaOp
	bytes       int64
	dst, src    ptr
	host        unsafe.Pointer
	name        string
	fn          *cudaFunction
	grid, block dim3
	args        *args
	gemm        gemmArgs
	flag        bool

	p           ptr
	free, total int64
	fnOut       *cudaFunction
	err         error
}

// cudaFunction is a kernel of the loaded module.
type cudaFunction struct {
	name string
	f    C.CUfunction
}

func (f *cudaFunction) Name() string { return f.name }

// cudaDriver is the caller's side: it forwards each method to the owning
// goroutine. The mutex makes it safe to share, though package device uses
// a driver from one goroutine.
type cudaDriver struct {
	mu     sync.Mutex
	req    cudaRequest
	reqs   chan *cudaRequest
	done   chan struct{}
	closed bool

	desc  string
	inf   Info
	funcs map[string]*cudaFunction // cache of function lookups
}

var _ driver = (*cudaDriver)(nil)

// openDriver opens GPU ordinal: it starts the goroutine that owns the
// device and waits until it has loaded the kernels and cuBLAS.
func openDriver(ordinal int) (driver, error) {
	d := &cudaDriver{
		reqs:  make(chan *cudaRequest),
		done:  make(chan struct{}),
		funcs: make(map[string]*cudaFunction),
	}
	ready := make(chan error, 1)
	go serveCUDA(ordinal, d, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return d, nil
}

// start resets the request for op; it returns nil when the driver is closed.
// The caller holds d.mu.
func (d *cudaDriver) start(op cudaOp) *cudaRequest {
	if d.closed {
		return nil
	}
	d.req = cudaRequest{op: op}
	return &d.req
}

// roundTrip hands the request to the owning goroutine and waits for it.
func (d *cudaDriver) roundTrip() {
	d.reqs <- &d.req
	<-d.done
}

func errClosed(op string) error {
	return fmt.Errorf("device: %s: the CUDA driver is closed", op)
}

func (d *cudaDriver) name() string { return d.desc }
func (d *cudaDriver) info() Info   { return d.inf }

func (d *cudaDriver) alloc(bytes int64) (ptr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opAlloc)
	if r == nil {
		return 0, errClosed("alloc")
	}
	r.bytes = bytes
	d.roundTrip()
	return r.p, r.err
}

func (d *cudaDriver) free(p ptr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opFree)
	if r == nil {
		return errClosed("free")
	}
	r.dst = p
	d.roundTrip()
	return r.err
}

func (d *cudaDriver) memInfo() (free, total int64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opMemInfo)
	if r == nil {
		return 0, 0, errClosed("memInfo")
	}
	d.roundTrip()
	return r.free, r.total, r.err
}

func (d *cudaDriver) htod(dst ptr, src unsafe.Pointer, bytes int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opHtoD)
	if r == nil {
		return errClosed("htod")
	}
	r.dst, r.host, r.bytes = dst, src, bytes
	d.roundTrip()
	return r.err
}

func (d *cudaDriver) dtoh(dst unsafe.Pointer, src ptr, bytes int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opDtoH)
	if r == nil {
		return errClosed("dtoh")
	}
	r.host, r.src, r.bytes = dst, src, bytes
	d.roundTrip()
	return r.err
}

func (d *cudaDriver) dtod(dst, src ptr, bytes int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opDtoD)
	if r == nil {
		return errClosed("dtod")
	}
	r.dst, r.src, r.bytes = dst, src, bytes
	d.roundTrip()
	return r.err
}

func (d *cudaDriver) function(name string) (function, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, ok := d.funcs[name]; ok {
		return f, nil
	}
	r := d.start(opFunction)
	if r == nil {
		return nil, errClosed("function " + name)
	}
	r.name = name
	d.roundTrip()
	if r.err != nil {
		return nil, r.err
	}
	d.funcs[name] = r.fnOut
	return r.fnOut, nil
}

func (d *cudaDriver) launch(f function, grid, block dim3, a *args) error {
	cf, ok := f.(*cudaFunction)
	if !ok || cf == nil {
		return fmt.Errorf("device: launch %v: not a function of the CUDA driver", f)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opLaunch)
	if r == nil {
		return errClosed("launch " + cf.name)
	}
	r.fn, r.grid, r.block, r.args = cf, grid, block, a
	d.roundTrip()
	return r.err
}

func (d *cudaDriver) gemm(g gemmArgs) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opGemm)
	if r == nil {
		return errClosed("gemm")
	}
	r.gemm = g
	d.roundTrip()
	return r.err
}

// gemmBF16 queues g with A and B in bfloat16 (2 bytes an element; strides
// and leading dimensions in elements as for gemm) and fp32 accumulation; C
// is bfloat16 when cBF16, else float32. It is not part of driver yet: the
// Backend reaches it with a type assertion.
func (d *cudaDriver) gemmBF16(g gemmArgs, cBF16 bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opGemmBF16)
	if r == nil {
		return errClosed("gemm bf16")
	}
	r.gemm, r.flag = g, cBF16
	d.roundTrip()
	return r.err
}

// setTF32 switches single-precision GEMMs between TF32 tensor cores (the
// default on sm_80 and later unless GOTRAIN_TF32=0) and true fp32. It is
// not part of driver: the Backend reaches it with a type assertion.
func (d *cudaDriver) setTF32(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opSetTF32)
	if r == nil {
		return errClosed("setTF32")
	}
	r.flag = on
	d.roundTrip()
	return r.err
}

func (d *cudaDriver) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opSync)
	if r == nil {
		return errClosed("sync")
	}
	d.roundTrip()
	return r.err
}

func (d *cudaDriver) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.start(opClose)
	if r == nil {
		return nil
	}
	d.roundTrip()
	d.closed = true
	return r.err
}

// cudaServer is the state owned by the device's goroutine.
type cudaServer struct {
	ordinal      int
	dev          cu.Device
	ctx          cu.CUContext
	retained     bool
	stream       cu.Stream
	cstream      C.CUstream
	image        unsafe.Pointer // C copy of the fatbin, alive while mod is
	mod          C.CUmodule
	blas         *cublasLib
	handle       *cublasHandle
	params       unsafe.Pointer // C: maxArgs pointers, then maxArgs 8-byte slots
	stage        unsafe.Pointer // pinned host memory, stageBytes: every host copy goes through it
	major, minor int
	debug        bool
	tf32         bool
	lastQueued   string // the last kernel or GEMM queued, for sync's errors
}

// serveCUDA is the device's goroutine: it sets up the device, reports on
// ready, then serves d's requests until close.
func serveCUDA(ordinal int, d *cudaDriver, ready chan<- error) {
	runtime.LockOSThread()
	// Never unlocked: when this goroutine returns, its thread, which had
	// the context current, exits with it.
	s := &cudaServer{ordinal: ordinal}
	if err := s.open(d); err != nil {
		s.shutdown()
		ready <- err
		return
	}
	ready <- nil
	for r := range d.reqs {
		s.serve(r)
		d.done <- struct{}{}
		if r.op == opClose {
			return
		}
	}
}

func (s *cudaServer) open(d *cudaDriver) error {
	n, err := cu.NumDevices()
	if err != nil {
		return fmt.Errorf("device: count CUDA devices: %s", cuErr(err))
	}
	if s.ordinal < 0 || s.ordinal >= n {
		return fmt.Errorf("device: open CUDA device %d: the machine has %d (want 0 <= ordinal < %d)", s.ordinal, n, n)
	}
	if s.dev, err = cu.GetDevice(s.ordinal); err != nil {
		return fmt.Errorf("device: open CUDA device %d: %s", s.ordinal, cuErr(err))
	}
	name, err := s.dev.Name()
	if err != nil {
		return fmt.Errorf("device: CUDA device %d: name: %s", s.ordinal, cuErr(err))
	}
	if s.major, s.minor, err = s.dev.ComputeCapability(); err != nil {
		return fmt.Errorf("device: %s: compute capability: %v", name, err)
	}
	total, err := s.dev.TotalMem()
	if err != nil {
		return fmt.Errorf("device: %s: total memory: %s", name, cuErr(err))
	}
	d.desc = fmt.Sprintf("%s (sm_%d%d)", name, s.major, s.minor)

	if s.ctx, err = s.dev.RetainPrimaryCtx(); err != nil {
		return fmt.Errorf("device: %s: retain primary context: %s", d.desc, cuErr(err))
	}
	s.retained = true
	if err = cu.SetCurrentContext(s.ctx); err != nil {
		return fmt.Errorf("device: %s: make the primary context current: %s", d.desc, cuErr(err))
	}
	if s.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("device: %s: create stream: %s", d.desc, cuErr(err))
	}
	s.cstream = C.CUstream(unsafe.Pointer(s.stream.C()))

	if err = s.loadModule(d.desc); err != nil {
		return err
	}

	if s.blas, err = loadCUBLAS(); err != nil {
		return err
	}
	if s.handle, err = s.blas.newHandle(s.cstream); err != nil {
		return fmt.Errorf("%v (%s, %s)", err, d.desc, s.blas.path())
	}
	blasVersion, err := s.handle.version()
	if err != nil {
		return err
	}
	s.tf32 = s.major >= 8 && os.Getenv(envTF32) != "0"
	if err = s.handle.setTF32(s.tf32); err != nil {
		return err
	}
	s.debug = os.Getenv(envCUDADebug) == "1"

	// Kernel arguments: cuLaunchKernel takes an array of pointers, one to
	// each argument's value; both live in C memory, the pointers fixed.
	s.params = C.calloc(2*maxArgs, 8)
	if s.params == nil {
		return fmt.Errorf("device: %s: out of host memory", d.desc)
	}
	pp := unsafe.Slice((*unsafe.Pointer)(s.params), maxArgs)
	for i := range pp {
		pp[i] = unsafe.Add(s.params, 8*(maxArgs+i))
	}

	if res := C.gt_alloc_host(&s.stage, C.size_t(stageBytes)); res != C.CUDA_SUCCESS {
		s.stage = nil
		return fmt.Errorf("device: %s: allocate %d MiB of pinned host memory for copies: %s",
			d.desc, stageBytes>>20, cuResultString(int(res)))
	}

	v := cu.Version() // 12080 is 12.8
	d.inf = Info{
		Name:              name,
		ComputeCapability: [2]int{s.major, s.minor},
		MemoryBytes:       total,
		Driver:            fmt.Sprintf("%d.%d", v/1000, v%1000/10),
		CUBLAS:            fmt.Sprintf("cuBLAS %s (%s)", blasVersion, s.blas.path()),
	}
	return nil
}

// loadModule loads the embedded fatbin, with the JIT's log in the error.
func (s *cudaServer) loadModule(desc string) error {
	img := kernels.Fatbin
	if len(img) < 16 {
		return fmt.Errorf("device: the embedded kernels/gen_kernels.fatbin is %d bytes: rebuild it with `make kernels` (needs nvcc)", len(img))
	}
	if m := binary.LittleEndian.Uint32(img); m != fatbinMagic {
		return fmt.Errorf("device: the embedded kernels/gen_kernels.fatbin starts with %#x, not the fatbin magic %#x: rebuild it with `make kernels`", m, fatbinMagic)
	}
	// The driver reads the image during the load; a C copy keeps Go memory
	// out of its hands in any case, and lives as long as the module.
	s.image = C.CBytes(img)
	const logSize = 16 << 10
	errLog := (*C.char)(C.malloc(logSize))
	infoLog := (*C.char)(C.malloc(logSize))
	defer C.free(unsafe.Pointer(errLog))
	defer C.free(unsafe.Pointer(infoLog))
	res := C.gt_module_load(&s.mod, s.image, errLog, logSize, infoLog, logSize)
	if res != C.CUDA_SUCCESS {
		s.mod = nil
		msg := fmt.Sprintf("device: %s: load the kernels (%d-byte fatbin with SASS for sm_80, sm_86, sm_89, sm_90 and PTX for compute_90): %s",
			desc, len(img), cuResultString(int(res)))
		if l := strings.TrimSpace(C.GoString(errLog)); l != "" {
			msg += "\nJIT error log:\n" + l
		}
		if l := strings.TrimSpace(C.GoString(infoLog)); l != "" {
			msg += "\nJIT info log:\n" + l
		}
		if res == C.CUDA_ERROR_NO_BINARY_FOR_GPU || res == C.CUDA_ERROR_UNSUPPORTED_PTX_VERSION {
			msg += fmt.Sprintf("\nsm_%d%d needs SASS in the fatbin or a driver that can JIT its PTX; add -gencode for it in cuda.mk", s.major, s.minor)
		}
		return fmt.Errorf("%s", msg)
	}
	return nil
}

// shutdown releases whatever open set up, in reverse order, and returns
// the first error.
func (s *cudaServer) shutdown() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if s.cstream != nil {
		if err := s.stream.Synchronize(); err != nil {
			keep(fmt.Errorf("device: close: synchronise: %s", cuErr(err)))
		}
	}
	if s.handle != nil {
		keep(s.handle.destroy())
		s.handle = nil
	}
	if s.blas != nil {
		s.blas.close()
		s.blas = nil
	}
	if s.mod != nil {
		if res := C.cuModuleUnload(s.mod); res != C.CUDA_SUCCESS {
			keep(fmt.Errorf("device: close: unload the kernels: %s", cuResultString(int(res))))
		}
		s.mod = nil
	}
	if s.image != nil {
		C.free(s.image)
		s.image = nil
	}
	if s.cstream != nil {
		if err := s.stream.Destroy(); err != nil {
			keep(fmt.Errorf("device: close: destroy stream: %s", cuErr(err)))
		}
		s.cstream = nil
	}
	if s.params != nil {
		C.free(s.params)
		s.params = nil
	}
	if s.stage != nil {
		if res := C.gt_free_host(s.stage); res != C.CUDA_SUCCESS {
			keep(fmt.Errorf("device: close: free the pinned copy buffer: %s", cuResultString(int(res))))
		}
		s.stage = nil
	}
	if s.retained {
		if err := cu.SetCurrentContext(cu.CUContext{}); err != nil {
			keep(fmt.Errorf("device: close: unset the context: %s", cuErr(err)))
		}
		if err := s.dev.ReleasePrimaryCtx(); err != nil {
			keep(fmt.Errorf("device: close: release the primary context: %s", cuErr(err)))
		}
		s.retained = false
	}
	return first
}

// serve runs one request on the owning goroutine.
func (s *cudaServer) serve(r *cudaRequest) {
	switch r.op {
	case opAlloc:
		r.p, r.err = s.alloc(r.bytes)
	case opFree:
		if r.dst != 0 {
			if err := cu.MemFree(cu.DevicePtr(r.dst)); err != nil {
				r.err = fmt.Errorf("device: free %#x: %s", uintptr(r.dst), cuErr(err))
			}
		}
	case opMemInfo:
		var err error
		if r.free, r.total, err = cu.MemInfo(); err != nil {
			r.err = fmt.Errorf("device: memInfo: %s", cuErr(err))
		}
	case opHtoD:
		r.err = s.copyCheck("htod", r.bytes)
		if r.err == nil && r.bytes > 0 {
			r.err = s.htod(r.dst, r.host, r.bytes)
		}
	case opDtoH:
		r.err = s.copyCheck("dtoh", r.bytes)
		if r.err == nil && r.bytes > 0 {
			r.err = s.dtoh(r.host, r.src, r.bytes)
		}
	case opDtoD:
		r.err = s.copyCheck("dtod", r.bytes)
		if r.err == nil && r.bytes > 0 {
			if err := cu.MemcpyDtoDAsync(cu.DevicePtr(r.dst), cu.DevicePtr(r.src), r.bytes, s.stream); err != nil {
				r.err = fmt.Errorf("device: dtod %d bytes from %#x to %#x: %s", r.bytes, uintptr(r.src), uintptr(r.dst), cuErr(err))
			}
		}
	case opFunction:
		r.fnOut, r.err = s.function(r.name)
	case opLaunch:
		r.err = s.launch(r.fn, r.grid, r.block, r.args)
	case opGemm:
		s.lastQueued = "sgemm"
		r.err = s.handle.sgemm(r.gemm)
		if r.err == nil && s.debug {
			r.err = s.debugSync("sgemm")
		}
	case opGemmBF16:
		s.lastQueued = "gemm bf16"
		r.err = s.handle.gemmBF16(r.gemm, r.flag)
		if r.err == nil && s.debug {
			r.err = s.debugSync("gemm bf16")
		}
	case opSetTF32:
		if r.flag && s.major < 8 {
			r.err = fmt.Errorf("device: TF32 needs compute capability 8.0 or later; this GPU is sm_%d%d", s.major, s.minor)
		} else if r.err = s.handle.setTF32(r.flag); r.err == nil {
			s.tf32 = r.flag
		}
	case opSync:
		if err := s.stream.Synchronize(); err != nil {
			r.err = s.streamError("sync", err)
		}
	case opClose:
		r.err = s.shutdown()
	default:
		r.err = fmt.Errorf("device: unknown CUDA request %d", r.op)
	}
}

func (s *cudaServer) copyCheck(op string, bytes int64) error {
	if bytes < 0 {
		return fmt.Errorf("device: %s %d bytes: want a size >= 0", op, bytes)
	}
	return nil
}

// stageBytes is the size of the pinned buffer that host copies go through.
//
// Copies never hand the caller's Go memory to the driver: cgo forbids
// passing a pointer into Go memory that holds Go pointers (a float32
// field of a struct, say, fails the runtime's cgocheck), and the driver
// would stage pageable memory through its own pinned buffer anyway. Each
// chunk is copied between Go and the stage by Go, and between the stage
// and the device by the driver; the stream is synchronised before the
// stage is reused, so a copy returns with the caller's memory free to
// reuse (htod) or filled (dtoh), and ordered after the work queued before.
const stageBytes = 4 << 20

func (s *cudaServer) htod(dst ptr, src unsafe.Pointer, bytes int64) error {
	stage := unsafe.Slice((*byte)(s.stage), stageBytes)
	for off := int64(0); off < bytes; off += stageBytes {
		n := min(stageBytes, bytes-off)
		copy(stage[:n], unsafe.Slice((*byte)(unsafe.Add(src, off)), n))
		if res := C.gt_htod(C.uint64_t(uint64(dst)+uint64(off)), s.stage, C.size_t(n), s.cstream); res != C.CUDA_SUCCESS {
			return fmt.Errorf("device: htod %d bytes to %#x: %s", bytes, uintptr(dst), cuResultString(int(res)))
		}
		if err := s.stream.Synchronize(); err != nil {
			return s.streamError("htod", err)
		}
	}
	return nil
}

func (s *cudaServer) dtoh(dst unsafe.Pointer, src ptr, bytes int64) error {
	stage := unsafe.Slice((*byte)(s.stage), stageBytes)
	for off := int64(0); off < bytes; off += stageBytes {
		n := min(stageBytes, bytes-off)
		if res := C.gt_dtoh(s.stage, C.uint64_t(uint64(src)+uint64(off)), C.size_t(n), s.cstream); res != C.CUDA_SUCCESS {
			return fmt.Errorf("device: dtoh %d bytes from %#x: %s", bytes, uintptr(src), cuResultString(int(res)))
		}
		if err := s.stream.Synchronize(); err != nil {
			return s.streamError("dtoh", err)
		}
		copy(unsafe.Slice((*byte)(unsafe.Add(dst, off)), n), stage[:n])
	}
	return nil
}

func (s *cudaServer) alloc(bytes int64) (ptr, error) {
	if bytes <= 0 {
		return 0, fmt.Errorf("device: alloc %d bytes: want a size > 0", bytes)
	}
	p, err := cu.MemAlloc(bytes)
	if err != nil {
		free, total, ierr := cu.MemInfo()
		if ierr != nil {
			return 0, fmt.Errorf("device: alloc %d bytes (%.1f MiB): %s (free memory unknown: %s)",
				bytes, mib(bytes), cuErr(err), cuErr(ierr))
		}
		return 0, fmt.Errorf("device: alloc %d bytes (%.1f MiB): %s; the device has %.1f MiB free of %.1f MiB",
			bytes, mib(bytes), cuErr(err), mib(free), mib(total))
	}
	return ptr(p), nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func (s *cudaServer) function(name string) (*cudaFunction, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var f C.CUfunction
	if res := C.cuModuleGetFunction(&f, s.mod, cname); res != C.CUDA_SUCCESS {
		return nil, fmt.Errorf("device: kernel %q: %s (is it in kernels.cuh and compiled into kernels/gen_kernels.fatbin?)",
			name, cuResultString(int(res)))
	}
	return &cudaFunction{name: name, f: f}, nil
}

func (s *cudaServer) launch(f *cudaFunction, grid, block dim3, a *args) error {
	if a == nil {
		a = new(args) // a kernel without arguments; not on any hot path
	}
	// Copy the packed values into the C slots; the pointer array is fixed.
	slots := unsafe.Slice((*byte)(unsafe.Add(s.params, 8*maxArgs)), 8*maxArgs)
	copy(slots, a.buf[:8*a.n])
	res := C.gt_launch(f.f, C.uint(grid.X), C.uint(grid.Y), C.uint(grid.Z),
		C.uint(block.X), C.uint(block.Y), C.uint(block.Z), s.cstream, (*unsafe.Pointer)(s.params))
	if res != C.CUDA_SUCCESS {
		return fmt.Errorf("device: launch %s grid (%d,%d,%d) block (%d,%d,%d) with %d arguments: %s",
			f.name, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, a.n, cuResultString(int(res)))
	}
	s.lastQueued = f.name
	if s.debug {
		return s.debugSync(fmt.Sprintf("kernel %s grid (%d,%d,%d) block (%d,%d,%d)",
			f.name, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z))
	}
	return nil
}

// debugSync waits for the stream after what, in debug mode.
func (s *cudaServer) debugSync(what string) error {
	if err := s.stream.Synchronize(); err != nil {
		return fmt.Errorf("device: %s failed (%s=1 checked it at once): %s", what, envCUDADebug, cuErr(err))
	}
	return nil
}

// streamError reports an error raised by queued work.
func (s *cudaServer) streamError(op string, err error) error {
	hint := ""
	if !s.debug {
		hint = fmt.Sprintf("; set %s=1 to check after every launch", envCUDADebug)
	}
	last := s.lastQueued
	if last == "" {
		last = "none"
	}
	return fmt.Errorf("device: %s: queued work failed: %s (last queued: %s%s)", op, cuErr(err), last, hint)
}

// cuErr formats an error from gorgonia.org/cu, whose errors are CUresult
// codes, with CUDA's own name and description.
func cuErr(err error) string {
	v := reflect.ValueOf(err)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cuResultString(int(v.Int()))
	}
	return err.Error()
}

func cuResultString(r int) string {
	return fmt.Sprintf("%s: %s", C.GoString(C.gt_error_name(C.int(r))), C.GoString(C.gt_error_string(C.int(r))))
}
