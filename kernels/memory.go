package kernels

// Memory kernels fill, copy and accumulate buffers.
type Memory interface {
	// Fill sets n elements of x to v.
	//
	//	for i := 0; i < n; i++ { x[i] = v }
	Fill(x Buffer, v float32, n int) error

	// Copy copies n elements.
	//
	//	for i := 0; i < n; i++ { dst[i] = src[i] }
	Copy(dst, src Buffer, n int) error

	// Axpy accumulates a scaled buffer (BLAS saxpy).
	//
	//	for i := 0; i < n; i++ { y[i] += alpha * x[i] }
	Axpy(y Buffer, alpha float32, x Buffer, n int) error
}
