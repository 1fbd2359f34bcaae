package device

// The launchers of the transformer kernels (kernels.Transformer):
// kernels/embedding.cu, layernorm.cu, attention.cu and classifier.cu. Each
// checks the constraints its .cu file states, then queues its kernels; none
// waits for the device. The kernels that need scratch memory (LayerNorm's
// parameter partials, attention's row dot products D) take it from the
// caching allocator and give it back before returning: the stream runs
// everything in order, so a later user of the block cannot touch it before
// these kernels are done, and after the first call the block comes from the
// allocator's cache.

import (
	"fmt"
	"math"

	"github.com/gotrain/gotrain/kernels"
)

var _ kernels.Transformer = (*Backend)(nil)

// transformerKernelNames are the kernels of kernels.Transformer
// (GOTRAIN_TRANSFORMER_KERNELS in kernels.cuh); Open loads them with
// kernelNames.
var transformerKernelNames = []string{
	"embedding_forward_f32", "embedding_backward_wte_f32", "embedding_backward_wpe_f32",
	"layernorm_forward_f32", "layernorm_backward_f32", "layernorm_backward_partials_f32", "layernorm_backward_finish_f32",
	"attention_forward_hs32_f32", "attention_forward_hs64_f32", "attention_forward_hs128_f32",
	"attention_backward_dot_f32",
	"attention_backward_kv_hs32_f32", "attention_backward_kv_hs64_f32", "attention_backward_kv_hs128_f32",
	"attention_backward_q_hs32_f32", "attention_backward_q_hs64_f32", "attention_backward_q_hs128_f32",
	"classifier_forward_backward_f32",
}

// Launch shapes of the transformer kernels (the .cu files' headers).
const (
	embSlab     = 16  // tokens of an embedding_backward_wte_f32 unit
	embChannels = 128 // channels of a unit
	embThreads  = 128 // 4 warps, one unit each at a time
	lnGroupRows = 64  // rows per LayerNorm parameter-gradient group, at least
	lnMaxGroups = 256 // groups at most (the partials are 2·groups·C floats)
	attnThreads = 128 // 4 warps
	attnMaxHS   = 128 // the largest head size of the attention kernels
)

// attnVariant is one head-size bound of the attention kernels: its kernels
// and the rows (queries, or keys for kv) each block takes (GT_ATT_* in
// attention.cu: ROWS = 4·R).
type attnVariant struct {
	maxHS                  int
	forward, kv, q         string
	fwdRows, kvRows, qRows int
}

var attnVariants = [...]attnVariant{
	{32, "attention_forward_hs32_f32", "attention_backward_kv_hs32_f32", "attention_backward_q_hs32_f32", 32, 32, 32},
	{64, "attention_forward_hs64_f32", "attention_backward_kv_hs64_f32", "attention_backward_q_hs64_f32", 32, 32, 32},
	{128, "attention_forward_hs128_f32", "attention_backward_kv_hs128_f32", "attention_backward_q_hs128_f32", 32, 16, 16},
}

// attention returns the variant for head size HS (1 <= HS <= attnMaxHS).
func (c *chk) attention(HS int) *attnVariant {
	if c.err != nil {
		return nil
	}
	for i := range attnVariants {
		if HS <= attnVariants[i].maxHS {
			return &attnVariants[i]
		}
	}
	c.err = fmt.Errorf("%s: HS = %d: the device's attention kernels take head sizes up to %d (their tiles live in static shared memory): %w",
		c.op, HS, attnMaxHS, kernels.ErrShape)
	return nil
}

// attnGrid is the grid of an attention kernel: one block per (b, h, tile).
func attnGrid(heads, T, rows int) int {
	return min(heads*((T+rows-1)/rows), maxGrid)
}

// dims checks dimensions whose product is a buffer length the kernels
// index with C ints: it returns the product.
func (c *chk) dims(names string, dims ...int) int {
	if c.err != nil {
		return 0
	}
	var n int
	if n, c.err = kernels.CheckDims(c.op, names, dims...); c.err == nil {
		c.err = size(c.op, n)
	}
	return n
}

// table checks a float32 [V, C] embedding table, V = Len()/C (0 when C is
// 0), and returns its address and V.
func (c *chk) table(what string, buf kernels.Buffer, C int) (ptr, int) {
	if c.err != nil {
		return 0, 0
	}
	if c.err = kernels.CheckF32(c.op, what, buf, 0); c.err != nil {
		return 0, 0
	}
	V := 0
	if C > 0 {
		V = buf.Len() / C
	}
	c.n(V * C)
	return c.f(what, buf, V*C), V
}

// isNil reports whether an optional buffer is absent.
func isNil(buf kernels.Buffer) bool {
	if buf == nil {
		return true
	}
	d, ok := buf.(*Buffer)
	return ok && d == nil
}

