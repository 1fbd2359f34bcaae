// all.cu: every kernel family in one translation unit, for the fatbin
// (nvcc -fatbin takes one input) and for the CPU emulator's build.
//
// Launch configurations and constraints are in each included file and in
// kernels.cuh.
#include "memory.cu"
#include "bias.cu"
#include "elementwise.cu"
#include "activation.cu"
#include "softmax.cu"
#include "loss.cu"
#include "reduce.cu"
#include "dropout.cu"
#include "regularize.cu"
#include "optim.cu"
#include "embedding.cu"
#include "layernorm.cu"
#include "attention.cu"
#include "classifier.cu"
