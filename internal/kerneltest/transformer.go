package kerneltest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// The tests of kernels.Transformer (embedding, layer norm, attention, fused
// classifier). They take a kernels.Backend and skip when it does not
// implement kernels.Transformer, so that a backend can run them before it
// has the kernels.

// TransformerAll returns the tests of kernels.Transformer.
func TransformerAll() []Test {
	return []Test{
		{"EmbeddingForward", EmbeddingForward},
		{"EmbeddingBackward", EmbeddingBackward},
		{"LayerNormForward", LayerNormForward},
		{"LayerNormBackward", LayerNormBackward},
		{"AttentionForward", AttentionForward},
		{"AttentionBackward", AttentionBackward},
		{"ClassifierForwardBackward", ClassifierForwardBackward},
		{"TransformerBadInputs", TransformerBadInputs},
	}
}

// RunTransformer runs every test of TransformerAll as a subtest on b.
func RunTransformer(t *testing.T, b kernels.Backend) {
	for _, tc := range TransformerAll() {
		t.Run(tc.Name, func(t *testing.T) { tc.Fn(t, b) })
	}
}

// transformerOf returns b's transformer kernels, skipping the test when b
// has none.
func transformerOf(t *testing.T, b kernels.Backend) kernels.Transformer {
	t.Helper()
	tr, ok := b.(kernels.Transformer)
	if !ok {
		t.Skipf("backend %s does not implement kernels.Transformer", b.Name())
	}
	return tr
}

// accumRef is the float64 reference of a backward kernel that accumulates
// sums into a pre-filled buffer, with the tolerance of a float32 sum of the
// same terms in any order (the prefill counts as a term): see sumTol.
type accumRef struct {
	sum, peak []float64
	n         []int
}

func newAccumRef(prefill []float32) *accumRef {
	a := &accumRef{sum: to64(prefill), peak: make([]float64, len(prefill)), n: make([]int, len(prefill))}
	for i, v := range a.sum {
		a.peak[i] = math.Abs(v)
	}
	return a
}

func (a *accumRef) add(i int, v float64) {
	a.sum[i] += v
	a.n[i]++
	a.peak[i] = max(a.peak[i], math.Abs(a.sum[i]), math.Abs(v))
}

func (a *accumRef) tol(i int) float64 {
	return 1e-6 + 6*u*(math.Sqrt(float64(a.n[i]+1))+1)*a.peak[i]
}

func (a *accumRef) compare(t *testing.T, what string, got []float32) bool {
	t.Helper()
	return compare(t, what, got, a.sum, a.tol)
}

// ---------------------------------------------------------------------------
// Embedding

// embeddingSizes are {B, T, C, V}. C stays above the guard length, so that a
// guarded wte of V·C+guard elements still has V = Len()/C rows. The last size
// is above the CPU pool's row grain.
var embeddingSizes = [][4]int{{1, 1, 8, 50}, {2, 5, 37, 257}, {3, 17, 64, 50}, {8, 64, 130, 257}}

// embeddingTokens returns n tokens in [0, V), with the out-of-range tokens
// -1, V and 1<<30 at positions 1, 2 and n-1 when n >= 4.
func embeddingTokens(r *rand.Rand, n, V int) []int32 {
	tok := make([]int32, n)
	for i := range tok {
		tok[i] = int32(r.IntN(V))
	}
	if n >= 4 {
		tok[1], tok[2], tok[n-1] = -1, int32(V), 1<<30
	}
	return tok
}

// EmbeddingForward checks out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:], and a
// NaN row (with no crash) for a token out of range.
func EmbeddingForward(t *testing.T, b kernels.Backend) {
	tr := transformerOf(t, b)
	h := newHarness(t, b)
	r := newRand(100)
	for _, sz := range embeddingSizes {
		B, T, C, V := sz[0], sz[1], sz[2], sz[3]
		name := fmt.Sprintf("embedding_forward B=%d T=%d C=%d V=%d", B, T, C, V)
		toks := embeddingTokens(r, B*T, V)
		wte, wpe := normal(r, V*C, 1), normal(r, (T+3)*C, 1) // wpe has spare rows
		tb, wteb, wpeb, ob := h.inI32(toks), h.in(wte), h.in(wpe), h.out(B*T*C)
		h.run(name, func() error { return tr.EmbeddingForward(ob, tb, wteb, wpeb, B, T, C) })
		want := make([]float64, B*T*C)
		for bt, tok := range toks {
			for c := 0; c < C; c++ {
				if validLabel(tok, V) {
					want[bt*C+c] = float64(wte[int(tok)*C+c]) + float64(wpe[(bt%T)*C+c])
				} else {
					want[bt*C+c] = math.NaN()
				}
			}
		}
		compareAR(t, name, h.read(name, ob), want, 0, 2*u)
		compareExact(t, name+" wte", h.read(name+" wte", wteb), wte)
	}
}

