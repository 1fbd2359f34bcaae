package kernels

// Regularizers are the L1 and L2 penalty terms, added to a loss, and the
// global-norm gradient clipping.
type Regularizers interface {
	// L1Forward: out[0] = lambda * Σ_i |w[i]|, i < n.
	L1Forward(out, w Buffer, lambda float32, n int) error

	// L1Backward (sign(0) = 0): for i := 0; i < n; i++ { dw[i] += dout[0] * lambda * sign(w[i]) }
	L1Backward(dw, dout, w Buffer, lambda float32, n int) error

	// L2Forward: out[0] = lambda/2 * Σ_i w[i]², i < n.
	L2Forward(out, w Buffer, lambda float32, n int) error

	// L2Backward: for i := 0; i < n; i++ { dw[i] += dout[0] * lambda * w[i] }
	L2Backward(dw, dout, w Buffer, lambda float32, n int) error

	// SumSquares accumulates the squared norm of x into the 1-element acc,
	// so that the global norm of many gradients is summed on the device:
	//
	//	for i := 0; i < n; i++ { acc[0] += x[i]² }
	SumSquares(acc, x Buffer, n int) error

	// ClipByGlobalNorm scales x so that the global norm sqrt(sumSq[0]) is
	// at most maxNorm, as PyTorch's clip_grad_norm_:
	//
	//	s := maxNorm / (sqrt(sumSq[0]) + 1e-6)
	//	if s < 1 { for i := 0; i < n; i++ { x[i] *= s } }
	ClipByGlobalNorm(x, sumSq Buffer, maxNorm float32, n int) error
}
