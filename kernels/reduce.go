package kernels

// Reductions reduce a buffer to a 1-element buffer, and find row maxima.
type Reductions interface {
	// SumForward: y[0] = Σ_i x[i], i < n.
	SumForward(y, x Buffer, n int) error

	// SumBackward: for i := 0; i < n; i++ { dx[i] += dy[0] }
	SumBackward(dx, dy Buffer, n int) error

	// MeanForward: y[0] = (Σ_i x[i]) / n, i < n.
	MeanForward(y, x Buffer, n int) error

	// MeanBackward: for i := 0; i < n; i++ { dx[i] += dy[0] / n }
	MeanBackward(dx, dy Buffer, n int) error

	// ArgMax writes each row's index of its first maximum to the int32
	// buffer out (a metric, not differentiable).
	//
	//	for r := 0; r < rows; r++ { out[r] = first c maximising x[r,c] }
	ArgMax(out, x Buffer, rows, cols int) error
}
