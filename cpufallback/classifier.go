package cpufallback

import (
	"math"

	"github.com/gotrain/gotrain/kernels"
)

// ClassifierForwardBackward implements kernels.Classifier. Each row is
// overwritten in place by its softmax (exponentials and sum in float64, see
// softmaxRow), then scaled; the label's column is recomputed as
// dlossScale·(p - 1) from the float32 p, which is exact for p >= 1/2.
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
		m, s := softmaxRow(x, x)
		var pl float32
		if ok {
			pl = x[label]
			losses[r] = float32(float64(m) + math.Log(s) - float64(xl))
		} else {
			losses[r] = nan
		}
		for c := range x {
			x[c] *= scale
		}
		if ok {
			x[label] = scale * (pl - 1)
		}
	}
}
