package graph

import (
	"fmt"

	"github.com/gotrain/gotrain/kernels"
)

// Transformer ops: reshape, matmul with transposes, token+position
// embedding, layer norm, causal self-attention and the fused classifier
// loss. Their kernels are kernels.Transformer; Compile fails on a backend
// without them.

var (
	opReshape    = &opDef{name: "reshape"}
	opMatMulT    = &opDef{name: "matmul"}
	opEmbedding  = &opDef{name: "embedding"}
	opLayerNorm  = &opDef{name: "layernorm"}
	opAttention  = &opDef{name: "attention"}
	opClassifier = &opDef{name: "classifier"}
)

// Reshape views x with another shape of the same size. It shares x's
// buffer and gradient: no copy, no kernel.
func (g *Graph) Reshape(x *Node, shape ...int) *Node {
	if !g.ok("reshape", x) {
		return g.bad
	}
	if !validShape(shape) || Shape(shape).Size() != x.shape.Size() {
		return g.fail("reshape: %s to %v: want a shape of %d elements", x.describe(), Shape(shape), x.shape.Size())
	}
	return g.add(opReshape, shape, x.dtype, x)
}

// MatMulT is op(a)·op(b) where op transposes its operand when ta or tb is
// set: with ta, a is [K, M]; with tb, b is [N, K] (a tied output
// projection x·wteᵀ is MatMulT(x, wte, false, true)).
func (g *Graph) MatMulT(a, b *Node, ta, tb bool) *Node {
	if !g.ok("matmul", a, b) || !g.wantF32("matmul", a, b) {
		return g.bad
	}
	if len(a.shape) != 2 || len(b.shape) != 2 {
		return g.fail("matmul: want two matrices, got a %v and b %v", a.shape, b.shape)
	}
	m, ka := a.shape[0], a.shape[1]
	if ta {
		m, ka = ka, m
	}
	kb, n := b.shape[0], b.shape[1]
	if tb {
		kb, n = n, kb
	}
	if ka != kb {
		return g.fail("matmul: inner dimensions differ: op(a) (%s, transposed %v) is [%d %d] and op(b) (%s, transposed %v) is [%d %d]",
			a.Name(), ta, m, ka, b.Name(), tb, kb, n)
	}
	y := g.add(opMatMulT, Shape{m, n}, kernels.F32, a, b)
	y.ta, y.tb = ta, tb
	return y
}

// Embedding is wte[tokens] + wpe[position] for int32 tokens [B, T], wte
// [V, C] and wpe [maxT, C] with maxT >= T, giving [B, T, C].
func (g *Graph) Embedding(tokens, wte, wpe *Node) *Node {
	if !g.ok("embedding", tokens, wte, wpe) || !g.wantF32("embedding", wte, wpe) {
		return g.bad
	}
	if tokens.dtype != kernels.I32 || len(tokens.shape) != 2 {
		return g.fail("embedding: tokens (%s) are %v %v, want int32 [B, T]", tokens.Name(), tokens.dtype, tokens.shape)
	}
	if len(wte.shape) != 2 || len(wpe.shape) != 2 || wte.shape[1] != wpe.shape[1] || wpe.shape[0] < tokens.shape[1] {
		return g.fail("embedding: wte (%s) %v and wpe (%s) %v: want [V, C] and [maxT, C] with maxT >= T = %d",
			wte.Name(), wte.shape, wpe.Name(), wpe.shape, tokens.shape[1])
	}
	return g.add(opEmbedding, Shape{tokens.shape[0], tokens.shape[1], wte.shape[1]}, kernels.F32, tokens, wte, wpe)
}

