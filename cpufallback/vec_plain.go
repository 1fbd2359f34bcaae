//go:build !(goexperiment.simd && amd64)

package cpufallback

func vexpShift(p, s []float32, scale, shift float32) float64 { return expShiftGo(p, s, scale, shift) }
func geluVec(y, x []float32)                                 { geluGo(y, x) }
func geluBackwardVec(dx, dy, x []float32)                    { geluBackwardGo(dx, dy, x) }

func matvecT(s, x, m []float32, ld int)            { matvecTGo(s, x, m, ld) }
func gemvRows(y, a, m []float32, base, stride int) { gemvRowsGo(y, a, m, base, stride) }
func ger(m []float32, ld int, x, y []float32)      { gerGo(m, ld, x, y) }
