package kernels

// Activations are elementwise non-linearities. Backward kernels take the
// forward input x (ReLU, GELU) or output y (Tanh, Sigmoid), whichever makes
// the derivative cheapest.
type Activations interface {
	// ReLUForward: for i := 0; i < n; i++ { y[i] = max(x[i], 0) }
	ReLUForward(y, x Buffer, n int) error

	// ReLUBackward: for i := 0; i < n; i++ { if x[i] > 0 { dx[i] += dy[i] } }
	ReLUBackward(dx, dy, x Buffer, n int) error

	// GELUForward is GELU with the tanh approximation (as GPT-2):
	//
	//	for i := 0; i < n; i++ {
	//	  u := sqrt(2/π) * (x[i] + 0.044715*x[i]³)
	//	  y[i] = 0.5 * x[i] * (1 + tanh(u))
	//	}
	GELUForward(y, x Buffer, n int) error

	// GELUBackward: with u and t = tanh(u) as above,
	//
	//	for i := 0; i < n; i++ {
	//	  du := sqrt(2/π) * (1 + 3*0.044715*x[i]²)
	//	  dx[i] += dy[i] * (0.5*(1+t) + 0.5*x[i]*(1-t²)*du)
	//	}
	GELUBackward(dx, dy, x Buffer, n int) error

	// TanhForward: for i := 0; i < n; i++ { y[i] = tanh(x[i]) }
	TanhForward(y, x Buffer, n int) error

	// TanhBackward takes the output y: for i := 0; i < n; i++ { dx[i] += dy[i] * (1 - y[i]²) }
	TanhBackward(dx, dy, y Buffer, n int) error

	// SigmoidForward: for i := 0; i < n; i++ { y[i] = 1 / (1 + exp(-x[i])) }
	SigmoidForward(y, x Buffer, n int) error

	// SigmoidBackward takes the output y: for i := 0; i < n; i++ { dx[i] += dy[i] * y[i] * (1 - y[i]) }
	SigmoidBackward(dx, dy, y Buffer, n int) error
}