// EmbeddingBackward checks dwte[tok,:] += dout[b,t,:] and
// dwpe[t,:] += Σ_b dout[b,t,:] against float64 sums and finite differences
// of L = Σ dout·out(wte, wpe), with heavily repeated tokens and tokens out of
// range (which contribute nothing); that each gradient may be nil; and that
// two runs give the same bits.
func EmbeddingBackward(t *testing.T, b kernels.Backend) {
	tr := transformerOf(t, b)
	h := newHarness(t, b)
	r := newRand(101)
	for si, sz := range embeddingSizes {
		B, T, C, V := sz[0], sz[1], sz[2], sz[3]
		name := fmt.Sprintf("embedding_backward B=%d T=%d C=%d V=%d", B, T, C, V)
		toks := embeddingTokens(r, B*T, V)
		dout := normal(r, B*T*C, 1)
		dwte0, dwpe0 := uniform(r, V*C, -1, 1), uniform(r, (T+2)*C, -1, 1)
		doutb, tb := h.in(dout), h.inI32(toks)

		refW, refP := newAccumRef(dwte0), newAccumRef(dwpe0)
		for bt, tok := range toks {
			for c := 0; c < C; c++ {
				if validLabel(tok, V) {
					refW.add(int(tok)*C+c, float64(dout[bt*C+c]))
				}
			}
		}
		for tt := 0; tt < T; tt++ {
			for c := 0; c < C; c++ {
				var s float64
				for bb := 0; bb < B; bb++ {
					s += float64(dout[(bb*T+tt)*C+c])
				}
				refP.add(tt*C+c, s)
			}
		}

		run := func(variant string, withW, withP bool) (gotW, gotP []float32) {
			var dwteb, dwpeb kernels.Buffer
			if withW {
				dwteb = h.in(dwte0)
			}
			if withP {
				dwpeb = h.in(dwpe0)
			}
			h.run(name+variant, func() error { return tr.EmbeddingBackward(dwteb, dwpeb, doutb, tb, B, T, C) })
			if withW {
				gotW = h.read(name+variant+" dwte", dwteb)
				refW.compare(t, name+variant+" dwte", gotW)
			}
			if withP {
				gotP = h.read(name+variant+" dwpe", dwpeb)
				refP.compare(t, name+variant+" dwpe", gotP)
			}
			return gotW, gotP
		}
		gotW, gotP := run("", true, true)

		// Finite differences of L = Σ dout·(wte[tok] + wpe[t]) (linear, so
		// any point will do).
		wte, wpe := to64(normal(r, V*C, 1)), to64(normal(r, (T+2)*C, 1))
		lossW := func(i int, v float64) float64 {
			tokI, c := i/C, i%C
			var s float64
			for bt, tok := range toks {
				if int(tok) == tokI {
					s += float64(dout[bt*C+c]) * (v + wpe[(bt%T)*C+c])
				}
			}
			return s
		}
		checkFD(t, name+" dwte", wte, contribution(gotW, dwte0), fdIndices(r, V*C, nil), lossW, 1e-5, 1e-4)
		lossP := func(i int, v float64) float64 {
			tt, c := i/C, i%C
			if tt >= T {
				return 0
			}
			var s float64
			for bb := 0; bb < B; bb++ {
				bt := bb*T + tt
				if validLabel(toks[bt], V) {
					s += float64(dout[bt*C+c]) * (wte[int(toks[bt])*C+c] + v)
				} else {
					s += float64(dout[bt*C+c]) * v // the NaN row still depends on wpe
				}
			}
			return s
		}
		checkFD(t, name+" dwpe", wpe, contribution(gotP, dwpe0), fdIndices(r, (T+2)*C, nil), lossP, 1e-5, 1e-4)

		if si == 1 {
			run(" (dwpe nil)", true, false)
			run(" (dwte nil)", false, true)
		}
		if si == len(embeddingSizes)-1 {
			againW, againP := run(" (again)", true, true)
			compareExact(t, name+" dwte deterministic", againW, gotW)
			compareExact(t, name+" dwpe deterministic", againP, gotP)
		}
	}
}

// ---------------------------------------------------------------------------
// LayerNorm

// layerNormSizes are {rows, C}; the last two are above the CPU pool's row
// grain, one of them GPT-2's width.
var layerNormSizes = [][2]int{{1, 1}, {3, 37}, {17, 129}, {300, 130}, {48, 768}}

const layerNormEps = 1e-5

// layerNormInput returns rows×C values whose rows have varied offsets and
// spreads (offset 5, spread 0.1 tests the variance's cancellation), and
// weights and biases near 1 and 0.
func layerNormInput(r *rand.Rand, rows, C int) (x, w, bias []float32) {
	x = normal(r, rows*C, 1)
	for rr := 0; rr < rows; rr++ {
		off, sc := []float32{0, 5, -3, 0.5}[rr%4], []float32{1, 0.1, 10, 2}[rr%4]
		row := x[rr*C : (rr+1)*C]
		for c := range row {
			row[c] = off + sc*row[c]
		}
	}
	return x, uniform(r, C, 0.5, 1.5), uniform(r, C, -1, 1)
}

// layerNormStats returns the float64 mean and rstd of a row.
func layerNormStats(x []float64, eps float64) (m, s float64) {
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	var v2 float64
	for _, v := range x {
		v2 += (v - m) * (v - m)
	}
	return m, 1 / math.Sqrt(v2/float64(len(x))+eps)
}