// LayerNorm normalises the last dimension of x to zero mean and unit
// variance (eps 1e-5, as GPT-2), then scales by weight and adds bias [C].
func (g *Graph) LayerNorm(x, weight, bias *Node) *Node {
	if !g.ok("layernorm", x, weight, bias) || !g.wantF32("layernorm", x, weight, bias) {
		return g.bad
	}
	_, c := x.shape.rowsCols()
	if !weight.shape.Equal(Shape{c}) || !bias.shape.Equal(Shape{c}) {
		return g.fail("layernorm: weight (%s) %v and bias (%s) %v: want [%d] to match x (%s) %v",
			weight.Name(), weight.shape, bias.Name(), bias.shape, c, x.Name(), x.shape)
	}
	y := g.add(opLayerNorm, x.shape, kernels.F32, x, weight, bias)
	y.f = 1e-5
	return y
}

// Attention is causal multi-head self-attention of qkv [B, T, 3C] (the
// fused Q, K, V projection, GPT-2's layout) with heads heads, giving
// [B, T, C].
func (g *Graph) Attention(qkv *Node, heads int) *Node {
	if !g.ok("attention", qkv) || !g.wantF32("attention", qkv) {
		return g.bad
	}
	if len(qkv.shape) != 3 || qkv.shape[2]%3 != 0 || heads < 1 || (qkv.shape[2]/3)%heads != 0 {
		return g.fail("attention: qkv (%s) is %v with %d heads: want [B, T, 3C] with C a multiple of the heads", qkv.Name(), qkv.shape, heads)
	}
	y := g.add(opAttention, Shape{qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3}, kernels.F32, qkv)
	y.heads = heads
	return y
}

// ClassifierLoss is the mean cross-entropy of logits [R, V] against int32
// labels [R], fused: the forward writes the loss gradient over the logits,
// so the [R, V] probabilities are never stored beside them. The logits may
// feed nothing else, and the loss may only be added to (not scaled), since
// its gradient is computed for a loss gradient of 1.
func (g *Graph) ClassifierLoss(logits, labels *Node) *Node {
	if !g.ok("classifier", logits, labels) || !g.wantF32("classifier", logits) {
		return g.bad
	}
	if len(logits.shape) != 2 || labels.dtype != kernels.I32 || !labels.shape.Equal(Shape{logits.shape[0]}) {
		return g.fail("classifier: logits (%s) %v and labels (%s) %v %v: want [R, V] and int32 [R]",
			logits.Name(), logits.shape, labels.Name(), labels.dtype, labels.shape)
	}
	return g.scalar(opClassifier, logits, labels)
}

func (c *compiler) transformer(n *Node) kernels.Transformer {
	t, ok := c.be.(kernels.Transformer)
	if !ok {
		c.failf("op %s: backend %s has no transformer kernels", n.describe(), c.be.Name())
	}
	return t
}

