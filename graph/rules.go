package graph

import "github.com/gotrain/gotrain/kernels"

// opDef is an op's forward emission and its backward rule. backward is nil
// for an op without a derivative: Compile fails if the loss depends on it.
type opDef struct {
	name     string
	forward  func(c *compiler, n *Node)
	backward func(c *compiler, n *Node)
}

// Ops whose definitions refer to each other are declared here and filled in
// by init, to break the initialisation cycle through compiler.
var (
	opInvalid          = &opDef{name: "invalid"}
	opInput            = &opDef{name: "input"}
	opParam            = &opDef{name: "param"}
	opMatMul           = &opDef{name: "matmul"}
	opBiasAdd          = &opDef{name: "bias_add"}
	opAdd              = &opDef{name: "add"}
	opMul              = &opDef{name: "mul"}
	opScale            = &opDef{name: "scale"}
	opReLU             = &opDef{name: "relu"}
	opGELU             = &opDef{name: "gelu"}
	opTanh             = &opDef{name: "tanh"}
	opSigmoid          = &opDef{name: "sigmoid"}
	opSoftmax          = &opDef{name: "softmax"}
	opDropout          = &opDef{name: "dropout"}
	opSum              = &opDef{name: "sum"}
	opMean             = &opDef{name: "mean"}
	opCrossEntropyRows = &opDef{name: "cross_entropy"}
	opMSE              = &opDef{name: "mse"}
	opL1               = &opDef{name: "l1"}
	opL2               = &opDef{name: "l2"}
	opArgMax           = &opDef{name: "argmax"}
)