// LayerNormForward checks out = (x - mean)·rstd·weight + bias and the saved
// mean and rstd, on rows whose mean is large next to their spread.
func LayerNormForward(t *testing.T, b kernels.Backend) {
	tr := transformerOf(t, b)
	h := newHarness(t, b)
	r := newRand(110)
	for _, sz := range layerNormSizes {
		rows, C := sz[0], sz[1]
		name := fmt.Sprintf("layernorm_forward rows=%d C=%d", rows, C)
		x, w, bias := layerNormInput(r, rows, C)
		xb, wb, bb := h.in(x), h.in(w), h.in(bias)
		ob, mb, rb := h.out(rows*C), h.out(rows), h.out(rows)
		h.run(name, func() error { return tr.LayerNormForward(ob, mb, rb, xb, wb, bb, rows, C, layerNormEps) })

		x64 := to64(x)
		wantO, tolO := make([]float64, rows*C), make([]float64, rows*C)
		wantM, tolM := make([]float64, rows), make([]float64, rows)
		wantS, tolS := make([]float64, rows), make([]float64, rows)
		// A float32 sum of C terms may be off by about u·√C of its largest
		// partial; the rest is the rounding of each step.
		sq := math.Sqrt(float64(C)) + 1
		for rr := 0; rr < rows; rr++ {
			row := x64[rr*C : (rr+1)*C]
			m, s := layerNormStats(row, layerNormEps)
			var xmax float64
			for _, v := range row {
				xmax = max(xmax, math.Abs(v))
			}
			wantM[rr], tolM[rr] = m, 1e-7+4*u*sq*xmax
			wantS[rr], tolS[rr] = s, 8*u*sq*s
			for c, v := range row {
				norm := (v - m) * s
				i := rr*C + c
				wantO[i] = norm*float64(w[c]) + float64(bias[c])
				tolO[i] = 1e-6 + math.Abs(float64(w[c]))*(s*(tolM[rr]+2*u*(math.Abs(v)+math.Abs(m)))+math.Abs(norm)*8*u*sq) +
					4*u*(math.Abs(norm*float64(w[c]))+math.Abs(float64(bias[c])))
			}
		}
		compare(t, name+" mean", h.read(name+" mean", mb), wantM, func(i int) float64 { return tolM[i] })
		compare(t, name+" rstd", h.read(name+" rstd", rb), wantS, func(i int) float64 { return tolS[i] })
		compare(t, name+" out", h.read(name+" out", ob), wantO, func(i int) float64 { return tolO[i] })
	}
}

// LayerNormBackward checks llm.c's layernorm_backward (dx, dweight, dbias)
// against a float64 evaluation of the contract's loop and against finite
// differences of L = Σ dout·LayerNorm(x, weight, bias); that each gradient
// may be nil; and that two runs give the same bits.
func LayerNormBackward(t *testing.T, b kernels.Backend) {
	tr := transformerOf(t, b)
	h := newHarness(t, b)
	r := newRand(111)
	for si, sz := range layerNormSizes {
		rows, C := sz[0], sz[1]
		name := fmt.Sprintf("layernorm_backward rows=%d C=%d", rows, C)
		x, w, bias := layerNormInput(r, rows, C)
		x64 := to64(x)
		mean, rstd := make([]float32, rows), make([]float32, rows)
		for rr := 0; rr < rows; rr++ {
			m, s := layerNormStats(x64[rr*C:(rr+1)*C], layerNormEps)
			mean[rr], rstd[rr] = float32(m), float32(s)
		}
		dout := normal(r, rows*C, 1)
		dx0, dw0, db0 := uniform(r, rows*C, -1, 1), uniform(r, C, -1, 1), uniform(r, C, -1, 1)
		doutb, xb, wb, mb, rb := h.in(dout), h.in(x), h.in(w), h.in(mean), h.in(rstd)

		// Reference, from the saved float32 mean and rstd as the kernel sees them.
		contrib, tolX := make([]float64, rows*C), make([]float64, rows*C)
		refW, refB := newAccumRef(dw0), newAccumRef(db0)
		sq := math.Sqrt(float64(C)) + 1
		for rr := 0; rr < rows; rr++ {
			m, s := float64(mean[rr]), float64(rstd[rr])
			var gm, gnm, agm, agnm float64
			for c := 0; c < C; c++ {
				i := rr*C + c
				norm := (x64[i] - m) * s
				dn := float64(w[c]) * float64(dout[i])
				gm += dn
				gnm += dn * norm
				agm += math.Abs(dn)
				agnm += math.Abs(dn * norm)
			}
			gm, gnm, agm, agnm = gm/float64(C), gnm/float64(C), agm/float64(C), agnm/float64(C)
			for c := 0; c < C; c++ {
				i := rr*C + c
				norm := (x64[i] - m) * s
				dn := float64(w[c]) * float64(dout[i])
				contrib[i] = s * (dn - gm - norm*gnm)
				tolX[i] = 1e-6 + 8*u*sq*s*(math.Abs(dn)+agm+(math.Abs(norm)+1)*agnm) + 2*u*math.Abs(float64(dx0[i])+contrib[i])
				refW.add(c, norm*float64(dout[i]))
				refB.add(c, float64(dout[i]))
			}
		}

		run := func(variant string, withX, withW, withB bool) (gotX, gotW, gotB []float32) {
			var dxb, dwb, dbb kernels.Buffer
			if withX {
				dxb = h.in(dx0)
			}
			if withW {
				dwb = h.in(dw0)
			}
			if withB {
				dbb = h.in(db0)
			}
			h.run(name+variant, func() error {
				return tr.LayerNormBackward(dxb, dwb, dbb, doutb, xb, wb, mb, rb, rows, C)
			})
			if withX {
				gotX = h.read(name+variant+" dx", dxb)
				want := make([]float64, rows*C)
				for i := range want {
					want[i] = float64(dx0[i]) + contrib[i]
				}
				compare(t, name+variant+" dx", gotX, want, func(i int) float64 { return tolX[i] })
			}
			if withW {
				gotW = h.read(name+variant+" dweight", dwb)
				refW.compare(t, name+variant+" dweight", gotW)
			}
			if withB {
				gotB = h.read(name+variant+" dbias", dbb)
				refB.compare(t, name+variant+" dbias", gotB)
			}
			return gotX, gotW, gotB
		}
		gotX, gotW, gotB := run("", true, true, true)

		// Finite differences of L = Σ dout·LayerNorm(x, w, bias), with the
		// statistics recomputed from the perturbed x.
		w64, b64 := to64(w), to64(bias)
		rowLoss := func(rr int, row []float64) float64 {
			m, s := layerNormStats(row, layerNormEps)
			var l float64
			for c, v := range row {
				l += float64(dout[rr*C+c]) * ((v-m)*s*w64[c] + b64[c])
			}
			return l
		}
		lossX := func(i int, v float64) float64 {
			rr := i / C
			row := append([]float64(nil), x64[rr*C:(rr+1)*C]...)
			row[i%C] = v
			return rowLoss(rr, row)
		}
		checkFD(t, name+" dx", x64, contribution(gotX, dx0), fdIndices(r, rows*C, nil), lossX, 1e-4, 1e-3)
		colLoss := func(c int, wc, bc float64) float64 {
			var l float64
			for rr := 0; rr < rows; rr++ {
				m, s := layerNormStats(x64[rr*C:(rr+1)*C], layerNormEps)
				l += float64(dout[rr*C+c]) * ((x64[rr*C+c]-m)*s*wc + bc)
			}
			return l
		}
		checkFD(t, name+" dweight", w64, contribution(gotW, dw0), fdIndices(r, C, nil),
			func(c int, v float64) float64 { return colLoss(c, v, b64[c]) }, 1e-4, 1e-4)
		checkFD(t, name+" dbias", b64, contribution(gotB, db0), fdIndices(r, C, nil),
			func(c int, v float64) float64 { return colLoss(c, w64[c], v) }, 1e-4, 1e-4)

		if si == 1 {
			run(" (dx only)", true, false, false)
			run(" (dweight only)", false, true, false)
			run(" (dbias only)", false, false, true)
		}
		if si == len(layerNormSizes)-2 {
			againX, againW, againB := run(" (again)", true, true, true)
			compareExact(t, name+" dx deterministic", againX, gotX)
			compareExact(t, name+" dweight deterministic", againW, gotW)
			compareExact(t, name+" dbias deterministic", againB, gotB)
		}
	}
}

