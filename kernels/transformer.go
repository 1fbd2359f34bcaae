package kernels

import (
	"fmt"
	"math"
	"strings"
)

// Transformer is the set of kernels a GPT-2 (llm.c's train_gpt2.c) needs
// beyond Kernels: the token and position embedding, layer normalisation,
// causal multi-head self-attention and the fused classifier. It is not yet
// part of Kernels; a backend that provides it says so with
//
//	var _ kernels.Transformer = (*Backend)(nil)
//
// and callers reach it with a type assertion on their Backend.
//
// Dimension glossary of these kernels (in addition to the package's):
//
//	B   batch (sequences in a minibatch)
//	T   sequence length (positions per sequence)
//	C   channels (model width); C = NH·HS in attention
//	V   vocabulary size
//	NH  attention heads
//	HS  head size
//
// Activations are [B, T, C] row-major: element (b, t, c) is at
// (b*T+t)*C + c. The row-wise kernels (LayerNorm, Classifier) take
// rows = B·T.
type Transformer interface {
	Embedding
	LayerNorm
	Attention
	Classifier
}

// CheckDims validates the dimensions of a kernel whose buffers are products
// of them: it returns an error naming op unless every dimension is >= 0 and
// their product fits an int, and the product otherwise. names labels the
// dimensions in the error, separated by spaces ("B T C").
func CheckDims(op, names string, dims ...int) (int, error) {
	n := 1
	for i, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("%s: %s: negative dimension: %w", op, dimList(names, dims), ErrShape)
		}
		if d > 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("%s: %s: the product of dimensions 0..%d overflows int: %w", op, dimList(names, dims), i, ErrShape)
		}
		n *= d
	}
	return n, nil
}

// dimList formats names "B T C" and dims 2, 3, 4 as "B = 2, T = 3, C = 4".
func dimList(names string, dims []int) string {
	f := strings.Fields(names)
	parts := make([]string, len(dims))
	for i, d := range dims {
		name := "?"
		if i < len(f) {
			name = f[i]
		}
		parts[i] = fmt.Sprintf("%s = %d", name, d)
	}
	return strings.Join(parts, ", ")
}
