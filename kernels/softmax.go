package kernels

// Softmax is the row-wise softmax.
type Softmax interface {
	// SoftmaxForward normalises each row, subtracting the row maximum first
	// for stability.
	//
	//	for r := 0; r < rows; r++ {
	//	  m := max_c x[r,c]
	//	  s := Σ_c exp(x[r,c] - m)
	//	  for c := 0; c < cols; c++ { y[r,c] = exp(x[r,c] - m) / s }
	//	}
	SoftmaxForward(y, x Buffer, rows, cols int) error

	// SoftmaxBackward takes the output y:
	//
	//	for r := 0; r < rows; r++ {
	//	  d := Σ_c dy[r,c] * y[r,c]
	//	  for c := 0; c < cols; c++ { dx[r,c] += y[r,c] * (dy[r,c] - d) }
	//	}
	SoftmaxBackward(dx, dy, y Buffer, rows, cols int) error
}
