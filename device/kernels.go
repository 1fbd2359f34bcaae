package device

import (
	"github.com/gotrain/gotrain/kernels"
)

// chk validates a kernel's arguments one after another, keeping the first
// error, so each method reads as the list of its buffers.
type chk struct {
	b   *Backend
	op  string
	err error
}

func (b *Backend) check(op string) chk { return chk{b: b, op: op} }

func (c *chk) n(n int) int {
	if c.err == nil {
		c.err = size(c.op, n)
	}
	return n
}

func (c *chk) rows(rows, cols int) int {
	if c.err != nil {
		return 0
	}
	var n int
	if n, c.err = kernels.CheckRows(c.op, rows, cols); c.err == nil {
		c.err = size(c.op, n)
	}
	return n
}

func (c *chk) f(what string, buf kernels.Buffer, n int) ptr {
	if c.err != nil {
		return 0
	}
	var p ptr
	p, c.err = c.b.f32(c.op, what, buf, n)
	return p
}

func (c *chk) opt(what string, buf kernels.Buffer, n int) ptr {
	if c.err != nil {
		return 0
	}
	var p ptr
	p, c.err = c.b.opt(c.op, what, buf, n)
	return p
}

func (c *chk) i(what string, buf kernels.Buffer, n int) ptr {
	if c.err != nil {
		return 0
	}
	var p ptr
	p, c.err = c.b.buffer(c.op, what, buf, n, kernels.I32)
	return p
}

func (c *chk) ok(err error) {
	if c.err == nil {
		c.err = err
	}
}

// Fill implements kernels.Memory.
func (b *Backend) Fill(x kernels.Buffer, v float32, n int) error {
	c := b.check("fill")
	px := c.f("x", x, c.n(n))
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(px).f(v).i(n)
	return b.elementwise(c.op, "fill_f32", n)
}

// Copy implements kernels.Memory.
func (b *Backend) Copy(dst, src kernels.Buffer, n int) error {
	c := b.check("copy")
	pd, ps := c.f("dst", dst, c.n(n)), c.f("src", src, n)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(pd).p(ps).i(n)
	return b.elementwise(c.op, "copy_f32", n)
}

// Axpy implements kernels.Memory.
func (b *Backend) Axpy(y kernels.Buffer, alpha float32, x kernels.Buffer, n int) error {
	c := b.check("axpy")
	py, px := c.f("y", y, c.n(n)), c.f("x", x, n)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(py).f(alpha).p(px).i(n)
	return b.elementwise(c.op, "axpy_f32", n)
}

// MatMul implements kernels.MatMul with cuBLAS (column-major): the
// row-major C = op(A)·op(B) is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so the
// call swaps the operands and reads each with its row length as leading
// dimension.
func (b *Backend) MatMul(cb, ab, bb kernels.Buffer, p kernels.MatMulParams) error {
	c := b.check("matmul")
	m, n, k, batch := p.M, p.N, p.K, p.Batches()
	if m < 0 || n < 0 || k < 0 {
		c.ok(kernels.CheckN(c.op+" "+p.String(), -1))
	}
	c.n(batch * m * n)
	c.n(batch * m * k)
	c.n(batch * k * n)
	pc := c.f("c", cb, batch*m*n)
	pa := c.f("a", ab, batch*m*k)
	pb := c.f("b", bb, batch*k*n)
	if c.err != nil {
		return c.err
	}
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 { // C = beta·C
		if p.Beta == 0 {
			return b.Fill(cb, 0, batch*m*n)
		}
		return b.Scale(cb, cb, p.Beta, batch*m*n)
	}
	g := gemmArgs{
		transA: p.TransB, transB: p.TransA,
		m: n, n: m, k: k,
		alpha: p.Alpha, beta: p.Beta,
		a: pb, b: pa, c: pc,
		lda: n, ldb: k, ldc: n,
		strideA: int64(k * n), strideB: int64(m * k), strideC: int64(m * n),
		batch: batch,
	}
	if p.TransB {
		g.lda = k
	}
	if p.TransA {
		g.ldb = m
	}
	err := b.d.gemm(g)
	if err == nil && b.debug {
		err = b.d.sync()
	}
	if err != nil {
		return &opError{op: c.op, detail: p.String(), err: err}
	}
	return nil
}

// BiasAdd implements kernels.MatMul.
func (b *Backend) BiasAdd(y, x, bias kernels.Buffer, rows, cols int) error {
	c := b.check("bias_add")
	n := c.rows(rows, cols)
	py, px, pb := c.f("y", y, n), c.f("x", x, n), c.f("bias", bias, cols)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(py).p(px).p(pb).i(rows).i(cols)
	return b.elementwise(c.op, "bias_add_f32", n)
}