// scratch takes n float32s of device memory from the caching allocator for
// the duration of one call; the caller frees it with b.alloc.freeBlock.
func (b *Backend) scratch(op string, n int) (ptr, error) {
	p, err := b.alloc.alloc(int64(4 * max(n, 1)))
	if err != nil {
		return 0, fmt.Errorf("%s: scratch of %d floats: %w", op, n, err)
	}
	return p, nil
}

// EmbeddingForward implements kernels.Embedding.
func (b *Backend) EmbeddingForward(out, tokens, wte, wpe kernels.Buffer, B, T, C int) error {
	c := b.check("embedding_forward")
	bt := c.dims("B T", B, T)
	n := c.dims("B T C", B, T, C)
	po := c.f("out", out, n)
	pt := c.i("tokens", tokens, bt)
	pw, V := c.table("wte", wte, C)
	pp := c.f("wpe", wpe, c.n(T*C))
	if c.err != nil || n == 0 {
		return c.err
	}
	b.a.reset().p(po).p(pt).p(pw).p(pp).i(bt).i(T).i(C).i(V)
	return b.launch(c.op, "embedding_forward_f32", rowsGrid(bt), blockSize)
}

// EmbeddingBackward implements kernels.Embedding: dwte by
// embedding_backward_wte_f32 (each warp owns 16 tokens × 128 channels of
// dwte and walks every position in order), dwpe by
// embedding_backward_wpe_f32.
func (b *Backend) EmbeddingBackward(dwte, dwpe, dout, tokens kernels.Buffer, B, T, C int) error {
	c := b.check("embedding_backward")
	bt := c.dims("B T", B, T)
	n := c.dims("B T C", B, T, C)
	var pw ptr
	V := 0
	if !isNil(dwte) {
		pw, V = c.table("dwte", dwte, C)
	}
	pp := c.opt("dwpe", dwpe, c.n(T*C))
	pd := c.f("dout", dout, n)
	pt := c.i("tokens", tokens, bt)
	if c.err != nil || n == 0 {
		return c.err
	}
	if pw != 0 && V > 0 {
		units := ((V + embSlab - 1) / embSlab) * ((C + embChannels - 1) / embChannels)
		b.a.reset().p(pw).p(pd).p(pt).i(bt).i(C).i(V)
		if err := b.launch(c.op, "embedding_backward_wte_f32", min((units+3)/4, maxGrid), embThreads); err != nil {
			return err
		}
	}
	if pp != 0 {
		b.a.reset().p(pp).p(pd).i(B).i(T).i(C)
		return b.elementwise(c.op, "embedding_backward_wpe_f32", T*C)
	}
	return nil
}

// LayerNormForward implements kernels.LayerNorm.
func (b *Backend) LayerNormForward(out, mean, rstd, x, weight, bias kernels.Buffer, rows, C int, eps float32) error {
	c := b.check("layernorm_forward")
	n := c.rows(rows, C)
	c.n(rows)
	c.ok(kernels.CheckHyper(c.op, "eps", eps))
	po, pm, pr := c.f("out", out, n), c.f("mean", mean, rows), c.f("rstd", rstd, rows)
	px, pw, pb := c.f("x", x, n), c.f("weight", weight, c.n(C)), c.f("bias", bias, C)
	if c.err != nil || rows == 0 {
		return c.err
	}
	b.a.reset().p(po).p(pm).p(pr).p(px).p(pw).p(pb).i(rows).i(C).f(eps)
	return b.launch(c.op, "layernorm_forward_f32", rowsGrid(rows), blockSize)
}

// layerNormGroups is the number of row groups of the parameter gradients'
// partial sums: a function of rows alone, so results do not depend on the
// device.
func layerNormGroups(rows int) int {
	return max(1, min((rows+lnGroupRows-1)/lnGroupRows, lnMaxGroups))
}