func init() {
	// Reshape aliases its input's value and gradient (see compiler.val
	// and compiler.grad): nothing to run.
	opReshape.forward = func(c *compiler, n *Node) {}
	opReshape.backward = func(c *compiler, n *Node) {}

	// C = op(A)·op(B).  With C = A·B: dA += dC·Bᵀ, dB += Aᵀ·dC; the
	// transposed cases follow by transposing the identity.
	opMatMulT.forward = func(c *compiler, n *Node) {
		a, b := n.in[0], n.in[1]
		m, nn := n.shape[0], n.shape[1]
		k := a.shape[1]
		if n.ta {
			k = a.shape[0]
		}
		y, sa, sb := c.val(n), c.val(a), c.val(b)
		p := kernels.MatMulParams{M: m, N: nn, K: k, TransA: n.ta, TransB: n.tb, Alpha: 1}
		c.emit(n, y, func() error { return c.be.MatMul(y.buf, sa.buf, sb.buf, p) }, y, sa, sb)
	}
	opMatMulT.backward = func(c *compiler, n *Node) {
		a, b := n.in[0], n.in[1]
		m, nn := n.shape[0], n.shape[1]
		k := a.shape[1]
		if n.ta {
			k = a.shape[0]
		}
		dy, sa, sb := c.grad(n), c.val(a), c.val(b)
		if c.needs(a) {
			da := c.grad(a)
			var p kernels.MatMulParams
			var x, w *slot
			if !n.ta { // dA [M,K] = dC · op(B)ᵀ
				p = kernels.MatMulParams{M: m, N: k, K: nn, TransB: !n.tb, Alpha: 1, Beta: 1}
				x, w = dy, sb
			} else { // dA [K,M] = op(B) · dCᵀ
				p = kernels.MatMulParams{M: k, N: m, K: nn, TransA: n.tb, TransB: true, Alpha: 1, Beta: 1}
				x, w = sb, dy
			}
			c.emit(n, nil, func() error { return c.be.MatMul(da.buf, x.buf, w.buf, p) }, da, x, w)
		}
		if c.needs(b) {
			db := c.grad(b)
			var p kernels.MatMulParams
			var x, w *slot
			if !n.tb { // dB [K,N] = op(A)ᵀ · dC
				p = kernels.MatMulParams{M: k, N: nn, K: m, TransA: !n.ta, Alpha: 1, Beta: 1}
				x, w = sa, dy
			} else { // dB [N,K] = dCᵀ · op(A)
				p = kernels.MatMulParams{M: nn, N: k, K: m, TransA: true, TransB: n.ta, Alpha: 1, Beta: 1}
				x, w = dy, sa
			}
			c.emit(n, nil, func() error { return c.be.MatMul(db.buf, x.buf, w.buf, p) }, db, x, w)
		}
	}

	// out[b,t] = wte[tok[b,t]] + wpe[t].  dwte[tok] += dout, dwpe[t] += Σ_b dout.
	opEmbedding.forward = func(c *compiler, n *Node) {
		tr := c.transformer(n)
		tok, wte, wpe := n.in[0], n.in[1], n.in[2]
		B, T, C := n.shape[0], n.shape[1], n.shape[2]
		y, st, se, sp := c.val(n), c.val(tok), c.val(wte), c.val(wpe)
		c.emit(n, y, func() error { return tr.EmbeddingForward(y.buf, st.buf, se.buf, sp.buf, B, T, C) }, y, st, se, sp)
	}
	opEmbedding.backward = func(c *compiler, n *Node) {
		tr := c.transformer(n)
		tok := n.in[0]
		B, T, C := n.shape[0], n.shape[1], n.shape[2]
		dy, st := c.grad(n), c.val(tok)
		de, dp := c.optGrad(n.in[1]), c.optGrad(n.in[2])
		c.emit(n, nil, func() error { return tr.EmbeddingBackward(de.b(), dp.b(), dy.buf, st.buf, B, T, C) }, dy, st, de, dp)
	}

	// y = (x-μ)·rstd·w + b, μ and rstd saved.  Backward: llm.c's
	// layernorm_backward (dx, dw, db from dy, x, w, μ, rstd).
	opLayerNorm.forward = func(c *compiler, n *Node) {
		tr := c.transformer(n)
		rows, C := n.shape.rowsCols()
		y, sx, sw, sb := c.val(n), c.val(n.in[0]), c.val(n.in[1]), c.val(n.in[2])
		mean, rstd := c.aux(n, "mean", rows), c.aux(n, "rstd", rows)
		eps := n.f
		c.emit(n, y, func() error {
			return tr.LayerNormForward(y.buf, mean.buf, rstd.buf, sx.buf, sw.buf, sb.buf, rows, C, eps)
		}, y, mean, rstd, sx, sw, sb)
	}
	opLayerNorm.backward = func(c *compiler, n *Node) {
		tr := c.transformer(n)
		rows, C := n.shape.rowsCols()
		dy, sx, sw := c.grad(n), c.val(n.in[0]), c.val(n.in[1])
		mean, rstd := c.auxSlots[auxKey{n.id, "mean"}], c.auxSlots[auxKey{n.id, "rstd"}]
		dx, dw, db := c.optGrad(n.in[0]), c.optGrad(n.in[1]), c.optGrad(n.in[2])
		c.emit(n, nil, func() error {
			return tr.LayerNormBackward(dx.b(), dw.b(), db.b(), dy.buf, sx.buf, sw.buf, mean.buf, rstd.buf, rows, C)
		}, dx, dw, db, dy, sx, sw, mean, rstd)
	}

	// Causal softmax(q·kᵀ/√HS)·v per head, log-sum-exp saved; the backward
	// recomputes the probabilities from it.
	opAttention.forward = func(c *compiler, n *Node) {
		tr := c.transformer(n)
		B, T, C, NH := n.shape[0], n.shape[1], n.shape[2], n.heads
		y, sq := c.val(n), c.val(n.in[0])
		lse := c.aux(n, "lse", B*NH*T)
		c.emit(n, y, func() error { return tr.AttentionForward(y.buf, lse.buf, sq.buf, B, T, NH, C/NH) }, y, lse, sq)
	}
	opAttention.backward = func(c *compiler, n *Node) {
		tr := c.transformer(n)
		B, T, C, NH := n.shape[0], n.shape[1], n.shape[2], n.heads
		dy, y, sq, dq := c.grad(n), c.val(n), c.val(n.in[0]), c.grad(n.in[0])
		lse := c.auxSlots[auxKey{n.id, "lse"}]
		c.emit(n, nil, func() error { return tr.AttentionBackward(dq.buf, dy.buf, sq.buf, y.buf, lse.buf, B, T, NH, C/NH) }, dq, dy, sq, y, lse)
	}

	// loss = mean_r (logsumexp(z_r) - z_r[label_r]); the forward leaves
	// (p - onehot)/R in z, which is dz for a loss gradient of 1.
	opClassifier.forward = func(c *compiler, n *Node) {
		tr := c.transformer(n)
		logits, labels := n.in[0], n.in[1]
		R, V := logits.shape[0], logits.shape[1]
		y, sz, sl := c.val(n), c.val(logits), c.val(labels)
		losses := c.aux(n, "losses", R)
		scale := float32(1 / float64(R))
		c.emit(n, y, func() error {
			if err := tr.ClassifierForwardBackward(losses.buf, sz.buf, sl.buf, scale, R, V); err != nil {
				return err
			}
			return c.be.MeanForward(y.buf, losses.buf, R)
		}, y, losses, sz, sl)
	}
	opClassifier.backward = func(c *compiler, n *Node) {
		logits := n.in[0]
		if c.grads[logits.id] != nil {
			c.failf("classifier: logits %s feed another op; the fused classifier overwrites them with their gradient", logits.describe())
			return
		}
		// The gradient already sits in the logits' buffer: alias it.
		s := c.val(logits)
		c.grads[logits.id] = s
		c.emit(n, nil, func() error { return nil }, s)
	}
}