// ---------------------------------------------------------------------------
// Attention

// attnCase is one attention test size. qStd scales the queries (a larger one
// makes the softmax peakier); ramp adds a bias to queries and keys that
// grows with the key's position, so that the maximum score of a row keeps
// growing with t2 (exercising an online softmax's rescaling).
type attnCase struct {
	B, T, NH, HS int
	qStd         float64
	ramp         bool
}

// attentionSizes cover T = 1, 5, 17, 64 and 200 (more than one 128-key tile),
// HS = 8, 32, 64, 128 and NH = 1..4.
var attentionSizes = []attnCase{
	{1, 1, 1, 8, 1, false},
	{2, 5, 3, 8, 1, false},
	{1, 17, 2, 32, 1, false},
	{2, 64, 4, 32, 1, false},
	{1, 17, 1, 64, 3, false},
	{2, 17, 2, 128, 1, false},
	{1, 64, 2, 64, 1, false},
	{1, 200, 2, 16, 1, true},
}

func (a attnCase) String() string {
	s := fmt.Sprintf("B=%d T=%d NH=%d HS=%d", a.B, a.T, a.NH, a.HS)
	if a.qStd != 1 {
		s += fmt.Sprintf(" qstd=%g", a.qStd)
	}
	if a.ramp {
		s += " ramp"
	}
	return s
}

// qkv returns a random [B, T, 3C] input.
func (a attnCase) qkv(r *rand.Rand) []float32 {
	C := a.NH * a.HS
	x := normal(r, a.B*a.T*3*C, 1)
	for bt := 0; bt < a.B*a.T; bt++ {
		tt := bt % a.T
		row := x[bt*3*C : (bt+1)*3*C]
		for c := 0; c < C; c++ {
			row[c] *= float32(a.qStd)
			if a.ramp {
				row[c] += 0.5
				row[C+c] += 2 * float32(tt) / float32(a.T)
			}
		}
	}
	return x
}

// index returns the position in qkv of part (0 q, 1 k, 2 v) of (b, t, h, i).
func (a attnCase) index(part, b, t, h, i int) int {
	C := a.NH * a.HS
	return (b*a.T+t)*3*C + part*C + h*a.HS + i
}

// attnHead is the float64 attention of one (b, h): the outputs [T, HS], the
// log-sum-exps [T], the probabilities [T, T] (zero above the diagonal) and,
// for tolerances, the largest Σ_i |q_i·k_i|/sqrt(HS) of any score.
type attnHead struct {
	out, lse, p []float64
	sabs        float64
}

