package kernels

import "fmt"

// Attention is GPT-2's causal multi-head self-attention, computed the
// FlashAttention way: the forward saves one log-sum-exp per query instead of
// the [T, T] attention matrix, and the backward recomputes the
// probabilities from it.
//
// Layout (llm.c's attention_forward): qkv is [B, T, 3C], the output of the
// fused QKV projection, with C = NH·HS; at position (b, t) the query is
// qkv[b,t, 0:C], the key qkv[b,t, C:2C] and the value qkv[b,t, 2C:3C], and
// head h uses channels h·HS .. (h+1)·HS of each. out is [B, T, C] with the
// heads side by side (ready for the output projection); lse is [B, NH, T].
// Writing
//
//	q(b,t,h,i) = qkv[(b*T+t)*3*C + h*HS + i]
//	k(b,t,h,i) = qkv[(b*T+t)*3*C + C + h*HS + i]
//	v(b,t,h,i) = qkv[(b*T+t)*3*C + 2*C + h*HS + i]
//
// and s(t, t2) = Σ_i q(b,t,h,i)·k(b,t2,h,i) / sqrt(HS) for the scores of one
// (b, h), query t attends to keys t2 <= t only.
type Attention interface {
	// AttentionForward overwrites out and lse:
	//
	//	for b, h, t:
	//	  m := max_{t2<=t} s(t, t2)
	//	  z := Σ_{t2<=t} exp(s(t, t2) - m)
	//	  for i := 0; i < HS; i++ {
	//	    out[(b*T+t)*C + h*HS + i] = Σ_{t2<=t} exp(s(t, t2) - m) / z * v(b,t2,h,i)
	//	  }
	//	  lse[(b*NH+h)*T + t] = m + log(z)
	AttentionForward(out, lse, qkv Buffer, B, T, NH, HS int) error

	// AttentionBackward accumulates the gradient of qkv (nil: skipped),
	// given dout, the forward's input qkv, its output out and its lse:
	//
	//	for b, h, t:
	//	  D := Σ_i dout[(b*T+t)*C + h*HS + i] * out[(b*T+t)*C + h*HS + i]
	//	  for t2 := 0; t2 <= t; t2++ {
	//	    p  := exp(s(t, t2) - lse[(b*NH+h)*T + t])
	//	    dp := Σ_i dout[(b*T+t)*C + h*HS + i] * v(b,t2,h,i)
	//	    ds := p * (dp - D) / sqrt(HS)
	//	    for i := 0; i < HS; i++ {
	//	      dq(b,t,h,i)  += ds * k(b,t2,h,i)
	//	      dk(b,t2,h,i) += ds * q(b,t,h,i)
	//	      dv(b,t2,h,i) += p * dout[(b*T+t)*C + h*HS + i]
	//	    }
	//	  }
	//
	// where dq, dk and dv address dqkv as q, k and v address qkv. D is
	// Σ_t2 p·dp (the softmax backward's row dot product), computed from out.
	// No [T, T] matrix is kept between the forward and the backward. The
	// result must be deterministic (the same bits on every run).
	AttentionBackward(dqkv, dout, qkv, out, lse Buffer, B, T, NH, HS int) error
}

// CheckAttention validates the dimensions of AttentionForward and
// AttentionBackward and returns the lengths their buffers must have: qkv
// (B·T·3C), out and dout (B·T·C) and lse (B·NH·T), with C = NH·HS. A head
// needs at least one channel (HS > 0) whenever there is anything to compute.
func CheckAttention(op string, B, T, NH, HS int) (nqkv, nout, nlse int, err error) {
	const names = "B T 3 NH HS"
	if nqkv, err = CheckDims(op, names, B, T, 3, NH, HS); err != nil {
		return 0, 0, 0, err
	}
	nout = nqkv / 3
	if nlse, err = CheckDims(op, "B NH T", B, NH, T); err != nil {
		return 0, 0, 0, err
	}
	if HS == 0 && nlse > 0 {
		return 0, 0, 0, fmt.Errorf("%s: B = %d, T = %d, NH = %d, HS = 0: a head needs at least one channel: %w", op, B, T, NH, ErrShape)
	}
	return nqkv, nout, nlse, nil
}
