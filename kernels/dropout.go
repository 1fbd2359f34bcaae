package kernels

// Dropout is inverted dropout with a mask drawn from a counter-based hash.
type Dropout interface {
	// DropoutForward zeroes each element with probability p and scales the
	// rest by 1/(1-p), saving the scaled mask. 0 <= p < 1.
	//
	//	for i := 0; i < n; i++ {
	//	  mask[i] = 0
	//	  if DropoutUniform(seed, i) >= p { mask[i] = 1 / (1 - p) }
	//	  y[i] = x[i] * mask[i]
	//	}
	DropoutForward(y, mask, x Buffer, p float32, seed uint64, n int) error

	// DropoutBackward: for i := 0; i < n; i++ { dx[i] += dy[i] * mask[i] }
	DropoutBackward(dx, dy, mask Buffer, n int) error
}
