package kernels

// Kernels is the contract: every kernel a backend provides, grouped by op
// family. Each family's doc comments give the reference loop.
type Kernels interface {
	Memory
	MatMul
	Elementwise
	Activations
	Softmax
	Losses
	Reductions
	Dropout
	Regularizers
	Optimizers
}
