package kernels

// Embedding is GPT-2's input layer: each token's row of the token embedding
// plus its position's row of the position embedding (llm.c's encoder_forward
// and encoder_backward). tokens is int32 [B, T]; wte is [V, C], where V is
// wte.Len()/C; wpe is [maxT, C] with maxT >= T (only its first T rows are
// used); out and dout are [B, T, C].
type Embedding interface {
	// EmbeddingForward overwrites out. A token outside [0, V) gives a row of
	// NaN in out, never an out-of-bounds read.
	//
	//	for b := 0; b < B; b++ {
	//	  for t := 0; t < T; t++ {
	//	    tok := tokens[b*T+t]
	//	    for c := 0; c < C; c++ { out[(b*T+t)*C+c] = wte[tok*C+c] + wpe[t*C+c] }
	//	  }
	//	}
	EmbeddingForward(out, tokens, wte, wpe Buffer, B, T, C int) error

	// EmbeddingBackward accumulates into the embedding gradients (either may
	// be nil). A token outside [0, V) contributes nothing.
	//
	//	for b := 0; b < B; b++ {
	//	  for t := 0; t < T; t++ {
	//	    tok := tokens[b*T+t]
	//	    for c := 0; c < C; c++ { dwte[tok*C+c] += dout[(b*T+t)*C+c] }
	//	  }
	//	}
	//	for t := 0; t < T; t++ {
	//	  for c := 0; c < C; c++ { dwpe[t*C+c] += Σ_b dout[(b*T+t)*C+c] }
	//	}
	//
	// The result must be deterministic: the same inputs give the same bits
	// on every run. Frequent tokens collect thousands of rows, so a GPU
	// implementation must not use a float atomic add on the token's row per
	// (b, t) (the order of the additions, hence the rounding, would change
	// from run to run, and the adds to one address serialise); it buckets
	// the positions by token and sums each bucket in a fixed order (llm.c's
	// wte_backward_kernel), or gives each thread whole columns.
	EmbeddingBackward(dwte, dwpe, dout, tokens Buffer, B, T, C int) error
}
