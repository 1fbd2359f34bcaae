package kernels

// LayerNorm normalises each row of x over its C channels and applies a
// per-channel scale and shift (llm.c's layernorm_forward and
// layernorm_backward). x, out, dout and dx are [rows, C]; weight, bias,
// dweight and dbias are [C]; mean and rstd are [rows].
type LayerNorm interface {
	// LayerNormForward overwrites out and saves each row's mean and
	// reciprocal standard deviation for the backward. The variance is the
	// biased one (divided by C), as in PyTorch and llm.c. eps must be
	// finite and >= 0. C = 0 gives mean and rstd NaN (0/0), as the loop
	// does.
	//
	//	for r := 0; r < rows; r++ {
	//	  m := Σ_c x[r,c] / C
	//	  v := Σ_c (x[r,c] - m)² / C
	//	  s := 1 / sqrt(v + eps)
	//	  for c := 0; c < C; c++ { out[r,c] = (x[r,c] - m) * s * weight[c] + bias[c] }
	//	  mean[r], rstd[r] = m, s
	//	}
	LayerNormForward(out, mean, rstd, x, weight, bias Buffer, rows, C int, eps float32) error

	// LayerNormBackward accumulates into dx, dweight and dbias (each may be
	// nil), from the mean and rstd saved by the forward:
	//
	//	for r := 0; r < rows; r++ {
	//	  var gm, gnm float32 // means of dnorm and of dnorm·norm over the row
	//	  for c := 0; c < C; c++ {
	//	    norm := (x[r,c] - mean[r]) * rstd[r]
	//	    dnorm := weight[c] * dout[r,c]
	//	    gm += dnorm / C
	//	    gnm += dnorm * norm / C
	//	  }
	//	  for c := 0; c < C; c++ {
	//	    norm := (x[r,c] - mean[r]) * rstd[r]
	//	    dnorm := weight[c] * dout[r,c]
	//	    dbias[c] += dout[r,c]
	//	    dweight[c] += norm * dout[r,c]
	//	    dx[r,c] += rstd[r] * (dnorm - gm - norm*gnm)
	//	  }
	//	}
	//
	// dweight and dbias are sums over all rows; they must be deterministic
	// (the same bits on every run): a GPU implementation reduces per-block
	// partial sums in a fixed order rather than with float atomics.
	LayerNormBackward(dx, dweight, dbias, dout, x, weight, mean, rstd Buffer, rows, C int) error
}
