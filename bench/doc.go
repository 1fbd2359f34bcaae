// Package bench holds gotrain's benchmarks: the kernels and the training
// steps that matter for speed, on the pure-Go backend (cpufallback), run with
//
//	go test -bench . -run '^$' ./bench/
//	GOEXPERIMENT=simd go test -bench . -run '^$' ./bench/   # AVX2 GEMM
//
// Every benchmark is split by thread count (threads=1, threads=2) so the
// single-core speed and the scaling are both visible, and reports a rate
// through b.ReportMetric (GFLOP/s for products) with its napkin formula in
// a comment. Sizes are named once, in sizes.go, as in gonum (Small, Medium,
// Large), so results from different benchmarks line up.
//
// Reference points measured on the 2-core build machine, fp32 matmul at
// n=1024, GFLOP/s 1 thread / 2 threads: OpenBLAS 76 / 133-156, PyTorch CPU
// 82 / 165, gonum 7.7 / 8.1, a plain blocked Go loop 5.6 / 7.7.
//
// The package has no non-test code beyond the size names; it exists for
// its _test.go files.
package bench