func (a attnCase) head(qkv []float64, b, h int) attnHead {
	T, HS := a.T, a.HS
	scale := 1 / math.Sqrt(float64(HS))
	r := attnHead{out: make([]float64, T*HS), lse: make([]float64, T), p: make([]float64, T*T)}
	s := make([]float64, T)
	for tq := 0; tq < T; tq++ {
		m := math.Inf(-1)
		for t2 := 0; t2 <= tq; t2++ {
			var d, da float64
			for i := 0; i < HS; i++ {
				qk := qkv[a.index(0, b, tq, h, i)] * qkv[a.index(1, b, t2, h, i)]
				d += qk
				da += math.Abs(qk)
			}
			s[t2] = d * scale
			m = max(m, s[t2])
			r.sabs = max(r.sabs, da*scale)
		}
		var z float64
		for t2 := 0; t2 <= tq; t2++ {
			r.p[tq*T+t2] = math.Exp(s[t2] - m)
			z += r.p[tq*T+t2]
		}
		r.lse[tq] = m + math.Log(z)
		for t2 := 0; t2 <= tq; t2++ {
			p := r.p[tq*T+t2] / z
			r.p[tq*T+t2] = p
			for i := 0; i < HS; i++ {
				r.out[tq*HS+i] += p * qkv[a.index(2, b, t2, h, i)]
			}
		}
	}
	return r
}

// attnEps is the relative error allowed against a magnitude sum: the
// rounding of a float32 score (at most HS products of size sabs), of the
// log-sum-exp, and of sums over T keys.
func (a attnCase) attnEps(sabs, lse float64) float64 {
	return u * (4*math.Sqrt(float64(a.HS))*(1+sabs) + 4*math.Abs(lse) + 4*math.Sqrt(float64(a.T)) + 16)
}

// AttentionForward checks causal multi-head attention and its log-sum-exp
// against float64, including a row longer than one 128-key tile whose
// maximum score grows along the row.
func AttentionForward(t *testing.T, b kernels.Backend) {
	tr := transformerOf(t, b)
	h := newHarness(t, b)
	r := newRand(120)
	for _, a := range attentionSizes {
		B, T, NH, HS := a.B, a.T, a.NH, a.HS
		C := NH * HS
		name := "attention_forward " + a.String()
		qkv := a.qkv(r)
		qb, ob, lb := h.in(qkv), h.out(B*T*C), h.out(B*NH*T)
		h.run(name, func() error { return tr.AttentionForward(ob, lb, qb, B, T, NH, HS) })

		q64 := to64(qkv)
		wantO, tolO := make([]float64, B*T*C), make([]float64, B*T*C)
		wantL, tolL := make([]float64, B*NH*T), make([]float64, B*NH*T)
		for bb := 0; bb < B; bb++ {
			for hh := 0; hh < NH; hh++ {
				hd := a.head(q64, bb, hh)
				for tq := 0; tq < T; tq++ {
					eps := a.attnEps(hd.sabs, hd.lse[tq])
					li := (bb*NH+hh)*T + tq
					wantL[li], tolL[li] = hd.lse[tq], 1e-6+eps*(1+math.Abs(hd.lse[tq]))
					for i := 0; i < HS; i++ {
						var mag float64 // Σ p·|v|
						for t2 := 0; t2 <= tq; t2++ {
							mag += hd.p[tq*T+t2] * math.Abs(q64[a.index(2, bb, t2, hh, i)])
						}
						oi := (bb*T+tq)*C + hh*HS + i
						wantO[oi], tolO[oi] = hd.out[tq*HS+i], 1e-6+eps*mag
					}
				}
			}
		}
		compare(t, name+" out", h.read(name+" out", ob), wantO, func(i int) float64 { return tolO[i] })
		compare(t, name+" lse", h.read(name+" lse", lb), wantL, func(i int) float64 { return tolL[i] })
		compareExact(t, name+" qkv", h.read(name+" qkv", qb), qkv)
	}
}

