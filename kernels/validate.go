package kernels

import (
	"fmt"
	"math"
)

// The checks below are shared by every backend, so that the same bad
// argument gives the same error everywhere.

// CheckN returns an error unless 0 <= n.
func CheckN(op string, n int) error {
	if n < 0 {
		return fmt.Errorf("%s: n = %d: negative size: %w", op, n, ErrShape)
	}
	return nil
}

// CheckRows validates the dimensions of a row-wise kernel and returns
// rows*cols, the length its [rows, cols] buffers must have.
func CheckRows(op string, rows, cols int) (int, error) {
	if rows < 0 || cols < 0 {
		return 0, fmt.Errorf("%s: rows = %d, cols = %d: negative dimension: %w", op, rows, cols, ErrShape)
	}
	if cols > 0 && rows > math.MaxInt/cols {
		return 0, fmt.Errorf("%s: rows = %d, cols = %d: rows*cols overflows int: %w", op, rows, cols, ErrShape)
	}
	return rows * cols, nil
}

// CheckHyper returns an error unless v is finite and >= 0 (a learning rate,
// momentum, epsilon or weight decay).
func CheckHyper(op, name string, v float32) error {
	if !(v >= 0) || math.IsInf(float64(v), 1) {
		return fmt.Errorf("%s: %s = %v: want a finite value >= 0", op, name, v)
	}
	return nil
}

// CheckSGD validates SGD hyper-parameters.
func CheckSGD(op string, h SGDParams) error {
	if err := CheckHyper(op, "LR", h.LR); err != nil {
		return err
	}
	if err := CheckHyper(op, "Momentum", h.Momentum); err != nil {
		return err
	}
	return CheckHyper(op, "WeightDecay", h.WeightDecay)
}

// CheckAdam validates Adam and AdamW hyper-parameters.
func CheckAdam(op string, h AdamParams) error {
	if h.Step < 1 {
		return fmt.Errorf("%s: Step = %d: want a 1-based step number >= 1", op, h.Step)
	}
	if !(h.Beta1 >= 0 && h.Beta1 < 1) {
		return fmt.Errorf("%s: Beta1 = %v: want 0 <= Beta1 < 1", op, h.Beta1)
	}
	if !(h.Beta2 >= 0 && h.Beta2 < 1) {
		return fmt.Errorf("%s: Beta2 = %v: want 0 <= Beta2 < 1", op, h.Beta2)
	}
	if err := CheckHyper(op, "LR", h.LR); err != nil {
		return err
	}
	if err := CheckHyper(op, "Eps", h.Eps); err != nil {
		return err
	}
	return CheckHyper(op, "WeightDecay", h.WeightDecay)
}

// BiasCorrections returns 1 - Beta1^Step and 1 - Beta2^Step, computed in
// float64 and rounded, as every backend uses them.
func (h AdamParams) BiasCorrections() (bc1, bc2 float32) {
	return float32(1 - math.Pow(float64(h.Beta1), float64(h.Step))), float32(1 - math.Pow(float64(h.Beta2), float64(h.Step)))
}

// CheckDropout validates a dropout probability.
func CheckDropout(op string, p float32) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("%s: p = %v: want 0 <= p < 1", op, p)
	}
	return nil
}
