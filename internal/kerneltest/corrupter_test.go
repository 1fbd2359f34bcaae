// Code generated from the Kernels interface by a script; DO NOT EDIT by hand
// except to follow changes of the interface.

package kerneltest

import (
	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/kernels"
)

// corrupter wraps the pure-Go backend and damages the first argument (the
// output) of every kernel after it runs, to show that the suite notices:
// mode "last" changes the last logical element, "guard" the first guard
// element, and "skip" does not run the kernel at all.
type corrupter struct {
	*cpufallback.Backend
	mode string
}

func (mu corrupter) corrupt(err error, b kernels.Buffer) error {
	if err != nil || b == nil {
		return err
	}
	cb := b.(*cpufallback.Buffer)
	i := cb.Len() - guard - 1
	if mu.mode == "guard" {
		i++
	}
	if i < 0 {
		return nil
	}
	switch {
	case cb.I != nil:
		cb.I[i]++
	case mu.mode == "guard":
		cb.F[i]++
	default:
		cb.F[i] += 1e-3 + 1e-3*cb.F[i]
	}
	return nil
}

func (mu corrupter) ReLUForward(y kernels.Buffer, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.ReLUForward(y, x, n), y)
}

func (mu corrupter) ReLUBackward(dx kernels.Buffer, dy kernels.Buffer, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.ReLUBackward(dx, dy, x, n), dx)
}

func (mu corrupter) GELUForward(y kernels.Buffer, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.GELUForward(y, x, n), y)
}

func (mu corrupter) GELUBackward(dx kernels.Buffer, dy kernels.Buffer, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.GELUBackward(dx, dy, x, n), dx)
}

func (mu corrupter) TanhForward(y kernels.Buffer, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.TanhForward(y, x, n), y)
}

func (mu corrupter) TanhBackward(dx kernels.Buffer, dy kernels.Buffer, y kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.TanhBackward(dx, dy, y, n), dx)
}

func (mu corrupter) SigmoidForward(y kernels.Buffer, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.SigmoidForward(y, x, n), y)
}

func (mu corrupter) SigmoidBackward(dx kernels.Buffer, dy kernels.Buffer, y kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.SigmoidBackward(dx, dy, y, n), dx)
}

func (mu corrupter) DropoutForward(y kernels.Buffer, mask kernels.Buffer, x kernels.Buffer, p float32, seed uint64, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.DropoutForward(y, mask, x, p, seed, n), y)
}

func (mu corrupter) DropoutBackward(dx kernels.Buffer, dy kernels.Buffer, mask kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.DropoutBackward(dx, dy, mask, n), dx)
}

func (mu corrupter) Add(y kernels.Buffer, a kernels.Buffer, b kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.Add(y, a, b, n), y)
}

func (mu corrupter) AddBackward(da kernels.Buffer, db kernels.Buffer, dy kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.AddBackward(da, db, dy, n), da)
}

func (mu corrupter) Mul(y kernels.Buffer, a kernels.Buffer, b kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.Mul(y, a, b, n), y)
}

func (mu corrupter) MulBackward(da kernels.Buffer, db kernels.Buffer, dy kernels.Buffer, a kernels.Buffer, b kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.MulBackward(da, db, dy, a, b, n), da)
}

func (mu corrupter) Scale(y kernels.Buffer, x kernels.Buffer, alpha float32, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.Scale(y, x, alpha, n), y)
}

func (mu corrupter) ScaleBackward(dx kernels.Buffer, dy kernels.Buffer, alpha float32, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.ScaleBackward(dx, dy, alpha, n), dx)
}

func (mu corrupter) CrossEntropyForward(losses kernels.Buffer, probs kernels.Buffer, logits kernels.Buffer, labels kernels.Buffer, rows int, cols int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.CrossEntropyForward(losses, probs, logits, labels, rows, cols), losses)
}

func (mu corrupter) CrossEntropyBackward(dlogits kernels.Buffer, dlosses kernels.Buffer, probs kernels.Buffer, labels kernels.Buffer, rows int, cols int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.CrossEntropyBackward(dlogits, dlosses, probs, labels, rows, cols), dlogits)
}

