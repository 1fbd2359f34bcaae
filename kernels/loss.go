package kernels

// Losses are the fused softmax cross-entropy and the mean squared error.
type Losses interface {
	// CrossEntropyForward is softmax followed by the negative log-likelihood
	// of each row's label, fused and computed through log-sum-exp so that it
	// never takes the log of 0. labels is int32. A label outside [0, cols)
	// gives a NaN loss for that row.
	//
	//	for r := 0; r < rows; r++ {
	//	  m := max_c logits[r,c]
	//	  s := Σ_c exp(logits[r,c] - m)
	//	  for c := 0; c < cols; c++ { probs[r,c] = exp(logits[r,c] - m) / s }
	//	  losses[r] = m + log(s) - logits[r, labels[r]]
	//	}
	CrossEntropyForward(losses, probs, logits, labels Buffer, rows, cols int) error

	// CrossEntropyBackward takes the probabilities saved by the forward:
	//
	//	for r := 0; r < rows; r++ {
	//	  for c := 0; c < cols; c++ {
	//	    dlogits[r,c] += dlosses[r] * (probs[r,c] - [c == labels[r]])
	//	  }
	//	}
	CrossEntropyBackward(dlogits, dlosses, probs, labels Buffer, rows, cols int) error

	// MSEForward writes the mean squared error to the 1-element loss.
	//
	//	var s float32
	//	for i := 0; i < n; i++ { s += (pred[i] - target[i])² }
	//	loss[0] = s / n
	MSEForward(loss, pred, target Buffer, n int) error

	// MSEBackward: for i := 0; i < n; i++ { dpred[i] += dloss[0] * 2 * (pred[i] - target[i]) / n }
	MSEBackward(dpred, dloss, pred, target Buffer, n int) error
}
