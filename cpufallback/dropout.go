package cpufallback

import (
	"math"

	"github.com/gotrain/gotrain/kernels"
)

// DropoutForward implements kernels.Dropout. Element i's draw is
// kernels.DropoutUniform(seed, i) with i its global index, so the mask does
// not depend on how the work is split (TestDropoutHash checks the inlined
// hash against kernels.DropoutUniform). y may alias x.
func (b *Backend) DropoutForward(y, mask, x kernels.Buffer, p float32, seed uint64, n int) error {
	const op = "dropout_forward"
	if err := kernels.CheckDropout(op, p); err != nil {
		return err
	}
	if err := checkN(op, n); err != nil {
		return err
	}
	ys, err := f32(op, "y", y, n)
	if err != nil {
		return err
	}
	ms, err := f32(op, "mask", mask, n)
	if err != nil {
		return err
	}
	xs, err := f32(op, "x", x, n)
	if err != nil {
		return err
	}
	t := b.pool.task(dropoutRange)
	t.f[0], t.f[1], t.f[2], t.u = ys, ms, xs, seed
	// DropoutUniform(seed, i) is k/2²⁴ for the 24-bit integer k = z>>40 of
	// the hash, both exact in float32, so k/2²⁴ >= p exactly when
	// k >= ceil(p·2²⁴) (p·2²⁴ is exact in float64).
	t.n[0] = int(math.Ceil(float64(p) * (1 << 24)))
	t.s[0] = 1 / (1 - p)
	b.pool.run(t, n, grainElementwise)
	return nil
}

// dropoutRange draws the mask without branches or float conversions: a
// data-dependent branch would be mispredicted for a fraction p of elements.
func dropoutRange(t *task, _, lo, hi int) {
	y, mask, x := t.f[0][lo:hi], t.f[1][lo:hi], t.f[2][lo:hi]
	mask, x = mask[:len(y)], x[:len(y)]
	thr, scale, seed := uint64(t.n[0]), math.Float32bits(t.s[0]), t.u
	for i := range y {
		// kernels.DropoutUniform's SplitMix64 hash.
		z := seed + uint64(lo+i)*0x9E3779B97F4A7C15
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		// drop is 1 when z>>40 < thr, else 0 (both are below 2²⁵).
		drop := ((z >> 40) - thr) >> 63
		m := math.Float32frombits(scale & uint32(drop-1))
		mask[i] = m
		y[i] = x[i] * m
	}
}

// DropoutBackward implements kernels.Dropout.
func (b *Backend) DropoutBackward(dx, dy, mask kernels.Buffer, n int) error {
	const op = "dropout_backward"
	if err := checkN(op, n); err != nil {
		return err
	}
	dxs, err := optF32(op, "dx", dx, n)
	if err != nil {
		return err
	}
	dys, err := f32(op, "dy", dy, n)
	if err != nil {
		return err
	}
	ms, err := f32(op, "mask", mask, n)
	if err != nil || dxs == nil {
		return err
	}
	t := b.pool.task(mulAccRange)
	t.f[0], t.f[1], t.f[2] = dxs, dys, ms
	b.pool.run(t, n, grainElementwise)
	return nil
}

// mulAccRange: y[i] += a[i] * b[i] for t.f[0..2] = y, a, b.
func mulAccRange(t *task, _, lo, hi int) {
	y, a, bb := t.f[0][lo:hi], t.f[1][lo:hi], t.f[2][lo:hi]
	a, bb = a[:len(y)], bb[:len(y)]
	for i := range y {
		y[i] += a[i] * bb[i]
	}
}
