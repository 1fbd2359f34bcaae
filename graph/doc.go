// Package graph builds a model as a static graph, differentiates it and runs
// it on a backend.
//
// A Graph holds inputs (fed each step), parameters (initialised once, owned by
// the compiled Program) and ops. Shapes are inferred when an op is added: a
// mismatch is recorded as the graph's error, naming the op and the shapes,
// and every later op is a no-op, so a model can be written without checking
// an error after each line (as bufio.Scanner does); Compile returns it.
//
// Compile turns a graph into a Program for one kernels.Backend:
//
//  1. Forward: one or more kernel calls per op, in the order ops were added
//     (which is a topological order).
//  2. Backward: reverse-mode automatic differentiation from the scalar loss.
//     Each op has one backward rule (see rules.go, the derivative in a
//     comment); an op the loss depends on that has no rule fails Compile.
//     Backward kernels accumulate, so a gradient buffer is zeroed when its
//     life begins.
//  3. Clipping by global norm and the optimizer update, on the device.
//
// Every buffer the step touches is a slot. Parameters, their gradients and
// optimizer state, inputs, the loss and requested outputs are persistent;
// every other slot (activations, saved masks and probabilities, activation
// gradients) lives from its first use to its last, and the planner packs
// those into one arena by lifetime (best fit, largest first), so buffers are
// reused and the planned peak is below their sum (Program.Memory).
//
// A step allocates nothing on the host once compiled: kernel calls are
// closures built at compile time over slots whose buffers are fixed after
// planning.
//
// Tensor layout follows package kernels: row-major, the last dimension
// contiguous. Linear weights are [in, out] (y = x·W + b), as GPT-2's
// Conv1D.
//
// Errors: building records the first error in the graph; Compile, Feed,
// Step and Read return errors that name the op or input and the shapes.
// Nothing in this package panics on bad input.
package graph
