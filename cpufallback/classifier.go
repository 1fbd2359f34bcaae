package cpufallback

import (
	"math"

	"github.com/gotrain/gotrain/kernels"
)

// ClassifierForwardBackward implements kernels.Classifier in one pass per
// row plus the scaling: the exponentials (vexpShift, see vec.go) are
// summed in float64 and stored in place, then each is multiplied
// by dlossScale/z. The label's column is recomputed in float64 from its
// unrounded exponential as dlossScale·(p - 1).
func (b *Backend) ClassifierForwardBackward(losses, logits, labels kernels.Buffer, dlossScale float32, rows, V int) error {
	const op = "classifier_forward_backward"
	n, err := rowDims(op, rows, V)
	if err != nil {
		return err
	}
	ls, err := f32(op, "losses", losses, rows)
	if err != nil {
		return err
	}
	xs, err := f32(op, "logits", logits, n)
	if err != nil {
		return err
	}
	lbs, err := i32(op, "labels", labels, rows)
	if err != nil {
		return err
	}
	t := b.pool.task(classifierRows)
	t.f[0], t.f[1], t.i[0], t.n[0], t.s[0] = ls, xs, lbs, V, dlossScale
	b.pool.run(t, rows, max(1, (grainTranscendental+V-1)/max(V, 1)))
	return nil
}

func classifierRows(t *task, _, lo, hi int) {
	losses, logits, labels, V, scale := t.f[0], t.f[1], t.i[0], t.n[0], t.s[0]
	nan := float32(math.NaN())
	for r := lo; r < hi; r++ {
		if V == 0 { // no label is in range
			losses[r] = nan
			continue
		}
		x := logits[r*V : (r+1)*V]
		label := int(labels[r])
		ok := label >= 0 && label < V
		var xl float32
		if ok {
			xl = x[label]
		}
		mf := rowMax(x)
		m := float64(mf)
		z := vexpShift(x, x, 1, mf)
		k := float32(float64(scale) / z)
		for c := range x {
			x[c] *= k
		}
		if ok {
			losses[r] = float32(m + math.Log(z) - float64(xl))
			x[label] = float32(float64(scale) * (exp64(float64(xl)-m)/z - 1))
		} else {
			losses[r] = nan
		}
	}
}
