//go:build cudaemu && !cuda

// emu.h: the C interface of the CUDA-on-CPU emulator (emu.cpp) for
// driver_emu.go. Device addresses are host addresses, passed as uintptr_t;
// driver_emu.go copies memory itself. Functions that can
// fail return 0 on success, or non-zero with a message in err (errlen
// bytes, NUL-terminated); they never abort.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// gtemu_lookup returns the index of the kernel called name, or -1.
int gtemu_lookup(const char* name);

// gtemu_launch runs kernel fn on a gx*gy*gz grid of bx*by*bz-thread blocks
// and returns when it has finished. packed holds nargs 8-byte slots, one
// per argument, each value little-endian at the start of its slot (the
// args type of driver.go).
int gtemu_launch(int fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                 const void* packed, int nargs, char* err, int errlen);

// gtemu_sgemm is cuBLAS's cublasSgemmStridedBatched, column-major, computed
// in float by a plain loop: for each batch b, C_b = alpha*op(A_b)*op(B_b) +
// beta*C_b, C not read when beta == 0.
int gtemu_sgemm(int transa, int transb, int m, int n, int k, float alpha, uintptr_t a, int lda,
                long long stride_a, uintptr_t b, int ldb, long long stride_b, float beta, uintptr_t c,
                int ldc, long long stride_c, int batch, char* err, int errlen);

// gtemu_threads is the number of OS threads that run blocks.
int gtemu_threads(void);

// gtemu_host_memory is the machine's physical memory in bytes.
long long gtemu_host_memory(void);

// gtemu_alloc returns 256-byte aligned memory, or 0; gtemu_free frees it.
uintptr_t gtemu_alloc(long long bytes);
void gtemu_free(uintptr_t p);

#ifdef __cplusplus
}
#endif
