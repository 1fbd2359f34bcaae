// Package device runs gotrain's kernels on an NVIDIA GPU: it loads the
// kernels (an embedded fatbin), manages device memory with a caching
// allocator, launches kernels on a stream, calls cuBLAS for GEMMs, and
// implements the kernels contract as Backend.
//
// Three drivers sit under one shared layer, the way Go's net package keeps
// cgo optional:
//
//   - driver_cuda.go (build tag cuda): the CUDA driver API through
//     gorgonia.org/cu and cuBLAS loaded at run time with dlopen.
//   - driver_emu.go (build tag cudaemu): the same .cu kernels compiled by
//     g++ against an emulation header and run on the CPU, with a reference
//     column-major GEMM in place of cuBLAS. It exists so that machines
//     without a GPU, CI's included, run every kernel.
//   - driver_none.go (neither tag): Open returns ErrNoCUDA, which says how
//     to build with GPU support. This build links no CUDA library.
//
// Everything else (the allocator, launch configurations, argument packing,
// the Backend) is the same code in all three builds.
package device
