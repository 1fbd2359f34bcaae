package kernels

// Elementwise kernels combine buffers of n elements.
type Elementwise interface {
	// Add: for i := 0; i < n; i++ { y[i] = a[i] + b[i] }
	Add(y, a, b Buffer, n int) error

	// AddBackward: for i := 0; i < n; i++ { da[i] += dy[i]; db[i] += dy[i] }
	// (either gradient may be nil).
	AddBackward(da, db, dy Buffer, n int) error

	// Mul: for i := 0; i < n; i++ { y[i] = a[i] * b[i] }
	Mul(y, a, b Buffer, n int) error

	// MulBackward: for i := 0; i < n; i++ { da[i] += dy[i]*b[i]; db[i] += dy[i]*a[i] }
	// (either gradient may be nil).
	MulBackward(da, db, dy, a, b Buffer, n int) error

	// Scale: for i := 0; i < n; i++ { y[i] = alpha * x[i] }
	Scale(y, x Buffer, alpha float32, n int) error

	// ScaleBackward: for i := 0; i < n; i++ { dx[i] += alpha * dy[i] }
	ScaleBackward(dx, dy Buffer, alpha float32, n int) error
}
