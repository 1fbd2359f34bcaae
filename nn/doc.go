// Package nn holds the building blocks of models on top of package graph:
// layers (Linear, MLP), activations, dropout, losses, L1/L2 penalties,
// optimizers (SGD with momentum and Nesterov, Adam, AdamW), learning-rate
// schedules (constant, step, cosine with warmup) and initialisers (Xavier,
// Kaiming), with PyTorch's semantics and defaults unless a comment says
// otherwise.
//
// Layers add parameters named "<layer>.weight" and "<layer>.bias"; a Linear
// weight is [in, out] (y = x·W + b). Building the same model in two graphs
// (a training batch size and an evaluation one) gives the same names, so an
// evaluation program can share the training program's parameters
// (graph.Config.Shared).
package nn