// AttentionBackward checks the gradient of qkv, recomputed from the saved
// log-sum-exp, against a float64 evaluation of the contract's loop and
// against finite differences of L = Σ dout·attention(qkv) in each of the
// q, k and v parts; that it accumulates; that a nil dqkv is accepted; and
// that two runs give the same bits.
func AttentionBackward(t *testing.T, b kernels.Backend) {
	tr := transformerOf(t, b)
	h := newHarness(t, b)
	r := newRand(121)
	for si, a := range attentionSizes {
		B, T, NH, HS := a.B, a.T, a.NH, a.HS
		C := NH * HS
		name := "attention_backward " + a.String()
		qkv := a.qkv(r)
		q64 := to64(qkv)
		heads := make([]attnHead, B*NH)
		out, lse := make([]float32, B*T*C), make([]float32, B*NH*T)
		for bb := 0; bb < B; bb++ {
			for hh := 0; hh < NH; hh++ {
				hd := a.head(q64, bb, hh)
				heads[bb*NH+hh] = hd
				for tq := 0; tq < T; tq++ {
					lse[(bb*NH+hh)*T+tq] = float32(hd.lse[tq])
					for i := 0; i < HS; i++ {
						out[(bb*T+tq)*C+hh*HS+i] = float32(hd.out[tq*HS+i])
					}
				}
			}
		}
		dout := normal(r, B*T*C, 1)
		d0 := uniform(r, B*T*3*C, -1, 1)
		doutb, qb, ob, lb := h.in(dout), h.in(qkv), h.in(out), h.in(lse)

		// Reference contributions and, for tolerances, magnitude sums.
		contrib, mag := make([]float64, len(d0)), make([]float64, len(d0))
		epsOf := make([]float64, len(d0))
		scale := 1 / math.Sqrt(float64(HS))
		for bb := 0; bb < B; bb++ {
			for hh := 0; hh < NH; hh++ {
				hd := heads[bb*NH+hh]
				for tq := 0; tq < T; tq++ {
					do := func(i int) float64 { return float64(dout[(bb*T+tq)*C+hh*HS+i]) }
					var D, aD float64
					for i := 0; i < HS; i++ {
						D += do(i) * hd.out[tq*HS+i]
						aD += math.Abs(do(i) * hd.out[tq*HS+i])
					}
					eps := a.attnEps(hd.sabs, hd.lse[tq])
					for t2 := 0; t2 <= tq; t2++ {
						p := hd.p[tq*T+t2]
						var dp, adp float64
						for i := 0; i < HS; i++ {
							dp += do(i) * q64[a.index(2, bb, t2, hh, i)]
							adp += math.Abs(do(i) * q64[a.index(2, bb, t2, hh, i)])
						}
						ds := p * (dp - D) * scale
						ads := p * (adp + aD) * scale
						for i := 0; i < HS; i++ {
							iq, ik, iv := a.index(0, bb, tq, hh, i), a.index(1, bb, t2, hh, i), a.index(2, bb, t2, hh, i)
							contrib[iq] += ds * q64[ik]
							mag[iq] += ads * math.Abs(q64[ik])
							contrib[ik] += ds * q64[iq]
							mag[ik] += ads * math.Abs(q64[iq])
							contrib[iv] += p * do(i)
							mag[iv] += p * math.Abs(do(i))
							epsOf[iq], epsOf[ik], epsOf[iv] = max(epsOf[iq], eps), max(epsOf[ik], eps), max(epsOf[iv], eps)
						}
					}
				}
			}
		}

		run := func(variant string) []float32 {
			db := h.in(d0)
			h.run(name+variant, func() error { return tr.AttentionBackward(db, doutb, qb, ob, lb, B, T, NH, HS) })
			got := h.read(name+variant, db)
			want := make([]float64, len(d0))
			for i := range want {
				want[i] = float64(d0[i]) + contrib[i]
			}
			compare(t, name+variant, got, want, func(i int) float64 {
				return 1e-6 + epsOf[i]*mag[i] + 2*u*math.Abs(want[i])
			})
			return got
		}
		got := run("")

		// Finite differences of L = Σ dout·attention(qkv), per part.
		headLoss := func(i int, v float64) float64 {
			bb, h0 := i/(T*3*C), i%(3*C)%C/HS
			old := q64[i]
			q64[i] = v
			hd := a.head(q64, bb, h0)
			q64[i] = old
			var l float64
			for tq := 0; tq < T; tq++ {
				for k := 0; k < HS; k++ {
					l += float64(dout[(bb*T+tq)*C+h0*HS+k]) * hd.out[tq*HS+k]
				}
			}
			return l
		}
		nfd := 64
		if T > 64 {
			nfd = 12
		}
		grad := contribution(got, d0)
		for part, pname := range []string{"dq", "dk", "dv"} {
			var coords []int
			for i := range qkv {
				if i%(3*C)/C == part {
					coords = append(coords, i)
				}
			}
			var idx []int
			for _, k := range fdIndices(r, len(coords), nil) {
				idx = append(idx, coords[k])
			}
			idx = idx[:min(len(idx), nfd)]
			checkFD(t, name+" "+pname, q64, grad, idx, headLoss, 2e-5, 2e-3)
		}

		if si == 1 {
			h.run(name+" (dqkv nil)", func() error { return tr.AttentionBackward(nil, doutb, qb, ob, lb, B, T, NH, HS) })
		}
		if si == 3 {
			compareExact(t, name+" deterministic", run(" (again)"), got)
		}
	}
}

// ---------------------------------------------------------------------------
// Classifier

// classifierSizes are {rows, V}; {64, 257} is above the CPU pool's grain for
// exp-heavy rows.
var classifierSizes = [][2]int{{1, 1}, {3, 7}, {5, 50}, {37, 257}, {64, 257}, {4, 1001}}

