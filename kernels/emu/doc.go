// Package emu is the CUDA-on-CPU emulator's Go side: the hash of the kernel
// sources it compiles, which package device imports in its cudaemu build.
//
// The emulator itself is C++: cuda_emu.h (the CUDA subset the kernels use,
// for g++; its opening comment explains the execution model) and
// device/emu.cpp (the runtime: fibers, the block scheduler, the thread pool,
// the kernel table and a reference SGEMM). README.md describes the design.
//
// Go's build cache does not notice changes to files that cgo code
// #includes (golang/go#24355), and device/emu.cpp #includes every
// kernels/*.cu. SourcesHash, a constant generated from those files, closes
// the gap: `go generate ./kernels/emu` updates it, which changes this
// package's export data and so rebuilds package device. TestSourcesHashFresh
// fails when it is out of date.
package emu
