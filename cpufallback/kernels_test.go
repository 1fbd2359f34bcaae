package cpufallback_test

// The shared kernel suite (internal/kerneltest) on the pure-Go backend.

import (
	"testing"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/internal/kerneltest"
)

func TestFill(t *testing.T)                 { kerneltest.Fill(t, cpufallback.New(0)) }
func TestCopy(t *testing.T)                 { kerneltest.Copy(t, cpufallback.New(0)) }
func TestAxpy(t *testing.T)                 { kerneltest.Axpy(t, cpufallback.New(0)) }
func TestMatMul(t *testing.T)               { kerneltest.MatMul(t, cpufallback.New(0)) }
func TestMatMulBackward(t *testing.T)       { kerneltest.MatMulBackward(t, cpufallback.New(0)) }
func TestBiasAdd(t *testing.T)              { kerneltest.BiasAdd(t, cpufallback.New(0)) }
func TestBiasAddBackward(t *testing.T)      { kerneltest.BiasAddBackward(t, cpufallback.New(0)) }
func TestAdd(t *testing.T)                  { kerneltest.Add(t, cpufallback.New(0)) }
func TestAddBackward(t *testing.T)          { kerneltest.AddBackward(t, cpufallback.New(0)) }
func TestMul(t *testing.T)                  { kerneltest.Mul(t, cpufallback.New(0)) }
func TestMulBackward(t *testing.T)          { kerneltest.MulBackward(t, cpufallback.New(0)) }
func TestScale(t *testing.T)                { kerneltest.Scale(t, cpufallback.New(0)) }
func TestScaleBackward(t *testing.T)        { kerneltest.ScaleBackward(t, cpufallback.New(0)) }
func TestReLUForward(t *testing.T)          { kerneltest.ReLUForward(t, cpufallback.New(0)) }
func TestReLUBackward(t *testing.T)         { kerneltest.ReLUBackward(t, cpufallback.New(0)) }
func TestGELUForward(t *testing.T)          { kerneltest.GELUForward(t, cpufallback.New(0)) }
func TestGELUBackward(t *testing.T)         { kerneltest.GELUBackward(t, cpufallback.New(0)) }
func TestTanhForward(t *testing.T)          { kerneltest.TanhForward(t, cpufallback.New(0)) }
func TestTanhBackward(t *testing.T)         { kerneltest.TanhBackward(t, cpufallback.New(0)) }
func TestSigmoidForward(t *testing.T)       { kerneltest.SigmoidForward(t, cpufallback.New(0)) }
func TestSigmoidBackward(t *testing.T)      { kerneltest.SigmoidBackward(t, cpufallback.New(0)) }
func TestSoftmaxForward(t *testing.T)       { kerneltest.SoftmaxForward(t, cpufallback.New(0)) }
func TestSoftmaxBackward(t *testing.T)      { kerneltest.SoftmaxBackward(t, cpufallback.New(0)) }
func TestCrossEntropyForward(t *testing.T)  { kerneltest.CrossEntropyForward(t, cpufallback.New(0)) }
func TestCrossEntropyBackward(t *testing.T) { kerneltest.CrossEntropyBackward(t, cpufallback.New(0)) }
func TestMSEForward(t *testing.T)           { kerneltest.MSEForward(t, cpufallback.New(0)) }
func TestMSEBackward(t *testing.T)          { kerneltest.MSEBackward(t, cpufallback.New(0)) }
func TestSumForward(t *testing.T)           { kerneltest.SumForward(t, cpufallback.New(0)) }
func TestSumBackward(t *testing.T)          { kerneltest.SumBackward(t, cpufallback.New(0)) }
func TestMeanForward(t *testing.T)          { kerneltest.MeanForward(t, cpufallback.New(0)) }
func TestMeanBackward(t *testing.T)         { kerneltest.MeanBackward(t, cpufallback.New(0)) }
func TestArgMax(t *testing.T)               { kerneltest.ArgMax(t, cpufallback.New(0)) }
func TestDropoutForward(t *testing.T)       { kerneltest.DropoutForward(t, cpufallback.New(0)) }
func TestDropoutBackward(t *testing.T)      { kerneltest.DropoutBackward(t, cpufallback.New(0)) }
func TestL1Forward(t *testing.T)            { kerneltest.L1Forward(t, cpufallback.New(0)) }
func TestL1Backward(t *testing.T)           { kerneltest.L1Backward(t, cpufallback.New(0)) }
func TestL2Forward(t *testing.T)            { kerneltest.L2Forward(t, cpufallback.New(0)) }
func TestL2Backward(t *testing.T)           { kerneltest.L2Backward(t, cpufallback.New(0)) }
func TestSumSquares(t *testing.T)           { kerneltest.SumSquares(t, cpufallback.New(0)) }
func TestClipByGlobalNorm(t *testing.T)     { kerneltest.ClipByGlobalNorm(t, cpufallback.New(0)) }
func TestSGDUpdate(t *testing.T)            { kerneltest.SGDUpdate(t, cpufallback.New(0)) }
func TestAdamUpdate(t *testing.T)           { kerneltest.AdamUpdate(t, cpufallback.New(0)) }
func TestAdamWUpdate(t *testing.T)          { kerneltest.AdamWUpdate(t, cpufallback.New(0)) }
func TestBadInputs(t *testing.T)            { kerneltest.BadInputs(t, cpufallback.New(0)) }

// TestSuiteSerial runs the whole suite on one worker, the path that never
// splits a kernel into chunks.
func TestSuiteSerial(t *testing.T) { kerneltest.Run(t, cpufallback.New(1)) }

// TestSuiteManyWorkers runs the whole suite split across more workers than
// cores, so that multi-chunk paths run even on a small machine.
func TestSuiteManyWorkers(t *testing.T) { kerneltest.Run(t, cpufallback.New(5)) }