// ClassifierForwardBackward checks the fused classifier: losses as the
// cross-entropy (NaN for a label out of range), and the logits overwritten
// by dlossScale·(softmax - onehot), against float64 and against finite
// differences of L = dlossScale·Σ_r loss_r.
func ClassifierForwardBackward(t *testing.T, b kernels.Backend) {
	tr := transformerOf(t, b)
	h := newHarness(t, b)
	r := newRand(130)
	for si, sz := range classifierSizes {
		rows, V := sz[0], sz[1]
		scale := float32(1 / float64(rows))
		if si == 3 {
			scale = -2.5
		}
		name := fmt.Sprintf("classifier_forward_backward rows=%d V=%d scale=%g", rows, V, scale)
		x := logits(r, rows, V)
		labels := ceLabels(r, rows, V, true)
		xb, lb, lossb := h.in(x), h.inI32(labels), h.out(rows)
		h.run(name, func() error { return tr.ClassifierForwardBackward(lossb, xb, lb, scale, rows, V) })
		gotL, gotG := h.read(name+" losses", lossb), h.read(name+" dlogits", xb)

		x64 := to64(x)
		sc := float64(scale)
		wantL := make([]float64, rows)
		wantG, tolG := make([]float64, rows*V), make([]float64, rows*V)
		var gv []float32
		var xv []float64
		var rowOf []int
		for rr := 0; rr < rows; rr++ {
			row := x64[rr*V : (rr+1)*V]
			p, lse := softmaxRow(row)
			ok := validLabel(labels[rr], V)
			wantL[rr] = math.NaN()
			if ok {
				wantL[rr] = lse - row[labels[rr]]
			}
			for c := range row {
				i := rr*V + c
				oh := 0.0
				if ok && c == int(labels[rr]) {
					oh = 1
				}
				wantG[i] = sc * (p[c] - oh)
				tolG[i] = math.Abs(sc) * (softmaxTol(p[c], V) + 2*u*oh)
				if ok {
					gv, xv, rowOf = append(gv, gotG[i]), append(xv, row[c]), append(rowOf, rr)
				}
			}
		}
		compareAR(t, name+" losses", gotL, wantL, 5e-5, 2e-5)
		compare(t, name+" dlogits", gotG, wantG, func(i int) float64 { return tolG[i] })

		loss := func(k int, v float64) float64 {
			rr, c0 := rowOf[k], k%V
			row := append([]float64(nil), x64[rr*V:(rr+1)*V]...)
			row[c0] = v
			_, lse := softmaxRow(row)
			return sc * (lse - row[labels[rr]])
		}
		grad := make([]float64, len(gv))
		for i, v := range gv {
			grad[i] = float64(v)
		}
		checkFD(t, name, xv, grad, fdIndices(r, len(xv), nil), loss, 1e-5, 1e-3)
	}

	// V = 0: no label is in range.
	name := "classifier_forward_backward rows=2 V=0"
	xb, lb, lossb := h.in(nil), h.inI32([]int32{0, 0}), h.out(2)
	h.run(name, func() error { return tr.ClassifierForwardBackward(lossb, xb, lb, 0.5, 2, 0) })
	compare(t, name, h.read(name, lossb), nans(2), func(int) float64 { return 0 })
}

// ---------------------------------------------------------------------------
// Bad inputs

