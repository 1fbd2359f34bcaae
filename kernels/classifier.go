package kernels

// Classifier is GPT-2's fused output layer (llm.c's fused_classifier): the
// softmax cross-entropy and its gradient in one pass over the logits, which
// it overwrites with the gradient, so that the [rows, V] probabilities are
// never stored beside the logits. logits is [rows, V]; labels is int32
// [rows]; losses is [rows].
type Classifier interface {
	// ClassifierForwardBackward computes each row's loss and replaces the
	// row's logits by dlossScale times the gradient of that loss. For the
	// mean loss over the rows, the caller passes dlossScale = 1/rows (the
	// gradient of the mean of losses); the caller averages losses itself.
	// The softmax is stable (the row maximum is subtracted). A label
	// outside [0, V) gives a NaN loss and matches no column of the gradient,
	// never an out-of-bounds access (so V = 0 gives NaN losses).
	//
	//	for r := 0; r < rows; r++ {
	//	  m := max_c logits[r,c]
	//	  z := Σ_c exp(logits[r,c] - m)
	//	  losses[r] = m + log(z) - logits[r, labels[r]]
	//	  for c := 0; c < V; c++ {
	//	    p := exp(logits[r,c] - m) / z
	//	    logits[r,c] = dlossScale * (p - [c == labels[r]])
	//	  }
	//	}
	ClassifierForwardBackward(losses, logits, labels Buffer, dlossScale float32, rows, V int) error
}