func (mu corrupter) MSEForward(loss kernels.Buffer, pred kernels.Buffer, target kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.MSEForward(loss, pred, target, n), loss)
}

func (mu corrupter) MSEBackward(dpred kernels.Buffer, dloss kernels.Buffer, pred kernels.Buffer, target kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.MSEBackward(dpred, dloss, pred, target, n), dpred)
}

func (mu corrupter) MatMul(c kernels.Buffer, a kernels.Buffer, b kernels.Buffer, p kernels.MatMulParams) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.MatMul(c, a, b, p), c)
}

func (mu corrupter) BiasAdd(y kernels.Buffer, x kernels.Buffer, bias kernels.Buffer, rows int, cols int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.BiasAdd(y, x, bias, rows, cols), y)
}

func (mu corrupter) BiasAddBackward(dbias kernels.Buffer, dy kernels.Buffer, rows int, cols int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.BiasAddBackward(dbias, dy, rows, cols), dbias)
}

func (mu corrupter) Fill(x kernels.Buffer, v float32, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.Fill(x, v, n), x)
}

func (mu corrupter) Copy(dst kernels.Buffer, src kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.Copy(dst, src, n), dst)
}

func (mu corrupter) Axpy(y kernels.Buffer, alpha float32, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.Axpy(y, alpha, x, n), y)
}

func (mu corrupter) SGDUpdate(param kernels.Buffer, grad kernels.Buffer, vel kernels.Buffer, h kernels.SGDParams, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.SGDUpdate(param, grad, vel, h, n), param)
}

func (mu corrupter) AdamUpdate(param kernels.Buffer, grad kernels.Buffer, m kernels.Buffer, v kernels.Buffer, h kernels.AdamParams, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.AdamUpdate(param, grad, m, v, h, n), param)
}

func (mu corrupter) AdamWUpdate(param kernels.Buffer, grad kernels.Buffer, m kernels.Buffer, v kernels.Buffer, h kernels.AdamParams, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.AdamWUpdate(param, grad, m, v, h, n), param)
}

func (mu corrupter) SumForward(y kernels.Buffer, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.SumForward(y, x, n), y)
}

func (mu corrupter) SumBackward(dx kernels.Buffer, dy kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.SumBackward(dx, dy, n), dx)
}

func (mu corrupter) MeanForward(y kernels.Buffer, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.MeanForward(y, x, n), y)
}

func (mu corrupter) MeanBackward(dx kernels.Buffer, dy kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.MeanBackward(dx, dy, n), dx)
}

func (mu corrupter) ArgMax(out kernels.Buffer, x kernels.Buffer, rows int, cols int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.ArgMax(out, x, rows, cols), out)
}

func (mu corrupter) L1Forward(out kernels.Buffer, w kernels.Buffer, lambda float32, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.L1Forward(out, w, lambda, n), out)
}

func (mu corrupter) L1Backward(dw kernels.Buffer, dout kernels.Buffer, w kernels.Buffer, lambda float32, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.L1Backward(dw, dout, w, lambda, n), dw)
}

func (mu corrupter) L2Forward(out kernels.Buffer, w kernels.Buffer, lambda float32, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.L2Forward(out, w, lambda, n), out)
}

func (mu corrupter) L2Backward(dw kernels.Buffer, dout kernels.Buffer, w kernels.Buffer, lambda float32, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.L2Backward(dw, dout, w, lambda, n), dw)
}

func (mu corrupter) SumSquares(acc kernels.Buffer, x kernels.Buffer, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.SumSquares(acc, x, n), acc)
}

func (mu corrupter) ClipByGlobalNorm(x kernels.Buffer, sumSq kernels.Buffer, maxNorm float32, n int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.ClipByGlobalNorm(x, sumSq, maxNorm, n), x)
}

func (mu corrupter) SoftmaxForward(y kernels.Buffer, x kernels.Buffer, rows int, cols int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.SoftmaxForward(y, x, rows, cols), y)
}

func (mu corrupter) SoftmaxBackward(dx kernels.Buffer, dy kernels.Buffer, y kernels.Buffer, rows int, cols int) error {
	if mu.mode == "skip" {
		return nil
	}
	return mu.corrupt(mu.Backend.SoftmaxBackward(dx, dy, y, rows, cols), dx)
}