// BiasAddBackward implements kernels.MatMul.
func (b *Backend) BiasAddBackward(dbias, dy kernels.Buffer, rows, cols int) error {
	c := b.check("bias_add_backward")
	n := c.rows(rows, cols)
	pdb, pdy := c.opt("dbias", dbias, cols), c.f("dy", dy, n)
	if c.err != nil || pdb == 0 {
		return c.err
	}
	b.a.reset().p(pdb).p(pdy).i(rows).i(cols)
	// COLUMN TILES: 32 columns per block of 1024 threads (see kernels/bias.cu).
	return b.launch(c.op, "bias_add_backward_f32", min((cols+31)/32, maxGrid), 1024)
}

// binary launches an ELEMENTWISE kernel (y, a, b, n).
func (b *Backend) binary(op, name string, y, x1, x2 kernels.Buffer, n int) error {
	c := b.check(op)
	py, p1, p2 := c.f("y", y, c.n(n)), c.f("a", x1, n), c.f("b", x2, n)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(py).p(p1).p(p2).i(n)
	return b.elementwise(op, name, n)
}

// Add implements kernels.Elementwise.
func (b *Backend) Add(y, a, bb kernels.Buffer, n int) error {
	return b.binary("add", "add_f32", y, a, bb, n)
}

// AddBackward implements kernels.Elementwise.
func (b *Backend) AddBackward(da, db, dy kernels.Buffer, n int) error {
	c := b.check("add_backward")
	pa, pb, pdy := c.opt("da", da, c.n(n)), c.opt("db", db, n), c.f("dy", dy, n)
	if c.err != nil || (pa == 0 && pb == 0) {
		return c.err
	}
	b.a.reset().p(pa).p(pb).p(pdy).i(n)
	return b.elementwise(c.op, "add_backward_f32", n)
}

// Mul implements kernels.Elementwise.
func (b *Backend) Mul(y, a, bb kernels.Buffer, n int) error {
	return b.binary("mul", "mul_f32", y, a, bb, n)
}

// MulBackward implements kernels.Elementwise.
func (b *Backend) MulBackward(da, db, dy, a, bb kernels.Buffer, n int) error {
	c := b.check("mul_backward")
	pda, pdb := c.opt("da", da, c.n(n)), c.opt("db", db, n)
	pdy, pa, pb := c.f("dy", dy, n), c.f("a", a, n), c.f("b", bb, n)
	if c.err != nil || (pda == 0 && pdb == 0) {
		return c.err
	}
	b.a.reset().p(pda).p(pdb).p(pdy).p(pa).p(pb).i(n)
	return b.elementwise(c.op, "mul_backward_f32", n)
}

// Scale implements kernels.Elementwise.
func (b *Backend) Scale(y, x kernels.Buffer, alpha float32, n int) error {
	c := b.check("scale")
	py, px := c.f("y", y, c.n(n)), c.f("x", x, n)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(py).p(px).f(alpha).i(n)
	return b.elementwise(c.op, "scale_f32", n)
}

// ScaleBackward implements kernels.Elementwise.
func (b *Backend) ScaleBackward(dx, dy kernels.Buffer, alpha float32, n int) error {
	c := b.check("scale_backward")
	pdx, pdy := c.opt("dx", dx, c.n(n)), c.f("dy", dy, n)
	if c.err != nil || pdx == 0 {
		return c.err
	}
	b.a.reset().p(pdx).p(pdy).f(alpha).i(n)
	return b.elementwise(c.op, "scale_backward_f32", n)
}

// unary launches an ELEMENTWISE forward (y, x, n).
func (b *Backend) unary(op, name string, y, x kernels.Buffer, n int) error {
	c := b.check(op)
	py, px := c.f("y", y, c.n(n)), c.f("x", x, n)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(py).p(px).i(n)
	return b.elementwise(op, name, n)
}

// unaryBackward launches an ELEMENTWISE backward (dx, dy, saved, n).
func (b *Backend) unaryBackward(op, name, savedName string, dx, dy, saved kernels.Buffer, n int) error {
	c := b.check(op)
	pdx, pdy, ps := c.opt("dx", dx, c.n(n)), c.f("dy", dy, n), c.f(savedName, saved, n)
	if c.err != nil || pdx == 0 {
		return c.err
	}
	b.a.reset().p(pdx).p(pdy).p(ps).i(n)
	return b.elementwise(op, name, n)
}

