package kernels

// Optimizers update parameters in place from their gradients, with PyTorch's
// semantics.
type Optimizers interface {
	// SGDUpdate is SGD with momentum (dampening 0), optionally Nesterov, and
	// L2 weight decay added to the gradient. vel may be nil when
	// Momentum is 0.
	//
	//	for i := 0; i < n; i++ {
	//	  g := grad[i] + WeightDecay*param[i]
	//	  if Momentum != 0 {
	//	    vel[i] = Momentum*vel[i] + g
	//	    if Nesterov { g = g + Momentum*vel[i] } else { g = vel[i] }
	//	  }
	//	  param[i] -= LR * g
	//	}
	SGDUpdate(param, grad, vel Buffer, h SGDParams, n int) error

	// AdamUpdate is Adam with L2 weight decay added to the gradient.
	//
	//	for i := 0; i < n; i++ {
	//	  g := grad[i] + WeightDecay*param[i]
	//	  m[i] = Beta1*m[i] + (1-Beta1)*g
	//	  v[i] = Beta2*v[i] + (1-Beta2)*g*g
	//	  mhat := m[i] / (1 - Beta1^Step)
	//	  vhat := v[i] / (1 - Beta2^Step)
	//	  param[i] -= LR * mhat / (sqrt(vhat) + Eps)
	//	}
	AdamUpdate(param, grad, m, v Buffer, h AdamParams, n int) error

	// AdamWUpdate is Adam with decoupled weight decay (Loshchilov & Hutter):
	// as AdamUpdate with g := grad[i], after first applying
	//
	//	param[i] -= LR * WeightDecay * param[i]
	AdamWUpdate(param, grad, m, v Buffer, h AdamParams, n int) error
}
