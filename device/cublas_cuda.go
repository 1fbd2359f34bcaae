//go:build cuda

// This file is built with the cuda tag only. It is a thin binding of the
// few cuBLAS functions gotrain calls, loaded at run time with dlopen: the
// library exports versioned symbols (cublasCreate_v2@@libcublas.so.11), so
// a binary linked with -lcublas against one major version cannot load
// another. Loading by name and looking up each function with dlsym lets one
// binary built against CUDA 11.8 use libcublas.so.11, .12 or .13, whichever
// the machine has. The signatures and enum values used here are the same in
// all three, so no cuBLAS header is needed: the function pointer types below
// restate them with plain C types (enums are ints in the C ABI).

package device

/*
#cgo CFLAGS: -D_GNU_SOURCE
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cuda.h>

// cublasHandle_t is an opaque pointer; cublasStatus_t and every enum are ints.
typedef void* gt_handle;
typedef int (*gt_create_t)(gt_handle*);
typedef int (*gt_destroy_t)(gt_handle);
typedef int (*gt_set_stream_t)(gt_handle, CUstream);
typedef int (*gt_set_math_mode_t)(gt_handle, int);
typedef int (*gt_get_version_t)(gt_handle, int*);
typedef int (*gt_sgemm_t)(gt_handle, int, int, int, int, int,
	const float*, const float*, int, const float*, int,
	const float*, float*, int);
typedef int (*gt_sgemm_strided_batched_t)(gt_handle, int, int, int, int, int,
	const float*, const float*, int, long long, const float*, int, long long,
	const float*, float*, int, long long, int);
typedef int (*gt_gemm_ex_t)(gt_handle, int, int, int, int, int,
	const void*, const void*, int, int, const void*, int, int,
	const void*, void*, int, int, int, int);
typedef int (*gt_gemm_strided_batched_ex_t)(gt_handle, int, int, int, int, int,
	const void*, const void*, int, int, long long, const void*, int, int, long long,
	const void*, void*, int, int, long long, int, int, int);

typedef struct {
	void* lib;
	gt_create_t create;
	gt_destroy_t destroy;
	gt_set_stream_t set_stream;
	gt_set_math_mode_t set_math_mode;
	gt_get_version_t get_version;
	gt_sgemm_t sgemm;
	gt_sgemm_strided_batched_t sgemm_strided_batched;
	gt_gemm_ex_t gemm_ex;
	gt_gemm_strided_batched_ex_t gemm_strided_batched_ex;
	char path[1024];
	char err[2048];
} gt_cublas;

static int gt_sym(gt_cublas* b, void** dst, const char* name) {
	dlerror();
	*dst = dlsym(b->lib, name);
	if (*dst == NULL) {
		const char* e = dlerror();
		snprintf(b->err, sizeof b->err, "dlsym %s in %s: %s", name, b->path, e ? e : "not found");
		return -1;
	}
	return 0;
}

// gt_cublas_open loads cuBLAS: first the file named by override (if not
// empty), else the first of libcublas.so.13, .12, .11 and libcublas.so that
// dlopen finds; then every function. It returns 0, or -1 with b->err set.
static int gt_cublas_open(gt_cublas* b, const char* override) {
	static const char* names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"};
	memset(b, 0, sizeof *b);
	size_t used = 0;
	const char* opened = NULL;
	if (override != NULL && override[0] != 0) {
		b->lib = dlopen(override, RTLD_NOW | RTLD_LOCAL);
		if (b->lib == NULL) {
			const char* e = dlerror();
			snprintf(b->err, sizeof b->err, "dlopen %s: %s", override, e ? e : "failed");
			return -1;
		}
		opened = override;
	} else {
		for (size_t i = 0; i < sizeof names / sizeof names[0] && b->lib == NULL; i++) {
			b->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
			if (b->lib != NULL) {
				opened = names[i];
			} else if (used < sizeof b->err) {
				const char* e = dlerror();
				int w = snprintf(b->err + used, sizeof b->err - used, "%s%s", used ? "; " : "", e ? e : names[i]);
				if (w > 0) used += (size_t)w;
			}
		}
		if (b->lib == NULL) return -1;
		b->err[0] = 0;
	}
	snprintf(b->path, sizeof b->path, "%s", opened);
	if (gt_sym(b, (void**)&b->create, "cublasCreate_v2") != 0) return -1;
	// The full path of the file the loader picked.
	Dl_info info;
	if (dladdr((void*)b->create, &info) != 0 && info.dli_fname != NULL) {
		snprintf(b->path, sizeof b->path, "%s", info.dli_fname);
	}
	if (gt_sym(b, (void**)&b->destroy, "cublasDestroy_v2") != 0 ||
		gt_sym(b, (void**)&b->set_stream, "cublasSetStream_v2") != 0 ||
		gt_sym(b, (void**)&b->set_math_mode, "cublasSetMathMode") != 0 ||
		gt_sym(b, (void**)&b->get_version, "cublasGetVersion_v2") != 0 ||
		gt_sym(b, (void**)&b->sgemm, "cublasSgemm_v2") != 0 ||
		gt_sym(b, (void**)&b->sgemm_strided_batched, "cublasSgemmStridedBatched") != 0 ||
		gt_sym(b, (void**)&b->gemm_ex, "cublasGemmEx") != 0 ||
		gt_sym(b, (void**)&b->gemm_strided_batched_ex, "cublasGemmStridedBatchedEx") != 0) {
		return -1;
	}
	return 0;
}

static void gt_cublas_close(gt_cublas* b) {
	if (b->lib != NULL) dlclose(b->lib);
	b->lib = NULL;
}

static int gt_cublas_create(gt_cublas* b, gt_handle* h) { return b->create(h); }
static int gt_cublas_destroy(gt_cublas* b, gt_handle h) { return b->destroy(h); }
static int gt_cublas_set_stream(gt_cublas* b, gt_handle h, CUstream s) { return b->set_stream(h, s); }
static int gt_cublas_set_math_mode(gt_cublas* b, gt_handle h, int mode) { return b->set_math_mode(h, mode); }
static int gt_cublas_get_version(gt_cublas* b, gt_handle h, int* v) { return b->get_version(h, v); }

// alpha and beta are passed by value and handed to cuBLAS as host pointers
// (the default pointer mode), so no Go memory is involved.
static int gt_cublas_sgemm(gt_cublas* b, gt_handle h, int ta, int tb, int m, int n, int k,
	float alpha, uintptr_t A, int lda, long long sA, uintptr_t B, int ldb, long long sB,
	float beta, uintptr_t C, int ldc, long long sC, int batch) {
	if (batch == 1) {
		return b->sgemm(h, ta, tb, m, n, k, &alpha, (const float*)A, lda,
			(const float*)B, ldb, &beta, (float*)C, ldc);
	}
	return b->sgemm_strided_batched(h, ta, tb, m, n, k, &alpha, (const float*)A, lda, sA,
		(const float*)B, ldb, sB, &beta, (float*)C, ldc, sC, batch);
}

static int gt_cublas_gemm_ex(gt_cublas* b, gt_handle h, int ta, int tb, int m, int n, int k,
	float alpha, uintptr_t A, int atype, int lda, long long sA, uintptr_t B, int btype, int ldb, long long sB,
	float beta, uintptr_t C, int ctype, int ldc, long long sC, int batch, int compute, int algo) {
	if (batch == 1) {
		return b->gemm_ex(h, ta, tb, m, n, k, &alpha, (const void*)A, atype, lda,
			(const void*)B, btype, ldb, &beta, (void*)C, ctype, ldc, compute, algo);
	}
	return b->gemm_strided_batched_ex(h, ta, tb, m, n, k, &alpha, (const void*)A, atype, lda, sA,
		(const void*)B, btype, ldb, sB, &beta, (void*)C, ctype, ldc, sC, batch, compute, algo);
}
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"unsafe"
)

// cuBLAS enum values, identical from CUDA 11.8 to 13.0.
const (
	cublasOpN = 0 // CUBLAS_OP_N
	cublasOpT = 1 // CUBLAS_OP_T

	cublasDefaultMath    = 0 // CUBLAS_DEFAULT_MATH
	cublasTF32TensorMath = 3 // CUBLAS_TF32_TENSOR_OP_MATH

	cudaR32F  = 0  // CUDA_R_32F
	cudaR16BF = 14 // CUDA_R_16BF

	// CUBLAS_COMPUTE_32F. (CUBLAS_COMPUTE_32F_FAST_TF32 = 77 would give
	// TF32 through cublasGemmEx; the handle's math mode does the same for
	// cublasSgemm, which is what the driver uses.)
	cublasCompute32F = 68

	cublasGemmDefault = -1 // CUBLAS_GEMM_DEFAULT
)

// envCUBLAS names the environment variable that, when set, is the path of
// the cuBLAS library to load instead of searching libcublas.so.13, .12,
// .11 and libcublas.so in the dynamic loader's path.
const envCUBLAS = "GOTRAIN_CUBLAS"

// cublasLib is a loaded cuBLAS. Its functions are called only from the
// goroutine that owns the device's context.
type cublasLib struct {
	c *C.gt_cublas // C memory: it holds the function pointers
}

// loadCUBLAS dlopens cuBLAS and looks up every function gotrain uses.
func loadCUBLAS() (*cublasLib, error) {
	c := (*C.gt_cublas)(C.calloc(1, C.size_t(unsafe.Sizeof(C.gt_cublas{}))))
	if c == nil {
		return nil, fmt.Errorf("device: load cuBLAS: out of host memory")
	}
	override := os.Getenv(envCUBLAS)
	var cOverride *C.char
	if override != "" {
		cOverride = C.CString(override)
		defer C.free(unsafe.Pointer(cOverride))
	}
	if C.gt_cublas_open(c, cOverride) != 0 {
		msg := C.GoString(&c.err[0])
		C.gt_cublas_close(c)
		C.free(unsafe.Pointer(c))
		if override != "" {
			return nil, fmt.Errorf("device: load cuBLAS from %s=%s: %s", envCUBLAS, override, msg)
		}
		return nil, fmt.Errorf("device: load cuBLAS (tried libcublas.so.13, .12, .11, libcublas.so): %s.\n"+
			"Add the folder holding libcublas.so.* to LD_LIBRARY_PATH (find / -name 'libcublas.so.*'), or set %s to the file",
			msg, envCUBLAS)
	}
	return &cublasLib{c: c}, nil
}

// path is the file the library was loaded from.
func (l *cublasLib) path() string { return C.GoString(&l.c.path[0]) }

func (l *cublasLib) close() {
	if l.c != nil {
		C.gt_cublas_close(l.c)
		C.free(unsafe.Pointer(l.c))
		l.c = nil
	}
}

// cublasHandle is a cuBLAS context bound to one CUDA context and stream.
type cublasHandle struct {
	lib *cublasLib
	h   C.gt_handle
}

// newHandle creates a handle on the current CUDA context and binds it to
// stream s.
func (l *cublasLib) newHandle(s C.CUstream) (*cublasHandle, error) {
	var h C.gt_handle
	if st := C.gt_cublas_create(l.c, &h); st != 0 {
		return nil, fmt.Errorf("device: cublasCreate: %s", cublasStatus(st))
	}
	hd := &cublasHandle{lib: l, h: h}
	if st := C.gt_cublas_set_stream(l.c, h, s); st != 0 {
		hd.destroy()
		return nil, fmt.Errorf("device: cublasSetStream: %s", cublasStatus(st))
	}
	return hd, nil
}

func (h *cublasHandle) destroy() error {
	if h.h == nil {
		return nil
	}
	st := C.gt_cublas_destroy(h.lib.c, h.h)
	h.h = nil
	if st != 0 {
		return fmt.Errorf("device: cublasDestroy: %s", cublasStatus(st))
	}
	return nil
}

// version returns cuBLAS's version as "major.minor.patch".
func (h *cublasHandle) version() (string, error) {
	var v C.int
	if st := C.gt_cublas_get_version(h.lib.c, h.h, &v); st != 0 {
		return "", fmt.Errorf("device: cublasGetVersion: %s", cublasStatus(st))
	}
	// cuBLAS 11 and later: major*10000 + minor*100 + patch (11.11.3 -> 111103).
	return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100), nil
}

// setTF32 selects the math mode of single-precision GEMMs: TF32 tensor
// cores (about 10 bits of mantissa in the products, fp32 accumulation) or
// true fp32.
func (h *cublasHandle) setTF32(on bool) error {
	mode := C.int(cublasDefaultMath)
	if on {
		mode = cublasTF32TensorMath
	}
	if st := C.gt_cublas_set_math_mode(h.lib.c, h.h, mode); st != 0 {
		return fmt.Errorf("device: cublasSetMathMode(%d): %s", int(mode), cublasStatus(st))
	}
	return nil
}

// gemmDims checks that g's sizes fit cuBLAS's 32-bit ints and are
// consistent, and returns cuBLAS's operation codes.
func gemmDims(op string, g gemmArgs) (ta, tb C.int, err error) {
	for _, v := range [...]int{g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch} {
		if v < 0 || v > math.MaxInt32 {
			return 0, 0, fmt.Errorf("device: %s m=%d n=%d k=%d lda=%d ldb=%d ldc=%d batch=%d: want every size in [0, 2^31)",
				op, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch)
		}
	}
	if g.batch < 1 {
		return 0, 0, fmt.Errorf("device: %s batch=%d: want at least 1", op, g.batch)
	}
	ta, tb = cublasOpN, cublasOpN
	if g.transA {
		ta = cublasOpT
	}
	if g.transB {
		tb = cublasOpT
	}
	return ta, tb, nil
}

// sgemm queues g on the handle's stream: cublasSgemm_v2 when g.batch is 1,
// else cublasSgemmStridedBatched. The handle's math mode decides between
// fp32 and TF32.
func (h *cublasHandle) sgemm(g gemmArgs) error {
	ta, tb, err := gemmDims("sgemm", g)
	if err != nil {
		return err
	}
	st := C.gt_cublas_sgemm(h.lib.c, h.h, ta, tb, C.int(g.m), C.int(g.n), C.int(g.k),
		C.float(g.alpha), C.uintptr_t(g.a), C.int(g.lda), C.longlong(g.strideA),
		C.uintptr_t(g.b), C.int(g.ldb), C.longlong(g.strideB),
		C.float(g.beta), C.uintptr_t(g.c), C.int(g.ldc), C.longlong(g.strideC), C.int(g.batch))
	if st != 0 {
		return gemmError("cublasSgemm", g, st)
	}
	return nil
}

// gemmBF16 queues g with A and B in bfloat16 and fp32 accumulation
// (cublasGemmEx, or cublasGemmStridedBatchedEx when g.batch > 1, with
// CUBLAS_COMPUTE_32F). C is bfloat16 when cBF16, else float32; alpha and
// beta are float32 either way.
func (h *cublasHandle) gemmBF16(g gemmArgs, cBF16 bool) error {
	ta, tb, err := gemmDims("gemm bf16", g)
	if err != nil {
		return err
	}
	ctype := C.int(cudaR32F)
	if cBF16 {
		ctype = cudaR16BF
	}
	st := C.gt_cublas_gemm_ex(h.lib.c, h.h, ta, tb, C.int(g.m), C.int(g.n), C.int(g.k),
		C.float(g.alpha), C.uintptr_t(g.a), cudaR16BF, C.int(g.lda), C.longlong(g.strideA),
		C.uintptr_t(g.b), cudaR16BF, C.int(g.ldb), C.longlong(g.strideB),
		C.float(g.beta), C.uintptr_t(g.c), ctype, C.int(g.ldc), C.longlong(g.strideC), C.int(g.batch),
		cublasCompute32F, cublasGemmDefault)
	if st != 0 {
		return gemmError("cublasGemmEx bf16", g, st)
	}
	return nil
}

func gemmError(op string, g gemmArgs, st C.int) error {
	tr := func(t bool) string {
		if t {
			return "T"
		}
		return "N"
	}
	return fmt.Errorf("device: %s op(A)=%s op(B)=%s m=%d n=%d k=%d lda=%d ldb=%d ldc=%d strides=%d,%d,%d batch=%d: %s",
		op, tr(g.transA), tr(g.transB), g.m, g.n, g.k, g.lda, g.ldb, g.ldc,
		g.strideA, g.strideB, g.strideC, g.batch, cublasStatus(st))
}

// cublasStatus names a cublasStatus_t.
func cublasStatus(st C.int) string {
	switch st {
	case 0:
		return "CUBLAS_STATUS_SUCCESS"
	case 1:
		return "CUBLAS_STATUS_NOT_INITIALIZED"
	case 3:
		return "CUBLAS_STATUS_ALLOC_FAILED"
	case 7:
		return "CUBLAS_STATUS_INVALID_VALUE (a size, leading dimension or stride is inconsistent)"
	case 8:
		return "CUBLAS_STATUS_ARCH_MISMATCH (the GPU lacks a feature this call needs)"
	case 11:
		return "CUBLAS_STATUS_MAPPING_ERROR"
	case 13:
		return "CUBLAS_STATUS_EXECUTION_FAILED (a GPU program failed to launch)"
	case 14:
		return "CUBLAS_STATUS_INTERNAL_ERROR"
	case 15:
		return "CUBLAS_STATUS_NOT_SUPPORTED"
	case 16:
		return "CUBLAS_STATUS_LICENSE_ERROR"
	}
	return fmt.Sprintf("cublasStatus %d", int(st))
}