// ReLUForward implements kernels.Activations.
func (b *Backend) ReLUForward(y, x kernels.Buffer, n int) error {
	return b.unary("relu_forward", "relu_forward_f32", y, x, n)
}

// ReLUBackward implements kernels.Activations.
func (b *Backend) ReLUBackward(dx, dy, x kernels.Buffer, n int) error {
	return b.unaryBackward("relu_backward", "relu_backward_f32", "x", dx, dy, x, n)
}

// GELUForward implements kernels.Activations.
func (b *Backend) GELUForward(y, x kernels.Buffer, n int) error {
	return b.unary("gelu_forward", "gelu_forward_f32", y, x, n)
}

// GELUBackward implements kernels.Activations.
func (b *Backend) GELUBackward(dx, dy, x kernels.Buffer, n int) error {
	return b.unaryBackward("gelu_backward", "gelu_backward_f32", "x", dx, dy, x, n)
}

// TanhForward implements kernels.Activations.
func (b *Backend) TanhForward(y, x kernels.Buffer, n int) error {
	return b.unary("tanh_forward", "tanh_forward_f32", y, x, n)
}

// TanhBackward implements kernels.Activations.
func (b *Backend) TanhBackward(dx, dy, y kernels.Buffer, n int) error {
	return b.unaryBackward("tanh_backward", "tanh_backward_f32", "y", dx, dy, y, n)
}

// SigmoidForward implements kernels.Activations.
func (b *Backend) SigmoidForward(y, x kernels.Buffer, n int) error {
	return b.unary("sigmoid_forward", "sigmoid_forward_f32", y, x, n)
}

// SigmoidBackward implements kernels.Activations.
func (b *Backend) SigmoidBackward(dx, dy, y kernels.Buffer, n int) error {
	return b.unaryBackward("sigmoid_backward", "sigmoid_backward_f32", "y", dx, dy, y, n)
}

// SoftmaxForward implements kernels.Softmax.
func (b *Backend) SoftmaxForward(y, x kernels.Buffer, rows, cols int) error {
	c := b.check("softmax_forward")
	n := c.rows(rows, cols)
	py, px := c.f("y", y, n), c.f("x", x, n)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(py).p(px).i(rows).i(cols)
	return b.launch(c.op, "softmax_forward_f32", rowsGrid(rows), blockSize)
}

// SoftmaxBackward implements kernels.Softmax.
func (b *Backend) SoftmaxBackward(dx, dy, y kernels.Buffer, rows, cols int) error {
	c := b.check("softmax_backward")
	n := c.rows(rows, cols)
	pdx, pdy, py := c.opt("dx", dx, n), c.f("dy", dy, n), c.f("y", y, n)
	if c.err != nil || pdx == 0 {
		return c.err
	}
	b.a.reset().p(pdx).p(pdy).p(py).i(rows).i(cols)
	return b.launch(c.op, "softmax_backward_f32", rowsGrid(rows), blockSize)
}

// CrossEntropyForward implements kernels.Losses.
func (b *Backend) CrossEntropyForward(losses, probs, logits, labels kernels.Buffer, rows, cols int) error {
	c := b.check("cross_entropy_forward")
	n := c.rows(rows, cols)
	pl, pp, pz, py := c.f("losses", losses, rows), c.f("probs", probs, n), c.f("logits", logits, n), c.i("labels", labels, rows)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(pl).p(pp).p(pz).p(py).i(rows).i(cols)
	return b.launch(c.op, "cross_entropy_forward_f32", rowsGrid(rows), blockSize)
}

// CrossEntropyBackward implements kernels.Losses.
func (b *Backend) CrossEntropyBackward(dlogits, dlosses, probs, labels kernels.Buffer, rows, cols int) error {
	c := b.check("cross_entropy_backward")
	n := c.rows(rows, cols)
	pdz, pdl, pp, py := c.opt("dlogits", dlogits, n), c.f("dlosses", dlosses, rows), c.f("probs", probs, n), c.i("labels", labels, rows)
	if c.err != nil || pdz == 0 {
		return c.err
	}
	b.a.reset().p(pdz).p(pdl).p(pp).p(py).i(rows).i(cols)
	return b.launch(c.op, "cross_entropy_backward_f32", rowsGrid(rows), blockSize)
}

// Reduction modes (kernels.cuh).
const (
	reduceSum = iota
	reduceSumSq
	reduceAbs
	reduceSqDiff
)