// LayerNormBackward implements kernels.LayerNorm: dx by
// layernorm_backward_f32, dweight and dbias by per-group partial sums into a
// scratch [2, groups, C] and a fixed-order finish.
func (b *Backend) LayerNormBackward(dx, dweight, dbias, dout, x, weight, mean, rstd kernels.Buffer, rows, C int) error {
	c := b.check("layernorm_backward")
	n := c.rows(rows, C)
	c.n(rows)
	c.n(C)
	pdx, pdw, pdb := c.opt("dx", dx, n), c.opt("dweight", dweight, C), c.opt("dbias", dbias, C)
	pdo, px, pw := c.f("dout", dout, n), c.f("x", x, n), c.f("weight", weight, C)
	pm, pr := c.f("mean", mean, rows), c.f("rstd", rstd, rows)
	if c.err != nil || n == 0 {
		return c.err
	}
	if pdx != 0 {
		b.a.reset().p(pdx).p(pdo).p(px).p(pw).p(pm).p(pr).i(rows).i(C)
		if err := b.launch(c.op, "layernorm_backward_f32", rowsGrid(rows), blockSize); err != nil {
			return err
		}
	}
	if pdw == 0 && pdb == 0 {
		return nil
	}
	groups := layerNormGroups(rows)
	if 2*groups > math.MaxInt32/C {
		return fmt.Errorf("%s: rows = %d, C = %d: the %d×2×C partial sums do not fit int32 indexing: %w", c.op, rows, C, groups, kernels.ErrShape)
	}
	part, err := b.scratch(c.op, 2*groups*C)
	if err != nil {
		return err
	}
	defer b.alloc.freeBlock(part)
	b.a.reset().p(part).p(pdo).p(px).p(pm).p(pr).i(rows).i(C).i(groups)
	if err := b.launch(c.op, "layernorm_backward_partials_f32", min(groups*columnsGrid(C), maxGrid), blockSize); err != nil {
		return err
	}
	b.a.reset().p(pdw).p(pdb).p(part).i(groups).i(C)
	return b.launch(c.op, "layernorm_backward_finish_f32", columnsGrid(C), blockSize)
}

// AttentionForward implements kernels.Attention.
func (b *Backend) AttentionForward(out, lse, qkv kernels.Buffer, B, T, NH, HS int) error {
	c := b.check("attention_forward")
	nqkv, nout, nlse, err := kernels.CheckAttention(c.op, B, T, NH, HS)
	c.ok(err)
	c.n(nqkv)
	po, pl, pq := c.f("out", out, nout), c.f("lse", lse, nlse), c.f("qkv", qkv, nqkv)
	if c.err != nil || nlse == 0 {
		return c.err
	}
	v := c.attention(HS)
	if c.err != nil {
		return c.err
	}
	b.a.reset().p(po).p(pl).p(pq).i(B).i(T).i(NH).i(HS)
	return b.launch(c.op, v.forward, attnGrid(B*NH, T, v.fwdRows), attnThreads)
}

// AttentionBackward implements kernels.Attention: D = dout·out per query
// into a scratch [B, NH, T], then dK, dV (one block per key tile) and dQ
// (one block per query tile), each added once per element.
func (b *Backend) AttentionBackward(dqkv, dout, qkv, out, lse kernels.Buffer, B, T, NH, HS int) error {
	c := b.check("attention_backward")
	nqkv, nout, nlse, err := kernels.CheckAttention(c.op, B, T, NH, HS)
	c.ok(err)
	c.n(nqkv)
	pdq := c.opt("dqkv", dqkv, nqkv)
	pdo, pq, po, pl := c.f("dout", dout, nout), c.f("qkv", qkv, nqkv), c.f("out", out, nout), c.f("lse", lse, nlse)
	if c.err != nil || pdq == 0 || nlse == 0 {
		return c.err
	}
	v := c.attention(HS)
	if c.err != nil {
		return c.err
	}
	pD, err := b.scratch(c.op, nlse)
	if err != nil {
		return err
	}
	defer b.alloc.freeBlock(pD)
	b.a.reset().p(pD).p(pdo).p(po).i(B).i(T).i(NH).i(HS)
	if err := b.launch(c.op, "attention_backward_dot_f32", rowsGrid(nlse), blockSize); err != nil {
		return err
	}
	b.a.reset().p(pdq).p(pdo).p(pq).p(pl).p(pD).i(B).i(T).i(NH).i(HS)
	if err := b.launch(c.op, v.kv, attnGrid(B*NH, T, v.kvRows), attnThreads); err != nil {
		return err
	}
	b.a.reset().p(pdq).p(pdo).p(pq).p(pl).p(pD).i(B).i(T).i(NH).i(HS)
	return b.launch(c.op, v.q, attnGrid(B*NH, T, v.qRows), attnThreads)
}

// ClassifierForwardBackward implements kernels.Classifier.
func (b *Backend) ClassifierForwardBackward(losses, logits, labels kernels.Buffer, dlossScale float32, rows, V int) error {
	c := b.check("classifier_forward_backward")
	n := c.rows(rows, V)
	c.n(rows)
	pl, px, py := c.f("losses", losses, rows), c.f("logits", logits, n), c.i("labels", labels, rows)
	if c.err != nil || rows == 0 {
		return c.err
	}
	b.a.reset().p(pl).p(px).p(py).f(dlossScale).i(rows).i(V)
	return b.launch(c.op, "classifier_forward_backward_f32", rowsGrid(rows), blockSize)
}
