package kerneltest

import (
	"fmt"
	"math"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

const optSteps = 3

// SGDUpdate checks plain SGD (with a nil velocity), weight decay, momentum,
// Nesterov momentum and all together, over three steps against a float64
// reference.
func SGDUpdate(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(90)
	cases := []struct {
		what string
		p    kernels.SGDParams
	}{
		{"plain", kernels.SGDParams{LR: 0.1}},
		{"weight decay", kernels.SGDParams{LR: 0.1, WeightDecay: 0.05}},
		{"momentum", kernels.SGDParams{LR: 0.1, Momentum: 0.9}},
		{"nesterov", kernels.SGDParams{LR: 0.1, Momentum: 0.9, Nesterov: true}},
		{"nesterov weight decay", kernels.SGDParams{LR: 0.05, Momentum: 0.8, Nesterov: true, WeightDecay: 0.01}},
	}
	for _, n := range elemSizes {
		for _, c := range cases {
			p0 := uniform(r, n, -1, 1)
			pb := h.in(p0)
			var vb kernels.Buffer
			if c.p.Momentum != 0 {
				vb = h.in(make([]float32, n))
			}
			param, vel := to64(p0), make([]float64, n)
			lr, mom, wd := float64(c.p.LR), float64(c.p.Momentum), float64(c.p.WeightDecay)
			for step := 1; step <= optSteps; step++ {
				name := fmt.Sprintf("sgd_update n=%d %s step %d", n, c.what, step)
				grad := uniform(r, n, -1, 1)
				gb := h.in(grad)
				h.run(name, func() error { return b.SGDUpdate(pb, gb, vb, c.p, n) })
				for i := range param {
					g := float64(grad[i]) + wd*param[i]
					if mom != 0 {
						vel[i] = mom*vel[i] + g
						if c.p.Nesterov {
							g += mom * vel[i]
						} else {
							g = vel[i]
						}
					}
					param[i] -= lr * g
				}
				ok := compareAR(t, name+" param", h.read(name+" param", pb), param, 1e-6, 1e-5)
				if vb != nil {
					ok = compareAR(t, name+" vel", h.read(name+" vel", vb), vel, 1e-6, 1e-5) && ok
				}
				compareExact(t, name+" grad", h.read(name+" grad", gb), grad)
				if !ok {
					break
				}
			}
		}
	}
}

// adam runs three steps of Adam or AdamW against a float64 reference.
func adam(t *testing.T, b kernels.Backend, op string, seed uint64, decoupled bool,
	kern func(param, grad, m, v kernels.Buffer, h kernels.AdamParams, n int) error) {
	h := newHarness(t, b)
	r := newRand(seed)
	for _, n := range elemSizes {
		for _, hp := range []kernels.AdamParams{
			{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
			{LR: 3e-3, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1},
		} {
			p0 := uniform(r, n, -1, 1)
			pb, mb, vb := h.in(p0), h.in(make([]float32, n)), h.in(make([]float32, n))
			param, m, v := to64(p0), make([]float64, n), make([]float64, n)
			lr, b1, b2 := float64(hp.LR), float64(hp.Beta1), float64(hp.Beta2)
			eps, wd := float64(hp.Eps), float64(hp.WeightDecay)
			for step := 1; step <= optSteps; step++ {
				hp.Step = step
				name := fmt.Sprintf("%s n=%d lr=%g wd=%g step %d", op, n, hp.LR, hp.WeightDecay, step)
				grad := uniform(r, n, -1, 1)
				gb := h.in(grad)
				h.run(name, func() error { return kern(pb, gb, mb, vb, hp, n) })
				bc1, bc2 := 1-math.Pow(b1, float64(step)), 1-math.Pow(b2, float64(step))
				for i := range param {
					g := float64(grad[i])
					if decoupled {
						param[i] -= lr * wd * param[i]
					} else {
						g += wd * param[i]
					}
					m[i] = b1*m[i] + (1-b1)*g
					v[i] = b2*v[i] + (1-b2)*g*g
					param[i] -= lr * (m[i] / bc1) / (math.Sqrt(v[i]/bc2) + eps)
				}
				ok := compareAR(t, name+" param", h.read(name+" param", pb), param, 1e-6, 1e-5)
				ok = compareAR(t, name+" m", h.read(name+" m", mb), m, 1e-7, 1e-5) && ok
				ok = compareAR(t, name+" v", h.read(name+" v", vb), v, 1e-10, 1e-5) && ok
				if !ok {
					break
				}
			}
		}
	}
}

// AdamUpdate checks Adam with L2 weight decay over three steps.
func AdamUpdate(t *testing.T, b kernels.Backend) { adam(t, b, "adam_update", 91, false, b.AdamUpdate) }

// AdamWUpdate checks AdamW (decoupled weight decay) over three steps.
func AdamWUpdate(t *testing.T, b kernels.Backend) {
	adam(t, b, "adamw_update", 92, true, b.AdamWUpdate)
}