// MSEForward implements kernels.Losses.
func (b *Backend) MSEForward(loss, pred, target kernels.Buffer, n int) error {
	c := b.check("mse_forward")
	pl, pp, pt := c.f("loss", loss, 1), c.f("pred", pred, c.n(n)), c.f("target", target, n)
	if c.err != nil {
		return c.err
	}
	return b.reduce(c.op, pl, pp, pt, n, reduceSqDiff, 1/float32(n), false)
}

// MSEBackward implements kernels.Losses.
func (b *Backend) MSEBackward(dpred, dloss, pred, target kernels.Buffer, n int) error {
	c := b.check("mse_backward")
	pdp, pdl, pp, pt := c.opt("dpred", dpred, c.n(n)), c.f("dloss", dloss, 1), c.f("pred", pred, n), c.f("target", target, n)
	if c.err != nil || pdp == 0 {
		return c.err
	}
	b.a.reset().p(pdp).p(pdl).p(pp).p(pt).i(n)
	return b.elementwise(c.op, "mse_backward_f32", n)
}

// reduceInto is the forward of Sum, Mean, L1 and L2.
func (b *Backend) reduceInto(op string, y, x kernels.Buffer, n, mode int, scale float32) error {
	c := b.check(op)
	py, px := c.f("y", y, 1), c.f("x", x, c.n(n))
	if c.err != nil {
		return c.err
	}
	return b.reduce(op, py, px, 0, n, mode, scale, false)
}

// scalarBackward is dx[i] += dy[0]·scale.
func (b *Backend) scalarBackward(op string, dx, dy kernels.Buffer, scale float32, n int) error {
	c := b.check(op)
	pdx, pdy := c.opt("dx", dx, c.n(n)), c.f("dy", dy, 1)
	if c.err != nil || pdx == 0 {
		return c.err
	}
	b.a.reset().p(pdx).p(pdy).f(scale).i(n)
	return b.elementwise(op, "scalar_backward_f32", n)
}

// SumForward implements kernels.Reductions.
func (b *Backend) SumForward(y, x kernels.Buffer, n int) error {
	return b.reduceInto("sum_forward", y, x, n, reduceSum, 1)
}

// SumBackward implements kernels.Reductions.
func (b *Backend) SumBackward(dx, dy kernels.Buffer, n int) error {
	return b.scalarBackward("sum_backward", dx, dy, 1, n)
}

// MeanForward implements kernels.Reductions.
func (b *Backend) MeanForward(y, x kernels.Buffer, n int) error {
	return b.reduceInto("mean_forward", y, x, n, reduceSum, 1/float32(n))
}

// MeanBackward implements kernels.Reductions.
func (b *Backend) MeanBackward(dx, dy kernels.Buffer, n int) error {
	return b.scalarBackward("mean_backward", dx, dy, 1/float32(n), n)
}

// ArgMax implements kernels.Reductions.
func (b *Backend) ArgMax(out, x kernels.Buffer, rows, cols int) error {
	c := b.check("argmax")
	n := c.rows(rows, cols)
	if c.err == nil && rows > 0 && cols == 0 {
		c.err = kernels.CheckN(c.op+": cols = 0 with rows > 0 has no maximum", -1)
	}
	po, px := c.i("out", out, rows), c.f("x", x, n)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(po).p(px).i(rows).i(cols)
	return b.launch(c.op, "argmax_f32", rowsGrid(rows), blockSize)
}

// DropoutForward implements kernels.Dropout.
func (b *Backend) DropoutForward(y, mask, x kernels.Buffer, p float32, seed uint64, n int) error {
	c := b.check("dropout_forward")
	c.ok(kernels.CheckDropout(c.op, p))
	py, pm, px := c.f("y", y, c.n(n)), c.f("mask", mask, n), c.f("x", x, n)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(py).p(pm).p(px).f(p).u64(seed).i(n)
	return b.elementwise(c.op, "dropout_forward_f32", n)
}

// DropoutBackward implements kernels.Dropout.
func (b *Backend) DropoutBackward(dx, dy, mask kernels.Buffer, n int) error {
	c := b.check("dropout_backward")
	pdx, pdy, pm := c.opt("dx", dx, c.n(n)), c.f("dy", dy, n), c.f("mask", mask, n)
	if c.err != nil || pdx == 0 {
		return c.err
	}
	b.a.reset().p(pdx).p(pdy).p(pm).i(n)
	return b.elementwise(c.op, "dropout_backward_f32", n)
}

// L1Forward implements kernels.Regularizers.
func (b *Backend) L1Forward(out, w kernels.Buffer, lambda float32, n int) error {
	return b.reduceInto("l1_forward", out, w, n, reduceAbs, lambda)
}