// TransformerBadInputs is BadInputs for the transformer kernels: a buffer
// too short, of the wrong dtype or nil where required, a negative, empty or
// overflowing size must give an error that wraps kernels.ErrShape and names
// the kernel, without panicking. A negative or NaN eps must give an error.
func TransformerBadInputs(t *testing.T, b kernels.Backend) {
	tr := transformerOf(t, b)
	h := newHarness(t, b)
	f := func(n int) kernels.Buffer { return h.alloc(kernels.F32, n) }
	i := func(n int) kernels.Buffer { return h.alloc(kernels.I32, n) }
	const B, T, C, V = 2, 3, 4, 5
	const NH, HS = 2, 2
	big := 1 << 40
	cases := []struct {
		method, what string
		call         func() error
	}{
		{"EmbeddingForward", "short out", func() error { return tr.EmbeddingForward(f(B*T*C-1), i(B*T), f(V*C), f(T*C), B, T, C) }},
		{"EmbeddingForward", "float32 tokens", func() error { return tr.EmbeddingForward(f(B*T*C), f(B*T), f(V*C), f(T*C), B, T, C) }},
		{"EmbeddingForward", "short wpe", func() error { return tr.EmbeddingForward(f(B*T*C), i(B*T), f(V*C), f(T*C-1), B, T, C) }},
		{"EmbeddingForward", "int32 wte", func() error { return tr.EmbeddingForward(f(B*T*C), i(B*T), i(V*C), f(T*C), B, T, C) }},
		{"EmbeddingForward", "nil wte", func() error { return tr.EmbeddingForward(f(B*T*C), i(B*T), nil, f(T*C), B, T, C) }},
		{"EmbeddingForward", "negative B", func() error { return tr.EmbeddingForward(f(B*T*C), i(B*T), f(V*C), f(T*C), -1, T, C) }},
		{"EmbeddingForward", "overflowing B·T·C", func() error { return tr.EmbeddingForward(f(B*T*C), i(B*T), f(V*C), f(T*C), big, big, C) }},
		{"EmbeddingBackward", "short dout", func() error { return tr.EmbeddingBackward(f(V*C), f(T*C), f(B*T*C-1), i(B*T), B, T, C) }},
		{"EmbeddingBackward", "int32 dwpe", func() error { return tr.EmbeddingBackward(f(V*C), i(T*C), f(B*T*C), i(B*T), B, T, C) }},
		{"EmbeddingBackward", "short tokens", func() error { return tr.EmbeddingBackward(f(V*C), f(T*C), f(B*T*C), i(B*T-1), B, T, C) }},
		{"EmbeddingBackward", "int32 dwte", func() error { return tr.EmbeddingBackward(i(V*C), nil, f(B*T*C), i(B*T), B, T, C) }},
		{"LayerNormForward", "short mean", func() error { return tr.LayerNormForward(f(T*C), f(T-1), f(T), f(T*C), f(C), f(C), T, C, 1e-5) }},
		{"LayerNormForward", "short weight", func() error { return tr.LayerNormForward(f(T*C), f(T), f(T), f(T*C), f(C-1), f(C), T, C, 1e-5) }},
		{"LayerNormForward", "int32 x", func() error { return tr.LayerNormForward(f(T*C), f(T), f(T), i(T*C), f(C), f(C), T, C, 1e-5) }},
		{"LayerNormForward", "negative C", func() error { return tr.LayerNormForward(f(T*C), f(T), f(T), f(T*C), f(C), f(C), T, -1, 1e-5) }},
		{"LayerNormBackward", "short rstd", func() error {
			return tr.LayerNormBackward(f(T*C), f(C), f(C), f(T*C), f(T*C), f(C), f(T), f(T-1), T, C)
		}},
		{"LayerNormBackward", "short dweight", func() error {
			return tr.LayerNormBackward(nil, f(C-1), nil, f(T*C), f(T*C), f(C), f(T), f(T), T, C)
		}},
		{"LayerNormBackward", "negative rows", func() error {
			return tr.LayerNormBackward(f(T*C), f(C), f(C), f(T*C), f(T*C), f(C), f(T), f(T), -T, C)
		}},
		{"AttentionForward", "short qkv", func() error { return tr.AttentionForward(f(B*T*C), f(B*NH*T), f(B*T*3*C-1), B, T, NH, HS) }},
		{"AttentionForward", "short lse", func() error { return tr.AttentionForward(f(B*T*C), f(B*NH*T-1), f(B*T*3*C), B, T, NH, HS) }},
		{"AttentionForward", "HS = 0", func() error { return tr.AttentionForward(f(B*T*C), f(B*NH*T), f(B*T*3*C), B, T, NH, 0) }},
		{"AttentionForward", "negative NH", func() error { return tr.AttentionForward(f(B*T*C), f(B*NH*T), f(B*T*3*C), B, T, -NH, HS) }},
		{"AttentionBackward", "short dqkv", func() error {
			return tr.AttentionBackward(f(B*T*3*C-1), f(B*T*C), f(B*T*3*C), f(B*T*C), f(B*NH*T), B, T, NH, HS)
		}},
		{"AttentionBackward", "short out", func() error {
			return tr.AttentionBackward(f(B*T*3*C), f(B*T*C), f(B*T*3*C), f(B*T*C-1), f(B*NH*T), B, T, NH, HS)
		}},
		{"AttentionBackward", "int32 lse", func() error {
			return tr.AttentionBackward(f(B*T*3*C), f(B*T*C), f(B*T*3*C), f(B*T*C), i(B*NH*T), B, T, NH, HS)
		}},
		{"ClassifierForwardBackward", "float32 labels", func() error { return tr.ClassifierForwardBackward(f(T), f(T*V), f(T), 1, T, V) }},
		{"ClassifierForwardBackward", "short logits", func() error { return tr.ClassifierForwardBackward(f(T), f(T*V-1), i(T), 1, T, V) }},
		{"ClassifierForwardBackward", "short losses", func() error { return tr.ClassifierForwardBackward(f(T-1), f(T*V), i(T), 1, T, V) }},
		{"ClassifierForwardBackward", "negative V", func() error { return tr.ClassifierForwardBackward(f(T), f(T*V), i(T), 1, T, -V) }},
	}
	for _, c := range cases {
		err := catch(c.call)
		switch {
		case err == nil:
			t.Errorf("%s with %s: no error", c.method, c.what)
		case isPanic(err):
			t.Errorf("%s with %s: %v", c.method, c.what, err)
		default:
			if !errors.Is(err, kernels.ErrShape) {
				t.Errorf("%s with %s: error %q does not wrap kernels.ErrShape", c.method, c.what, err)
			}
			if !strings.Contains(normalize(err.Error()), normalize(c.method)) {
				t.Errorf("%s with %s: error %q does not name the kernel", c.method, c.what, err)
			}
		}
	}
	for _, eps := range []float32{-1, float32(math.NaN())} {
		err := catch(func() error { return tr.LayerNormForward(f(T*C), f(T), f(T), f(T*C), f(C), f(C), T, C, eps) })
		switch {
		case err == nil:
			t.Errorf("LayerNormForward with eps = %v: no error", eps)
		case isPanic(err):
			t.Errorf("LayerNormForward with eps = %v: %v", eps, err)
		case !strings.Contains(normalize(err.Error()), "layernormforward"):
			t.Errorf("LayerNormForward with eps = %v: error %q does not name the kernel", eps, err)
		}
	}
	_ = b.Sync()

	// Empty sizes are not errors: there is nothing to compute.
	empty := []struct {
		what string
		call func() error
	}{
		{"EmbeddingForward B=0", func() error { return tr.EmbeddingForward(f(0), i(0), f(V*C), f(T*C), 0, T, C) }},
		{"EmbeddingBackward T=0", func() error { return tr.EmbeddingBackward(f(V*C), f(0), f(0), i(0), B, 0, C) }},
		{"LayerNormForward rows=0", func() error { return tr.LayerNormForward(f(0), f(0), f(0), f(0), f(C), f(C), 0, C, 1e-5) }},
		{"LayerNormBackward rows=0", func() error {
			return tr.LayerNormBackward(f(0), f(C), f(C), f(0), f(0), f(C), f(0), f(0), 0, C)
		}},
		{"AttentionForward B=0 HS=0", func() error { return tr.AttentionForward(f(0), f(0), f(0), 0, T, NH, 0) }},
		{"AttentionBackward T=0", func() error { return tr.AttentionBackward(f(0), f(0), f(0), f(0), f(0), B, 0, NH, HS) }},
		{"ClassifierForwardBackward rows=0", func() error { return tr.ClassifierForwardBackward(f(0), f(0), i(0), 1, 0, V) }},
	}
	for _, c := range empty {
		if err := catch(c.call); err != nil {
			t.Errorf("%s: %v", c.what, err)
		}
	}
	if err := b.Sync(); err != nil {
		t.Errorf("sync after empty calls: %v", err)
	}
}
