package cpufallback

import "github.com/gotrain/gotrain/kernels"

// grainElementwise is the smallest chunk worth a worker for a streaming
// elementwise kernel (about 16 µs of work).
const grainElementwise = 1 << 15

// Fill implements kernels.Memory.
func (b *Backend) Fill(x kernels.Buffer, v float32, n int) error {
	xs, err := f32("fill", "x", x, n)
	if err != nil {
		return err
	}
	t := b.pool.task(fillRange)
	t.f[0], t.s[0] = xs, v
	b.pool.run(t, n, grainElementwise)
	return nil
}

func fillRange(t *task, _, lo, hi int) {
	x, v := t.f[0][lo:hi], t.s[0]
	for i := range x {
		x[i] = v
	}
}

// Copy implements kernels.Memory.
func (b *Backend) Copy(dst, src kernels.Buffer, n int) error {
	d, err := f32("copy", "dst", dst, n)
	if err != nil {
		return err
	}
	s, err := f32("copy", "src", src, n)
	if err != nil {
		return err
	}
	copy(d, s)
	return nil
}

// Axpy implements kernels.Memory.
func (b *Backend) Axpy(y kernels.Buffer, alpha float32, x kernels.Buffer, n int) error {
	ys, err := f32("axpy", "y", y, n)
	if err != nil {
		return err
	}
	xs, err := f32("axpy", "x", x, n)
	if err != nil {
		return err
	}
	t := b.pool.task(axpyRange)
	t.f[0], t.f[1], t.s[0] = ys, xs, alpha
	b.pool.run(t, n, grainElementwise)
	return nil
}

func axpyRange(t *task, _, lo, hi int) {
	y, x, a := t.f[0][lo:hi], t.f[1][lo:hi], t.s[0]
	for i := range y {
		y[i] += a * x[i]
	}
}