// L2Forward implements kernels.Regularizers.
func (b *Backend) L2Forward(out, w kernels.Buffer, lambda float32, n int) error {
	return b.reduceInto("l2_forward", out, w, n, reduceSumSq, lambda/2)
}

func (b *Backend) penaltyBackward(op, name string, dw, dout, w kernels.Buffer, lambda float32, n int) error {
	c := b.check(op)
	pdw, pdo, pw := c.opt("dw", dw, c.n(n)), c.f("dout", dout, 1), c.f("w", w, n)
	if c.err != nil || pdw == 0 {
		return c.err
	}
	b.a.reset().p(pdw).p(pdo).p(pw).f(lambda).i(n)
	return b.elementwise(op, name, n)
}

// L1Backward implements kernels.Regularizers.
func (b *Backend) L1Backward(dw, dout, w kernels.Buffer, lambda float32, n int) error {
	return b.penaltyBackward("l1_backward", "l1_backward_f32", dw, dout, w, lambda, n)
}

// L2Backward implements kernels.Regularizers.
func (b *Backend) L2Backward(dw, dout, w kernels.Buffer, lambda float32, n int) error {
	return b.penaltyBackward("l2_backward", "l2_backward_f32", dw, dout, w, lambda, n)
}

// SumSquares implements kernels.Regularizers.
func (b *Backend) SumSquares(acc, x kernels.Buffer, n int) error {
	c := b.check("sum_squares")
	pa, px := c.f("acc", acc, 1), c.f("x", x, c.n(n))
	if c.err != nil {
		return c.err
	}
	return b.reduce(c.op, pa, px, 0, n, reduceSumSq, 1, true)
}

// ClipByGlobalNorm implements kernels.Regularizers.
func (b *Backend) ClipByGlobalNorm(x, sumSq kernels.Buffer, maxNorm float32, n int) error {
	c := b.check("clip_by_global_norm")
	if !(maxNorm >= 0) {
		c.ok(kernels.CheckHyper(c.op, "maxNorm", maxNorm))
	}
	px, ps := c.f("x", x, c.n(n)), c.f("sumSq", sumSq, 1)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(px).p(ps).f(maxNorm).i(n)
	return b.elementwise(c.op, "clip_by_global_norm_f32", n)
}

// SGDUpdate implements kernels.Optimizers.
func (b *Backend) SGDUpdate(param, grad, vel kernels.Buffer, h kernels.SGDParams, n int) error {
	c := b.check("sgd_update")
	c.ok(kernels.CheckSGD(c.op, h))
	pp, pg := c.f("param", param, c.n(n)), c.f("grad", grad, n)
	var pv ptr
	if h.Momentum != 0 {
		pv = c.f("vel", vel, n)
	} else {
		pv = c.opt("vel", vel, n)
	}
	if c.err != nil {
		return c.err
	}
	nesterov := 0
	if h.Nesterov {
		nesterov = 1
	}
	b.a.reset().p(pp).p(pg).p(pv).f(h.LR).f(h.Momentum).f(h.WeightDecay).i(nesterov).i(n)
	return b.elementwise(c.op, "sgd_update_f32", n)
}

// AdamUpdate implements kernels.Optimizers.
func (b *Backend) AdamUpdate(param, grad, m, v kernels.Buffer, h kernels.AdamParams, n int) error {
	return b.adam("adam_update", param, grad, m, v, h, n, 0)
}

// AdamWUpdate implements kernels.Optimizers.
func (b *Backend) AdamWUpdate(param, grad, m, v kernels.Buffer, h kernels.AdamParams, n int) error {
	return b.adam("adamw_update", param, grad, m, v, h, n, 1)
}

func (b *Backend) adam(op string, param, grad, m, v kernels.Buffer, h kernels.AdamParams, n, decoupled int) error {
	c := b.check(op)
	c.ok(kernels.CheckAdam(op, h))
	pp, pg, pm, pv := c.f("param", param, c.n(n)), c.f("grad", grad, n), c.f("m", m, n), c.f("v", v, n)
	if c.err != nil {
		return c.err
	}
	bc1, bc2 := h.BiasCorrections()
	b.a.reset().p(pp).p(pg).p(pm).p(pv).f(h.LR).f(h.Beta1).f(h.Beta2).f(h.Eps).f(h.WeightDecay).f(bc1).f(bc2).i(decoupled).i(n)
	return b.elementwise(op, "adam_update_f32", n)
}

// opError wraps a driver error with the op and its parameters.
type opError struct {
	op, detail string
	err        error
}

func (e *opError) Error() string { return e.op + " (" + e.detail + "): " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }
