package nn

import (
	"math"

	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/kernels"
)

// SGD is stochastic gradient descent with optional momentum, Nesterov
// momentum and L2 weight decay, as torch.optim.SGD (dampening 0).
type SGD struct {
	LR, Momentum, WeightDecay float32
	Nesterov                  bool
}

var _ graph.Optimizer = SGD{}

// States implements graph.Optimizer: one velocity buffer with momentum.
func (o SGD) States() int {
	if o.Momentum != 0 {
		return 1
	}
	return 0
}

// BaseLR implements graph.Optimizer.
func (o SGD) BaseLR() float32 { return o.LR }

// Update implements graph.Optimizer.
func (o SGD) Update(k kernels.Kernels, p, g kernels.Buffer, st []kernels.Buffer, size, step int, lr float32, decay bool) error {
	var vel kernels.Buffer
	if len(st) > 0 {
		vel = st[0]
	}
	h := kernels.SGDParams{LR: lr, Momentum: o.Momentum, Nesterov: o.Nesterov, WeightDecay: o.WeightDecay}
	if !decay {
		h.WeightDecay = 0
	}
	return k.SGDUpdate(p, g, vel, h, size)
}

// Adam is torch.optim.Adam: L2 weight decay added to the gradient. Zero
// Beta1, Beta2 and Eps take PyTorch's defaults 0.9, 0.999 and 1e-8.
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
}

// AdamW is torch.optim.AdamW: decoupled weight decay. Zero Beta1, Beta2
// and Eps take PyTorch's defaults; PyTorch's default WeightDecay is 0.01.
type AdamW Adam

func (o Adam) params(step int, lr float32, decay bool) kernels.AdamParams {
	h := kernels.AdamParams{LR: lr, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay, Step: step}
	if !decay {
		h.WeightDecay = 0
	}
	if h.Beta1 == 0 {
		h.Beta1 = 0.9
	}
	if h.Beta2 == 0 {
		h.Beta2 = 0.999
	}
	if h.Eps == 0 {
		h.Eps = 1e-8
	}
	return h
}

// States implements graph.Optimizer: the two moments.
func (o Adam) States() int { return 2 }

// BaseLR implements graph.Optimizer.
func (o Adam) BaseLR() float32 { return o.LR }

// Update implements graph.Optimizer.
func (o Adam) Update(k kernels.Kernels, p, g kernels.Buffer, st []kernels.Buffer, size, step int, lr float32, decay bool) error {
	return k.AdamUpdate(p, g, st[0], st[1], o.params(step, lr, decay), size)
}

// States implements graph.Optimizer: the two moments.
func (o AdamW) States() int { return 2 }

// BaseLR implements graph.Optimizer.
func (o AdamW) BaseLR() float32 { return o.LR }

// Update implements graph.Optimizer.
func (o AdamW) Update(k kernels.Kernels, p, g kernels.Buffer, st []kernels.Buffer, size, step int, lr float32, decay bool) error {
	return k.AdamWUpdate(p, g, st[0], st[1], Adam(o).params(step, lr, decay), size)
}

// ConstantLR keeps the base learning rate.
type ConstantLR struct{}

// LR implements graph.Schedule.
func (ConstantLR) LR(step int, base float32) float32 { return base }

// StepLR multiplies the rate by Gamma every StepSize steps (torch's StepLR,
// counted in steps).
type StepLR struct {
	StepSize int
	Gamma    float32
}

// LR implements graph.Schedule.
func (s StepLR) LR(step int, base float32) float32 {
	if s.StepSize <= 0 {
		return base
	}
	return base * float32(math.Pow(float64(s.Gamma), float64((step-1)/s.StepSize)))
}

// CosineWarmup rises linearly from 0 to the base rate over Warmup steps,
// then follows a cosine down to MinFactor·base at step Total (and stays
// there), as llm.c and nanoGPT do.
type CosineWarmup struct {
	Warmup, Total int
	MinFactor     float32
}

// LR implements graph.Schedule.
func (s CosineWarmup) LR(step int, base float32) float32 {
	if step <= s.Warmup {
		return base * float32(step) / float32(max(s.Warmup, 1))
	}
	if step >= s.Total {
		return base * s.MinFactor
	}
	frac := float64(step-s.Warmup) / float64(max(s.Total-s.Warmup, 1))
	coeff := 0.5 * (1 + math.Cos(math.Pi*frac))
	min := float64(base * s.MinFactor)
	return float32(min + coeff*(float64(base)-min))
}
