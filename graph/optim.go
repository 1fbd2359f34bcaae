package graph

import "github.com/gotrain/gotrain/kernels"

// Optimizer updates one parameter from its gradient. Implementations (SGD,
// Adam, AdamW in package nn) issue a kernel; their state lives in buffers
// the Program allocates and zeroes.
type Optimizer interface {
	// States is the number of state buffers per parameter, each the
	// parameter's size (momentum; Adam's two moments).
	States() int
	// BaseLR is the learning rate a Schedule scales.
	BaseLR() float32
	// Update applies step (1-based) with learning rate lr to a parameter of
	// size elements; decay is false for parameters excluded from weight
	// decay (Node.NoDecay).
	Update(k kernels.Kernels, param, grad kernels.Buffer, state []kernels.Buffer, size, step int, lr float32, decay bool) error
}

// Schedule gives the learning rate of a (1-based) step.
type Schedule interface {
	LR(step int, base float32) float32
}