func init() {
	// Parameters and inputs are persistent slots: no forward kernel. A
	// parameter's gradient is read by the optimizer; it has no rule of its
	// own beyond receiving contributions.
	opParam.backward = func(c *compiler, n *Node) {}

	// C = A·B.  dA += dC·Bᵀ,  dB += Aᵀ·dC.
	opMatMul.forward = func(c *compiler, n *Node) {
		a, b := n.in[0], n.in[1]
		m, k, nn := a.shape[0], a.shape[1], b.shape[1]
		y, sa, sb := c.val(n), c.val(a), c.val(b)
		p := kernels.MatMulParams{M: m, N: nn, K: k, Alpha: 1}
		c.emit(n, y, func() error { return c.be.MatMul(y.buf, sa.buf, sb.buf, p) }, y, sa, sb)
	}
	opMatMul.backward = func(c *compiler, n *Node) {
		a, b := n.in[0], n.in[1]
		m, k, nn := a.shape[0], a.shape[1], b.shape[1]
		dy, sa, sb := c.grad(n), c.val(a), c.val(b)
		if c.needs(a) {
			da := c.grad(a)
			p := kernels.MatMulParams{M: m, N: k, K: nn, TransB: true, Alpha: 1, Beta: 1}
			c.emit(n, nil, func() error { return c.be.MatMul(da.buf, dy.buf, sb.buf, p) }, da, dy, sb)
		}
		if c.needs(b) {
			db := c.grad(b)
			p := kernels.MatMulParams{M: k, N: nn, K: m, TransA: true, Alpha: 1, Beta: 1}
			c.emit(n, nil, func() error { return c.be.MatMul(db.buf, sa.buf, dy.buf, p) }, db, sa, dy)
		}
	}

	// y = x + b (b broadcast over rows).  dx += dy,  db[c] += Σ_r dy[r,c].
	opBiasAdd.forward = func(c *compiler, n *Node) {
		x, b := n.in[0], n.in[1]
		r, cols := x.shape.rowsCols()
		y, sx, sb := c.val(n), c.val(x), c.val(b)
		c.emit(n, y, func() error { return c.be.BiasAdd(y.buf, sx.buf, sb.buf, r, cols) }, y, sx, sb)
	}
	opBiasAdd.backward = func(c *compiler, n *Node) {
		x, b := n.in[0], n.in[1]
		r, cols := x.shape.rowsCols()
		dy := c.grad(n)
		if c.needs(b) {
			db := c.grad(b)
			c.emit(n, nil, func() error { return c.be.BiasAddBackward(db.buf, dy.buf, r, cols) }, db, dy)
		}
		if c.needs(x) {
			if c.grads[x.id] == nil && x.op != opParam && x.op != opReshape {
				// dx = dy, and nothing has added to dx yet: x's gradient
				// is dy's buffer from here on (later consumers of x add
				// to it after db above has read it). Saves a fill and an
				// axpy over the whole activation.
				c.grads[x.id] = dy
				return
			}
			dx, size := c.grad(x), x.shape.Size()
			c.emit(n, nil, func() error { return c.be.Axpy(dx.buf, 1, dy.buf, size) }, dx, dy)
		}
	}

	// y = a + b.  da += dy,  db += dy.
	opAdd.forward = func(c *compiler, n *Node) {
		y, sa, sb, size := c.val(n), c.val(n.in[0]), c.val(n.in[1]), n.shape.Size()
		c.emit(n, y, func() error { return c.be.Add(y.buf, sa.buf, sb.buf, size) }, y, sa, sb)
	}
	opAdd.backward = func(c *compiler, n *Node) {
		dy, size := c.grad(n), n.shape.Size()
		da, db := c.optGrad(n.in[0]), c.optGrad(n.in[1])
		c.emit(n, nil, func() error { return c.be.AddBackward(da.b(), db.b(), dy.buf, size) }, dy, da, db)
	}

	// y = a ⊙ b.  da += dy ⊙ b,  db += dy ⊙ a.
	opMul.forward = func(c *compiler, n *Node) {
		y, sa, sb, size := c.val(n), c.val(n.in[0]), c.val(n.in[1]), n.shape.Size()
		c.emit(n, y, func() error { return c.be.Mul(y.buf, sa.buf, sb.buf, size) }, y, sa, sb)
	}
	opMul.backward = func(c *compiler, n *Node) {
		dy, sa, sb, size := c.grad(n), c.val(n.in[0]), c.val(n.in[1]), n.shape.Size()
		da, db := c.optGrad(n.in[0]), c.optGrad(n.in[1])
		c.emit(n, nil, func() error { return c.be.MulBackward(da.b(), db.b(), dy.buf, sa.buf, sb.buf, size) }, dy, da, db, sa, sb)
	}

	// y = α·x.  dx += α·dy.
	opScale.forward = func(c *compiler, n *Node) {
		y, sx, size, alpha := c.val(n), c.val(n.in[0]), n.shape.Size(), n.f
		c.emit(n, y, func() error { return c.be.Scale(y.buf, sx.buf, alpha, size) }, y, sx)
	}
	opScale.backward = func(c *compiler, n *Node) {
		dy, dx, size, alpha := c.grad(n), c.grad(n.in[0]), n.shape.Size(), n.f
		c.emit(n, nil, func() error { return c.be.ScaleBackward(dx.buf, dy.buf, alpha, size) }, dx, dy)
	}

	// Activations: y = f(x).  dx += dy·f'(x), with f' from x (ReLU, GELU)
	// or from y (tanh: 1-y², sigmoid: y(1-y)).
	type unaryFn func(y, x kernels.Buffer, n int) error
	type unaryBwd func(dx, dy, xy kernels.Buffer, n int) error
	activation := func(op *opDef, fwd func(kernels.Kernels) unaryFn, bwd func(kernels.Kernels) unaryBwd, fromOutput bool) {
		op.forward = func(c *compiler, n *Node) {
			y, sx, size := c.val(n), c.val(n.in[0]), n.shape.Size()
			f := fwd(c.be)
			c.emit(n, y, func() error { return f(y.buf, sx.buf, size) }, y, sx)
		}
		op.backward = func(c *compiler, n *Node) {
			dy, dx, size := c.grad(n), c.grad(n.in[0]), n.shape.Size()
			saved := c.val(n.in[0])
			if fromOutput {
				saved = c.val(n)
			}
			f := bwd(c.be)
			c.emit(n, nil, func() error { return f(dx.buf, dy.buf, saved.buf, size) }, dx, dy, saved)
		}
	}
	activation(opReLU, func(k kernels.Kernels) unaryFn { return k.ReLUForward }, func(k kernels.Kernels) unaryBwd { return k.ReLUBackward }, false)
	activation(opGELU, func(k kernels.Kernels) unaryFn { return k.GELUForward }, func(k kernels.Kernels) unaryBwd { return k.GELUBackward }, false)
	activation(opTanh, func(k kernels.Kernels) unaryFn { return k.TanhForward }, func(k kernels.Kernels) unaryBwd { return k.TanhBackward }, true)
	activation(opSigmoid, func(k kernels.Kernels) unaryFn { return k.SigmoidForward }, func(k kernels.Kernels) unaryBwd { return k.SigmoidBackward }, true)

	// y = softmax(x) by rows.  dx += y ⊙ (dy - Σ_c dy·y).
	opSoftmax.forward = func(c *compiler, n *Node) {
		r, cols := n.shape.rowsCols()
		y, sx := c.val(n), c.val(n.in[0])
		c.emit(n, y, func() error { return c.be.SoftmaxForward(y.buf, sx.buf, r, cols) }, y, sx)
	}
	opSoftmax.backward = func(c *compiler, n *Node) {
		r, cols := n.shape.rowsCols()
		dy, dx, y := c.grad(n), c.grad(n.in[0]), c.val(n)
		c.emit(n, nil, func() error { return c.be.SoftmaxBackward(dx.buf, dy.buf, y.buf, r, cols) }, dx, dy, y)
	}

	// Training: y = x ⊙ mask, mask ∈ {0, 1/(1-p)}.  dx += dy ⊙ mask.
	// Otherwise y = x, dx += dy.
	opDropout.forward = func(c *compiler, n *Node) {
		y, sx, size, p := c.val(n), c.val(n.in[0]), n.shape.Size(), n.f
		if !c.cfg.Training || p == 0 {
			c.emit(n, y, func() error { return c.be.Copy(y.buf, sx.buf, size) }, y, sx)
			return
		}
		mask := c.aux(n, "mask", size)
		prog, id := c.p, uint64(n.id)
		c.emit(n, y, func() error {
			return c.be.DropoutForward(y.buf, mask.buf, sx.buf, p, prog.dropoutSeed(id), size)
		}, y, mask, sx)
	}
	opDropout.backward = func(c *compiler, n *Node) {
		dy, dx, size := c.grad(n), c.grad(n.in[0]), n.shape.Size()
		mask := c.auxSlots[auxKey{n.id, "mask"}]
		if mask == nil {
			c.emit(n, nil, func() error { return c.be.Axpy(dx.buf, 1, dy.buf, size) }, dx, dy)
			return
		}
		c.emit(n, nil, func() error { return c.be.DropoutBackward(dx.buf, dy.buf, mask.buf, size) }, dx, dy, mask)
	}

	// y = Σx.  dx += dy.   y = Σx/n.  dx += dy/n.
	opSum.forward = func(c *compiler, n *Node) {
		y, sx, size := c.val(n), c.val(n.in[0]), n.in[0].shape.Size()
		c.emit(n, y, func() error { return c.be.SumForward(y.buf, sx.buf, size) }, y, sx)
	}
	opSum.backward = func(c *compiler, n *Node) {
		dy, dx, size := c.grad(n), c.grad(n.in[0]), n.in[0].shape.Size()
		c.emit(n, nil, func() error { return c.be.SumBackward(dx.buf, dy.buf, size) }, dx, dy)
	}
	opMean.forward = func(c *compiler, n *Node) {
		y, sx, size := c.val(n), c.val(n.in[0]), n.in[0].shape.Size()
		c.emit(n, y, func() error { return c.be.MeanForward(y.buf, sx.buf, size) }, y, sx)
	}
	opMean.backward = func(c *compiler, n *Node) {
		dy, dx, size := c.grad(n), c.grad(n.in[0]), n.in[0].shape.Size()
		c.emit(n, nil, func() error { return c.be.MeanBackward(dx.buf, dy.buf, size) }, dx, dy)
	}

	// loss[r] = logsumexp(z[r,:]) - z[r, label[r]], probs saved.
	// dz[r,c] += dloss[r]·(probs[r,c] - [c == label[r]]).
	opCrossEntropyRows.forward = func(c *compiler, n *Node) {
		logits, labels := n.in[0], n.in[1]
		r, cols := logits.shape[0], logits.shape[1]
		y, sz, sl := c.val(n), c.val(logits), c.val(labels)
		probs := c.aux(n, "probs", r*cols)
		c.emit(n, y, func() error { return c.be.CrossEntropyForward(y.buf, probs.buf, sz.buf, sl.buf, r, cols) }, y, probs, sz, sl)
	}
	opCrossEntropyRows.backward = func(c *compiler, n *Node) {
		logits, labels := n.in[0], n.in[1]
		r, cols := logits.shape[0], logits.shape[1]
		dy, dz, sl := c.grad(n), c.grad(logits), c.val(labels)
		probs := c.auxSlots[auxKey{n.id, "probs"}]
		c.emit(n, nil, func() error { return c.be.CrossEntropyBackward(dz.buf, dy.buf, probs.buf, sl.buf, r, cols) }, dz, dy, probs, sl)
	}

	// y = Σ(p-t)²/n.  dp += dy·2(p-t)/n.  The target gets no gradient.
	opMSE.forward = func(c *compiler, n *Node) {
		y, sp, st, size := c.val(n), c.val(n.in[0]), c.val(n.in[1]), n.in[0].shape.Size()
		c.emit(n, y, func() error { return c.be.MSEForward(y.buf, sp.buf, st.buf, size) }, y, sp, st)
	}
	opMSE.backward = func(c *compiler, n *Node) {
		if c.needs(n.in[1]) {
			c.failf("mse: target %s needs a gradient, which mse does not provide; use a target that is not trained", n.in[1].describe())
			return
		}
		if !c.needs(n.in[0]) {
			return
		}
		dy, dp, sp, st, size := c.grad(n), c.grad(n.in[0]), c.val(n.in[0]), c.val(n.in[1]), n.in[0].shape.Size()
		c.emit(n, nil, func() error { return c.be.MSEBackward(dp.buf, dy.buf, sp.buf, st.buf, size) }, dp, dy, sp, st)
	}

	// y = λΣ|w|.  dw += dy·λ·sign(w).   y = λ/2·Σw².  dw += dy·λ·w.
	opL1.forward = func(c *compiler, n *Node) {
		y, sw, size, l := c.val(n), c.val(n.in[0]), n.in[0].shape.Size(), n.f
		c.emit(n, y, func() error { return c.be.L1Forward(y.buf, sw.buf, l, size) }, y, sw)
	}
	opL1.backward = func(c *compiler, n *Node) {
		dy, dw, sw, size, l := c.grad(n), c.grad(n.in[0]), c.val(n.in[0]), n.in[0].shape.Size(), n.f
		c.emit(n, nil, func() error { return c.be.L1Backward(dw.buf, dy.buf, sw.buf, l, size) }, dw, dy, sw)
	}
	opL2.forward = func(c *compiler, n *Node) {
		y, sw, size, l := c.val(n), c.val(n.in[0]), n.in[0].shape.Size(), n.f
		c.emit(n, y, func() error { return c.be.L2Forward(y.buf, sw.buf, l, size) }, y, sw)
	}
	opL2.backward = func(c *compiler, n *Node) {
		dy, dw, sw, size, l := c.grad(n), c.grad(n.in[0]), c.val(n.in[0]), n.in[0].shape.Size(), n.f
		c.emit(n, nil, func() error { return c.be.L2Backward(dw.buf, dy.buf, sw.buf, l, size) }, dw, dy, sw)
	}

	// Not differentiable (backward stays nil).
	opArgMax.forward = func(c *compiler, n *Node) {
		r, cols := n.in[0].shape.rowsCols()
		y, sx := c.val(n), c.val(n.in[0])
		c.emit(n, y, func() error { return c.be.ArgMax(y.buf, sx.buf, r, cols) }, y, sx)
	}
}
