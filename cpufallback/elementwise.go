package cpufallback

import (
	"github.com/gotrain/gotrain/kernels"
)

// grainRows is the number of elements a row-wise kernel (softmax,
// cross-entropy, bias add, argmax) gives each chunk at least.
const grainRows = 1 << 15

// grainTranscendental is the smallest chunk worth a worker for an
// elementwise kernel that calls exp or tanh per element (about 10 ns each,
// so still tens of microseconds of work).
const grainTranscendental = 1 << 13

// checkN rejects a negative element count.
func checkN(op string, n int) error { return kernels.CheckN(op, n) }

// rowDims validates the dimensions of a row-wise kernel and returns
// rows*cols, the length its [rows, cols] buffers must have.
func rowDims(op string, rows, cols int) (int, error) { return kernels.CheckRows(op, rows, cols) }

// rowGrain is the number of rows per chunk that gives each chunk at least
// grainRows elements.
func rowGrain(cols int) int {
	if cols <= 0 {
		return grainRows
	}
	return max(1, (grainRows+cols-1)/cols)
}

// binary checks y, a and b (n elements each) and runs fn over them.
func (b *Backend) binary(op string, y, a, bb kernels.Buffer, n int, fn func(t *task, chunk, lo, hi int)) error {
	if err := checkN(op, n); err != nil {
		return err
	}
	ys, err := f32(op, "y", y, n)
	if err != nil {
		return err
	}
	as, err := f32(op, "a", a, n)
	if err != nil {
		return err
	}
	bs, err := f32(op, "b", bb, n)
	if err != nil {
		return err
	}
	t := b.pool.task(fn)
	t.f[0], t.f[1], t.f[2] = ys, as, bs
	b.pool.run(t, n, grainElementwise)
	return nil
}

// Add implements kernels.Elementwise.
func (b *Backend) Add(y, a, bb kernels.Buffer, n int) error {
	return b.binary("add", y, a, bb, n, addRange)
}

func addRange(t *task, _, lo, hi int) {
	y := t.f[0][lo:hi]
	a, bb := t.f[1][lo:hi], t.f[2][lo:hi]
	a, bb = a[:len(y)], bb[:len(y)]
	for i := range y {
		y[i] = a[i] + bb[i]
	}
}

// AddBackward implements kernels.Elementwise.
func (b *Backend) AddBackward(da, db, dy kernels.Buffer, n int) error {
	const op = "add_backward"
	if err := checkN(op, n); err != nil {
		return err
	}
	das, err := optF32(op, "da", da, n)
	if err != nil {
		return err
	}
	dbs, err := optF32(op, "db", db, n)
	if err != nil {
		return err
	}
	dys, err := f32(op, "dy", dy, n)
	if err != nil {
		return err
	}
	if das == nil && dbs == nil {
		return nil
	}
	t := b.pool.task(addBackwardRange)
	t.f[0], t.f[1], t.f[2] = das, dbs, dys
	b.pool.run(t, n, grainElementwise)
	return nil
}

func addBackwardRange(t *task, _, lo, hi int) {
	dy := t.f[2][lo:hi]
	if t.f[0] != nil {
		accumulate(t.f[0][lo:hi], dy)
	}
	if t.f[1] != nil {
		accumulate(t.f[1][lo:hi], dy)
	}
}

// accumulate adds x into y elementwise.
func accumulate(y, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}

// Mul implements kernels.Elementwise.
func (b *Backend) Mul(y, a, bb kernels.Buffer, n int) error {
	return b.binary("mul", y, a, bb, n, mulRange)
}

func mulRange(t *task, _, lo, hi int) {
	y := t.f[0][lo:hi]
	a, bb := t.f[1][lo:hi], t.f[2][lo:hi]
	a, bb = a[:len(y)], bb[:len(y)]
	for i := range y {
		y[i] = a[i] * bb[i]
	}
}

// MulBackward implements kernels.Elementwise.
func (b *Backend) MulBackward(da, db, dy, a, bb kernels.Buffer, n int) error {
	const op = "mul_backward"
	if err := checkN(op, n); err != nil {
		return err
	}
	das, err := optF32(op, "da", da, n)
	if err != nil {
		return err
	}
	dbs, err := optF32(op, "db", db, n)
	if err != nil {
		return err
	}
	dys, err := f32(op, "dy", dy, n)
	if err != nil {
		return err
	}
	as, err := f32(op, "a", a, n)
	if err != nil {
		return err
	}
	bs, err := f32(op, "b", bb, n)
	if err != nil {
		return err
	}
	if das == nil && dbs == nil {
		return nil
	}
	t := b.pool.task(mulBackwardRange)
	t.f[0], t.f[1], t.f[2], t.f[3], t.f[4] = das, dbs, dys, as, bs
	b.pool.run(t, n, grainElementwise)
	return nil
}

func mulBackwardRange(t *task, _, lo, hi int) {
	dy := t.f[2][lo:hi]
	if t.f[0] != nil { // da += dy * b
		da, bb := t.f[0][lo:hi], t.f[4][lo:hi]
		da, bb = da[:len(dy)], bb[:len(dy)]
		for i, g := range dy {
			da[i] += g * bb[i]
		}
	}
	if t.f[1] != nil { // db += dy * a
		db, a := t.f[1][lo:hi], t.f[3][lo:hi]
		db, a = db[:len(dy)], a[:len(dy)]
		for i, g := range dy {
			db[i] += g * a[i]
		}
	}
}

// Scale implements kernels.Elementwise.
func (b *Backend) Scale(y, x kernels.Buffer, alpha float32, n int) error {
	const op = "scale"
	if err := checkN(op, n); err != nil {
		return err
	}
	ys, err := f32(op, "y", y, n)
	if err != nil {
		return err
	}
	xs, err := f32(op, "x", x, n)
	if err != nil {
		return err
	}
	t := b.pool.task(scaleRange)
	t.f[0], t.f[1], t.s[0] = ys, xs, alpha
	b.pool.run(t, n, grainElementwise)
	return nil
}

func scaleRange(t *task, _, lo, hi int) {
	y, x, a := t.f[0][lo:hi], t.f[1][lo:hi], t.s[0]
	x = x[:len(y)]
	for i := range y {
		y[i] = a * x[i]
	}
}

// ScaleBackward implements kernels.Elementwise.
func (b *Backend) ScaleBackward(dx, dy kernels.Buffer, alpha float32, n int) error {
	const op = "scale_backward"
	if err := checkN(op, n); err != nil {
		return err
	}
	dxs, err := optF32(op, "dx", dx, n)
	if err != nil {
		return err
	}
	dys, err := f32(op, "dy", dy, n)
	if err != nil || dxs == nil {
		return err
	}
	// dx += alpha*dy is Axpy's loop.
	t := b.pool.task(axpyRange)
	t.f[0], t.f[1], t.s[0] = dxs, dys, alpha
	b.pool.run(t, n, grainElementwise)
	return nil
}
