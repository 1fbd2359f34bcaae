package cpufallback

import (
	"math"

	"github.com/gotrain/gotrain/kernels"
)

var _ kernels.Transformer = (*Backend)(nil)

// embeddingBlock is the number of channels EmbeddingBackward gives a unit of
// work; the position gradient of one block is summed on the stack.
const embeddingBlock = 64

// EmbeddingForward implements kernels.Embedding. Rows of out are split
// across the workers.
func (b *Backend) EmbeddingForward(out, tokens, wte, wpe kernels.Buffer, B, T, C int) error {
	const op = "embedding_forward"
	bt, n, err := embeddingDims(op, B, T, C)
	if err != nil {
		return err
	}
	os, err := f32(op, "out", out, n)
	if err != nil {
		return err
	}
	toks, err := i32(op, "tokens", tokens, bt)
	if err != nil {
		return err
	}
	ws, V, err := embeddingTable(op, "wte", wte, C)
	if err != nil {
		return err
	}
	ps, err := f32(op, "wpe", wpe, T*C)
	if err != nil || n == 0 {
		return err
	}
	t := b.pool.task(embeddingRows)
	t.f[0], t.f[1], t.f[2], t.i[0] = os, ws, ps, toks
	t.n[0], t.n[1], t.n[2] = T, C, V
	b.pool.run(t, bt, rowGrain(C))
	return nil
}

// embeddingDims validates B, T and C and returns B·T and B·T·C.
func embeddingDims(op string, B, T, C int) (bt, n int, err error) {
	if bt, err = kernels.CheckDims(op, "B T", B, T); err != nil {
		return 0, 0, err
	}
	n, err = kernels.CheckDims(op, "B T C", B, T, C)
	return bt, n, err
}

// embeddingTable checks a float32 [V, C] table, V = Len()/C, and returns its
// first V·C elements and V (0 when C is 0).
func embeddingTable(op, what string, buf kernels.Buffer, C int) ([]float32, int, error) {
	if err := kernels.CheckF32(op, what, buf, 0); err != nil {
		return nil, 0, err
	}
	V := 0
	if C > 0 {
		V = buf.Len() / C
	}
	s, err := f32(op, what, buf, V*C)
	return s, V, err
}

func embeddingRows(t *task, _, lo, hi int) {
	out, wte, wpe, tokens := t.f[0], t.f[1], t.f[2], t.i[0]
	T, C, V := t.n[0], t.n[1], t.n[2]
	nan := float32(math.NaN())
	for r := lo; r < hi; r++ {
		o := out[r*C : (r+1)*C]
		tok := int(tokens[r])
		if tok < 0 || tok >= V {
			for c := range o {
				o[c] = nan
			}
			continue
		}
		w := wte[tok*C : (tok+1)*C]
		p := wpe[(r%T)*C : (r%T+1)*C]
		w, p = w[:len(o)], p[:len(o)]
		for c := range o {
			o[c] = w[c] + p[c]
		}
	}
}

// EmbeddingBackward implements kernels.Embedding. The channels are split
// into blocks of embeddingBlock and the blocks across the workers; each
// block walks all (b, t) in order, adding each row of dout to its token's
// row of dwte (the reference loop's float32 additions, in its order) and
// summing the rows of each position over b in float64 before adding them to
// dwpe once. No two workers touch the same element, and the result does not
// depend on the number of workers.
func (b *Backend) EmbeddingBackward(dwte, dwpe, dout, tokens kernels.Buffer, B, T, C int) error {
	const op = "embedding_backward"
	bt, n, err := embeddingDims(op, B, T, C)
	if err != nil {
		return err
	}
	var ws []float32
	V := 0
	if h, ok := dwte.(*Buffer); dwte != nil && (!ok || h != nil) {
		if ws, V, err = embeddingTable(op, "dwte", dwte, C); err != nil {
			return err
		}
	}
	ps, err := optF32(op, "dwpe", dwpe, T*C)
	if err != nil {
		return err
	}
	ds, err := f32(op, "dout", dout, n)
	if err != nil {
		return err
	}
	toks, err := i32(op, "tokens", tokens, bt)
	if err != nil || n == 0 || (ws == nil && ps == nil) {
		return err
	}
	t := b.pool.task(embeddingBackwardBlocks)
	t.f[0], t.f[1], t.f[2], t.i[0] = ws, ps, ds, toks
	t.n[0], t.n[1], t.n[2], t.n[3] = B, T, C, V
	t.b = ws != nil
	blocks := (C + embeddingBlock - 1) / embeddingBlock
	b.pool.run(t, blocks, max(1, grainRows/(bt*embeddingBlock)))
	return nil
}

func embeddingBackwardBlocks(t *task, _, lo, hi int) {
	dwte, dwpe, dout, tokens := t.f[0], t.f[1], t.f[2], t.i[0]
	B, T, C, V := t.n[0], t.n[1], t.n[2], t.n[3]
	for blk := lo; blk < hi; blk++ {
		c0 := blk * embeddingBlock
		w := min(embeddingBlock, C-c0)
		if t.b {
			for r, tok32 := range tokens[:B*T] {
				tok := int(tok32)
				if tok < 0 || tok >= V {
					continue
				}
				d := dwte[tok*C+c0 : tok*C+c0+w]
				accumulate(d, dout[r*C+c0:r*C+c0+w])
			}
		}
		if dwpe == nil {
			continue
		}
		for tt := 0; tt < T; tt++ {
			var acc [embeddingBlock]float64
			a := acc[:w]
			for bb := 0; bb < B; bb++ {
				row := dout[(bb*T+tt)*C+c0 : (bb*T+tt)*C+c0+w]
				row = row[:len(a)]
				for j, v := range row {
					a[j] += float64(v)
				}
			}
			p := dwpe[tt*C+c0 : tt*C+c0+w]
			for j, s := range a {
				p[j] = float32(float64(p[j]) + s)
			}
		}
	}
}
