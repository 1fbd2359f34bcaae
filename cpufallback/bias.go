package cpufallback

import "github.com/gotrain/gotrain/kernels"

// BiasAdd implements kernels.MatMul's bias add; y may alias x.
func (b *Backend) BiasAdd(y, x, bias kernels.Buffer, rows, cols int) error {
	const op = "bias_add"
	n, err := rowDims(op, rows, cols)
	if err != nil {
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
	bs, err := f32(op, "bias", bias, cols)
	if err != nil || n == 0 {
		return err
	}
	t := b.pool.task(biasAddRows)
	t.f[0], t.f[1], t.f[2], t.n[0] = ys, xs, bs, cols
	b.pool.run(t, rows, rowGrain(cols))
	return nil
}

func biasAddRows(t *task, _, lo, hi int) {
	cols, bias := t.n[0], t.f[2]
	for r := lo; r < hi; r++ {
		y := t.f[0][r*cols : (r+1)*cols]
		x := t.f[1][r*cols : (r+1)*cols]
		x, bias := x[:len(y)], bias[:len(y)]
		for c := range y {
			y[c] = x[c] + bias[c]
		}
	}
}

// biasBlock is the number of columns BiasAddBackward sums at a time, in a
// float64 accumulator on the stack.
const biasBlock = 64

// BiasAddBackward implements kernels.MatMul's bias gradient. Column sums are
// accumulated in float64, row by row in order, and added to dbias once. Wide
// matrices are split into column blocks; narrow, tall ones (few columns,
// many rows) into row chunks whose partial sums go to t.part and are added
// in chunk order. Either way the result does not depend on scheduling.
func (b *Backend) BiasAddBackward(dbias, dy kernels.Buffer, rows, cols int) error {
	const op = "bias_add_backward"
	n, err := rowDims(op, rows, cols)
	if err != nil {
		return err
	}
	dbs, err := optF32(op, "dbias", dbias, cols)
	if err != nil {
		return err
	}
	dys, err := f32(op, "dy", dy, n)
	if err != nil || dbs == nil || n == 0 {
		return err
	}
	w := b.pool.workers
	// Column blocks: each chunk at least biasBlock columns and grainRows
	// elements.
	colGrain := max(biasBlock, (grainRows+rows-1)/rows)
	kCol := min(w, (cols+colGrain-1)/colGrain, maxChunks)
	// Row chunks: each needs cols slots of t.part.
	kRow := min(w, maxChunks/cols, n/grainRows)
	if kRow >= 2 && kRow > kCol {
		t := b.pool.task(biasBackwardRowChunks)
		t.f[0], t.f[1], t.n[0] = dbs, dys, cols
		b.pool.runChunks(t, rows, kRow)
		for c := range dbs {
			var s float64
			for k := 0; k < kRow; k++ {
				s += t.part[k*cols+c]
			}
			dbs[c] = float32(float64(dbs[c]) + s)
		}
		return nil
	}
	t := b.pool.task(biasBackwardCols)
	t.f[0], t.f[1], t.n[0], t.n[1] = dbs, dys, rows, cols
	b.pool.run(t, cols, colGrain)
	return nil
}

// biasBackwardCols sums columns [lo, hi) over all rows into dbias.
func biasBackwardCols(t *task, _, lo, hi int) {
	dbias, dy, rows, cols := t.f[0], t.f[1], t.n[0], t.n[1]
	for c0 := lo; c0 < hi; c0 += biasBlock {
		w := min(biasBlock, hi-c0)
		var acc [biasBlock]float64
		a := acc[:w]
		for r := 0; r < rows; r++ {
			row := dy[r*cols+c0 : r*cols+c0+w]
			row = row[:len(a)]
			for j, v := range row {
				a[j] += float64(v)
			}
		}
		db := dbias[c0 : c0+w]
		for j, s := range a {
			db[j] = float32(float64(db[j]) + s)
		}
	}
}

// biasBackwardRowChunks sums rows [lo, hi) of every column into
// t.part[chunk*cols:(chunk+1)*cols].
func biasBackwardRowChunks(t *task, chunk, lo, hi int) {
	dy, cols := t.f[1], t.n[0]
	// Sum on the stack, not in t.part, so that chunks do not share cache
	// lines while they run.
	var acc [maxChunks]float64
	a := acc[:cols]
	for r := lo; r < hi; r++ {
		row := dy[r*cols : (r+1)*cols]
		row = row[:len(a)]
		for j, v := range row {
			a[j] += float64(v)
		}
	}
	copy(t.part[chunk*cols:(chunk+1)*cols], a)
}