// checkClassifierUse rejects graphs where a fused classifier's logits have
// another consumer, or its loss reaches the total loss through anything but
// additions (its gradient assumes a loss gradient of 1).
func checkClassifierUse(g *Graph, live []bool, loss *Node) error {
	users := map[int]int{}
	for _, n := range g.nodes {
		if !live[n.id] {
			continue
		}
		for _, in := range n.in {
			users[in.id]++
		}
	}
	for _, n := range g.nodes {
		if !live[n.id] || n.op != opClassifier {
			continue
		}
		if l := n.in[0]; users[l.id] > 1 || l.op == opReshape {
			return fmt.Errorf("graph: compile: classifier %s: its logits %s feed %d ops or are a reshape; the fused classifier overwrites them, so they must feed it alone", n.describe(), l.describe(), users[l.id])
		}
		// Walk up to the loss through additions only.
		cur := n
		for cur != loss {
			next := (*Node)(nil)
			for _, m := range g.nodes {
				if live[m.id] && m.op == opAdd && (m.in[0] == cur || m.in[1] == cur) {
					next = m
					break
				}
			}
			if next == nil {
				return fmt.Errorf("graph: compile: classifier %s must be the loss or be added to it (its gradient assumes a loss gradient of 1)", n.describe())
			}
			cur = next
		}
	}
	return nil
}
