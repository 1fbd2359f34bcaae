package nn

import (
	"math"
	"math/rand/v2"

	"github.com/gotrain/gotrain/graph"
)

// Zeros initialises to 0.
func Zeros() graph.Init { return Constant(0) }

// Constant initialises every element to v.
func Constant(v float32) graph.Init {
	return func(_ *rand.Rand, dst []float32, _, _ int) {
		for i := range dst {
			dst[i] = v
		}
	}
}

// Uniform draws from U(-a, a).
func Uniform(a float64) graph.Init {
	return func(rng *rand.Rand, dst []float32, _, _ int) {
		for i := range dst {
			dst[i] = float32((2*rng.Float64() - 1) * a)
		}
	}
}

// Normal draws from N(0, std²).
func Normal(std float64) graph.Init {
	return func(rng *rand.Rand, dst []float32, _, _ int) {
		for i := range dst {
			dst[i] = float32(rng.NormFloat64() * std)
		}
	}
}

// XavierUniform (Glorot) draws from U(-a, a), a = sqrt(6/(fanIn+fanOut)).
func XavierUniform() graph.Init {
	return func(rng *rand.Rand, dst []float32, fanIn, fanOut int) {
		Uniform(math.Sqrt(6/float64(fanIn+fanOut)))(rng, dst, fanIn, fanOut)
	}
}

// XavierNormal (Glorot) draws from N(0, 2/(fanIn+fanOut)).
func XavierNormal() graph.Init {
	return func(rng *rand.Rand, dst []float32, fanIn, fanOut int) {
		Normal(math.Sqrt(2/float64(fanIn+fanOut)))(rng, dst, fanIn, fanOut)
	}
}

// KaimingUniform (He) draws from U(-a, a), a = sqrt(6/fanIn), for ReLU
// layers.
func KaimingUniform() graph.Init {
	return func(rng *rand.Rand, dst []float32, fanIn, fanOut int) {
		Uniform(math.Sqrt(6/float64(fanIn)))(rng, dst, fanIn, fanOut)
	}
}

// KaimingNormal (He) draws from N(0, 2/fanIn).
func KaimingNormal() graph.Init {
	return func(rng *rand.Rand, dst []float32, fanIn, fanOut int) {
		Normal(math.Sqrt(2/float64(fanIn)))(rng, dst, fanIn, fanOut)
	}
}

// torchLinear is PyTorch's default nn.Linear init: U(-1/sqrt(fanIn),
// 1/sqrt(fanIn)) for the weight (kaiming_uniform with a = sqrt(5)) and the
// bias.
func torchLinear(fanIn int) graph.Init {
	return func(rng *rand.Rand, dst []float32, _, _ int) {
		Uniform(1/math.Sqrt(float64(fanIn)))(rng, dst, 0, 0)
	}
}
