package cpufallback

import (
	"math"

	"github.com/gotrain/gotrain/kernels"
)

// The optimizers run the reference loops in float32, as PyTorch does for
// float32 parameters; only Adam's bias corrections 1-Beta^Step are computed
// in float64 (math.Pow) and then rounded.

// hyper rejects a hyper-parameter that is NaN, infinite or negative, as
// PyTorch's optimizers do.

// SGDUpdate implements kernels.Optimizers.
func (b *Backend) SGDUpdate(param, grad, vel kernels.Buffer, h kernels.SGDParams, n int) error {
	const op = "sgd_update"
	if err := kernels.CheckSGD(op, h); err != nil {
		return err
	}
	if err := checkN(op, n); err != nil {
		return err
	}
	ps, err := f32(op, "param", param, n)
	if err != nil {
		return err
	}
	gs, err := f32(op, "grad", grad, n)
	if err != nil {
		return err
	}
	var vs []float32
	if h.Momentum != 0 {
		vs, err = f32(op, "vel", vel, n) // required with momentum
	} else {
		vs, err = optF32(op, "vel", vel, n) // unused, checked if given
	}
	if err != nil {
		return err
	}
	t := b.pool.task(sgdRange)
	t.f[0], t.f[1], t.f[2], t.b = ps, gs, vs, h.Nesterov
	t.s[0], t.s[1], t.s[2] = h.LR, h.Momentum, h.WeightDecay
	b.pool.run(t, n, grainElementwise)
	return nil
}

func sgdRange(t *task, _, lo, hi int) {
	p, g := t.f[0][lo:hi], t.f[1][lo:hi]
	g = g[:len(p)]
	lr, mom, wd := t.s[0], t.s[1], t.s[2]
	if mom == 0 {
		for i, x := range p {
			p[i] = x - lr*(g[i]+wd*x)
		}
		return
	}
	v := t.f[2][lo:hi]
	v = v[:len(p)]
	if t.b { // Nesterov
		for i, x := range p {
			gi := g[i] + wd*x
			vi := mom*v[i] + gi
			v[i] = vi
			p[i] = x - lr*(gi+mom*vi)
		}
		return
	}
	for i, x := range p {
		vi := mom*v[i] + (g[i] + wd*x)
		v[i] = vi
		p[i] = x - lr*vi
	}
}

// AdamUpdate implements kernels.Optimizers.
func (b *Backend) AdamUpdate(param, grad, m, v kernels.Buffer, h kernels.AdamParams, n int) error {
	return b.adam("adam_update", param, grad, m, v, h, n, false)
}

// AdamWUpdate implements kernels.Optimizers.
func (b *Backend) AdamWUpdate(param, grad, m, v kernels.Buffer, h kernels.AdamParams, n int) error {
	return b.adam("adamw_update", param, grad, m, v, h, n, true)
}

func (b *Backend) adam(op string, param, grad, m, v kernels.Buffer, h kernels.AdamParams, n int, decoupled bool) error {
	if err := kernels.CheckAdam(op, h); err != nil {
		return err
	}
	if err := checkN(op, n); err != nil {
		return err
	}
	ps, err := f32(op, "param", param, n)
	if err != nil {
		return err
	}
	gs, err := f32(op, "grad", grad, n)
	if err != nil {
		return err
	}
	ms, err := f32(op, "m", m, n)
	if err != nil {
		return err
	}
	vs, err := f32(op, "v", v, n)
	if err != nil {
		return err
	}
	t := b.pool.task(adamRange)
	t.f[0], t.f[1], t.f[2], t.f[3], t.b = ps, gs, ms, vs, decoupled
	t.s[0], t.s[1], t.s[2], t.s[3], t.s[4] = h.LR, h.Beta1, h.Beta2, h.Eps, h.WeightDecay
	t.s[5], t.s[6] = h.BiasCorrections()
	b.pool.run(t, n, grainElementwise)
	return nil
}

func adamRange(t *task, _, lo, hi int) {
	p, g, m, v := t.f[0][lo:hi], t.f[1][lo:hi], t.f[2][lo:hi], t.f[3][lo:hi]
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	lr, b1, b2, eps, wd := t.s[0], t.s[1], t.s[2], t.s[3], t.s[4]
	bc1, bc2 := t.s[5], t.s[6]
	c1, c2 := 1-b1, 1-b2
	decoupled := t.b
	for i, x := range p {
		gi := g[i]
		if decoupled {
			x -= lr * wd * x
		} else {
			gi += wd * x
		}
		mi := b1*m[i] + c1*gi
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		mhat, vhat := mi/bc1, vi/bc2
		p[i] = x - lr*mhat/(float32(math.Sqrt(float64(vhat)))+eps)
	}
}
