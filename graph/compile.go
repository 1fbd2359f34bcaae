package graph

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/gotrain/gotrain/kernels"
)

// Config says what to compile.
type Config struct {
	// Loss is the scalar to minimise. Nil compiles a forward-only program
	// (evaluation, inference).
	Loss *Node
	// Outputs are nodes whose values can be read after a step.
	Outputs []*Node
	// Optimizer updates the trainable parameters after each backward pass.
	// Nil with a Loss computes gradients only.
	Optimizer Optimizer
	// Schedule scales the optimizer's learning rate; nil keeps it constant.
	Schedule Schedule
	// ClipNorm, when positive, scales all gradients so that their global
	// L2 norm is at most ClipNorm before the update.
	ClipNorm float32
	// Training enables dropout.
	Training bool
	// Seed seeds parameter initialisation and dropout masks.
	Seed uint64
	// Shared makes this program use the parameters of another program on
	// the same backend (same names and shapes), e.g. an evaluation program
	// with another batch size next to a training one.
	Shared *Program
}

// slot is one logical buffer of the schedule.
type slot struct {
	name       string
	dt         kernels.DType
	size       int
	persistent bool
	buf        kernels.Buffer
	first      int // position of the first and last instruction using it
	last       int
	offset     int // in the arena, for planned slots
}

// b returns the slot's buffer; nil for a nil slot (an optional gradient).
func (s *slot) b() kernels.Buffer {
	if s == nil {
		return nil
	}
	return s.buf
}

// instr is one kernel call of the schedule.
type instr struct {
	node *Node
	out  *slot // the value a forward instruction writes (NaN diagnosis)
	run  func() error
}

type auxKey struct {
	id   int
	name string
}

type compiler struct {
	g        *Graph
	be       kernels.Backend
	cfg      Config
	p        *Program
	vals     []*slot
	grads    []*slot
	need     []bool // node needs a gradient (depends on a trainable param)
	auxSlots map[auxKey]*slot
	slots    []*slot
	instrs   []instr
	err      error

	gradArena []*slot // the parameters' gradients, views into one buffer (Program.gradArena)
}

func (c *compiler) failf(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("graph: compile: "+format, args...)
	}
}

func (c *compiler) newSlot(name string, dt kernels.DType, size int, persistent bool) *slot {
	s := &slot{name: name, dt: dt, size: size, persistent: persistent, first: -1, last: -1}
	c.slots = append(c.slots, s)
	return s
}

// val returns the slot holding n's value, creating it on first use.
func (c *compiler) val(n *Node) *slot {
	if s := c.vals[n.id]; s != nil {
		return s
	}
	if n.op == opReshape { // a view: the input's buffer
		s := c.val(n.in[0])
		c.vals[n.id] = s
		return s
	}
	s := c.newSlot(n.Name(), n.dtype, n.shape.Size(), false)
	c.vals[n.id] = s
	return s
}

// aux returns a saved buffer of a node (a dropout mask, probabilities).
func (c *compiler) aux(n *Node, name string, size int) *slot {
	s := c.newSlot(n.Name()+"."+name, kernels.F32, size, false)
	c.auxSlots[auxKey{n.id, name}] = s
	return s
}

func (c *compiler) needs(n *Node) bool { return c.need[n.id] }

// grad returns the slot of n's gradient. On first use it emits the zeroing
// of the buffer, since backward kernels accumulate.
func (c *compiler) grad(n *Node) *slot {
	if s := c.grads[n.id]; s != nil {
		return s
	}
	if n.op == opReshape { // a view: the input's gradient
		s := c.grad(n.in[0])
		c.grads[n.id] = s
		return s
	}
	if n.op == opParam {
		// A view into the gradient arena, zeroed with the others by one
		// fill at the start of the backward pass (Compile).
		s := c.newSlot("d"+n.Name(), kernels.F32, n.shape.Size(), true)
		c.grads[n.id] = s
		c.gradArena = append(c.gradArena, s)
		return s
	}
	s := c.newSlot("d"+n.Name(), kernels.F32, n.shape.Size(), false)
	c.grads[n.id] = s
	size := n.shape.Size()
	c.emit(n, nil, func() error { return c.be.Fill(s.buf, 0, size) }, s)
	return s
}

// optGrad is grad for nodes that need one, nil for the others.
func (c *compiler) optGrad(n *Node) *slot {
	if !c.needs(n) {
		return nil
	}
	return c.grad(n)
}

// emit appends a kernel call that uses the given slots.
func (c *compiler) emit(n *Node, out *slot, run func() error, uses ...*slot) {
	pos := len(c.instrs)
	for _, s := range uses {
		if s == nil {
			continue
		}
		if s.first < 0 {
			s.first = pos
		}
		s.last = pos
	}
	c.instrs = append(c.instrs, instr{node: n, out: out, run: run})
}

// Compile builds the forward, backward and update schedule of g for be,
// plans its memory and allocates it.
func Compile(g *Graph, be kernels.Backend, cfg Config) (*Program, error) {
	if g.err != nil {
		return nil, g.err
	}
	if be == nil {
		return nil, fmt.Errorf("graph: compile: nil backend")
	}
	if cfg.Loss != nil {
		if cfg.Loss.g != g {
			return nil, fmt.Errorf("graph: compile: loss %s is not in this graph", cfg.Loss.describe())
		}
		if cfg.Loss.shape.Size() != 1 || cfg.Loss.dtype != kernels.F32 {
			return nil, fmt.Errorf("graph: compile: loss %s must be a float32 scalar [1]", cfg.Loss.describe())
		}
	}
	if cfg.Optimizer != nil && cfg.Loss == nil {
		return nil, fmt.Errorf("graph: compile: an optimizer needs a loss")
	}
	for _, o := range cfg.Outputs {
		if o == nil || o.g != g {
			return nil, fmt.Errorf("graph: compile: an output is nil or not in this graph")
		}
	}
	if cfg.Shared != nil && cfg.Shared.be != be {
		return nil, fmt.Errorf("graph: compile: shared program runs on %s, not %s", cfg.Shared.be.Name(), be.Name())
	}
	c := &compiler{
		g: g, be: be, cfg: cfg,
		vals:     make([]*slot, len(g.nodes)),
		grads:    make([]*slot, len(g.nodes)),
		need:     make([]bool, len(g.nodes)),
		auxSlots: map[auxKey]*slot{},
	}
	p := &Program{
		be: be, cfg: cfg, seed: cfg.Seed,
		inputs: map[string]*inputState{}, params: map[string]*paramState{},
		outputs: map[*Node]*slot{},
	}
	c.p = p

	// Which nodes run: ancestors of the loss and the outputs.
	live := make([]bool, len(g.nodes))
	var mark func(n *Node)
	mark = func(n *Node) {
		if live[n.id] {
			return
		}
		live[n.id] = true
		for _, in := range n.in {
			mark(in)
		}
	}
	if cfg.Loss != nil {
		mark(cfg.Loss)
	}
	for _, o := range cfg.Outputs {
		mark(o)
	}

	// Persistent slots: inputs, parameters, outputs, the loss.
	for _, n := range g.nodes {
		if !live[n.id] {
			continue
		}
		switch n.op {
		case opInput:
			s := c.newSlot(n.name, n.dtype, n.shape.Size(), true)
			c.vals[n.id] = s
			p.inputs[n.name] = &inputState{node: n, slot: s, classes: -1}
			p.inputOrder = append(p.inputOrder, n.name)
		case opParam:
			s := c.newSlot(n.name, n.dtype, n.shape.Size(), true)
			c.vals[n.id] = s
			ps := &paramState{node: n, slot: s}
			p.params[n.name] = ps
			p.paramOrder = append(p.paramOrder, ps)
		case opCrossEntropyRows, opClassifier, opEmbedding:
			// Inputs come before their users, so the state of an input of
			// labels or tokens exists: remember its range, checked when fed.
			idx, ref, what, size := n.in[1], n.in[0], "logits", n.in[0].shape[1]
			if n.op == opEmbedding {
				idx, ref, what, size = n.in[0], n.in[1], "wte", n.in[1].shape[0]
			}
			for idx.op == opReshape {
				idx = idx.in[0]
			}
			if idx.op == opInput {
				if st := p.inputs[idx.name]; st != nil {
					st.classes, st.labelOf, st.rangeOp, st.rangeWhat = size, ref, n.op.name, what
				}
			}
		}
	}
	for _, o := range cfg.Outputs {
		s := c.val(o)
		s.persistent = true
		p.outputs[o] = s
	}
	if cfg.Loss != nil {
		s := c.val(cfg.Loss)
		s.persistent = true
		p.loss = s
		p.outputs[cfg.Loss] = s
	}

	// Forward.
	for _, n := range g.nodes {
		if live[n.id] && n.op.forward != nil {
			n.op.forward(c, n)
		}
	}
	p.nForward = len(c.instrs)
	if c.err != nil {
		return nil, c.err
	}

	// Backward.
	if cfg.Loss != nil {
		for _, n := range g.nodes {
			if !live[n.id] {
				continue
			}
			if n.op == opParam {
				c.need[n.id] = !n.frozen
				continue
			}
			for _, in := range n.in {
				c.need[n.id] = c.need[n.id] || c.need[in.id]
			}
		}
		if err := checkClassifierUse(g, live, cfg.Loss); err != nil {
			return nil, err
		}
		if !c.need[cfg.Loss.id] {
			return nil, fmt.Errorf("graph: compile: loss %s does not depend on any trainable parameter", cfg.Loss.describe())
		}
		// Seed the loss gradient with 1.
		dl := c.newSlot("d"+cfg.Loss.Name(), kernels.F32, 1, true)
		c.grads[cfg.Loss.id] = dl
		c.emit(cfg.Loss, nil, func() error { return be.Fill(dl.buf, 1, 1) }, dl)
		zeroAt := len(c.instrs) // the gradient arena's fill, once its size is known
		c.emit(nil, nil, func() error { return nil })
		for i := len(g.nodes) - 1; i >= 0; i-- {
			n := g.nodes[i]
			if !live[n.id] || !c.need[n.id] || c.grads[n.id] == nil {
				continue
			}
			if n.op.backward == nil {
				return nil, fmt.Errorf("graph: compile: op %s has no gradient, but the loss %s depends on it through a trainable parameter",
					n.describe(), cfg.Loss.describe())
			}
			n.op.backward(c, n)
			if c.err != nil {
				return nil, c.err
			}
		}
		for _, ps := range p.paramOrder {
			ps.grad = c.grads[ps.node.id]
		}
		for _, s := range c.gradArena {
			p.gradSize += s.size
		}
		if size := p.gradSize; size > 0 {
			c.instrs[zeroAt].run = func() error { return be.Fill(p.gradArena, 0, size) }
		}
	}
	p.nBackward = len(c.instrs)

	// Clipping by global norm: acc = Σ‖g‖², then g *= min(1, max/‖g‖).
	if cfg.Loss != nil && cfg.ClipNorm > 0 {
		acc := c.newSlot("grad_norm_sq", kernels.F32, 1, true)
		p.normSq = acc
		c.emit(nil, nil, func() error { return be.Fill(acc.buf, 0, 1) }, acc)
		// Every trainable parameter's gradient is in the arena (grad), and
		// nothing else is: one reduction and one scaling cover them all.
		if size, mx := p.gradSize, cfg.ClipNorm; size > 0 {
			c.emit(nil, nil, func() error { return be.SumSquares(acc.buf, p.gradArena, size) }, acc)
			c.emit(nil, nil, func() error { return be.ClipByGlobalNorm(p.gradArena, acc.buf, mx, size) }, acc)
		}
	}
	p.instrs = c.instrs

	if err := c.allocate(); err != nil {
		return nil, err
	}
	return p, nil
}

// allocate gives every slot a buffer: persistent slots their own (or the
// shared program's parameters), planned slots a view into one arena.
func (c *compiler) allocate() error {
	p, be := c.p, c.be
	var planned []*slot
	for _, s := range c.slots {
		switch {
		case s.buf != nil:
		case s.persistent || s.dt != kernels.F32:
			s.persistent = true
		case s.first >= 0:
			planned = append(planned, s)
		}
	}
	// Parameters: shared, or allocated and initialised.
	for _, ps := range p.paramOrder {
		n := ps.node
		if c.cfg.Shared != nil {
			other := c.cfg.Shared.params[n.name]
			if other == nil {
				return fmt.Errorf("graph: compile: param %q %v is not in the shared program", n.name, n.shape)
			}
			if !other.node.shape.Equal(n.shape) {
				return fmt.Errorf("graph: compile: param %q is %v here but %v in the shared program", n.name, n.shape, other.node.shape)
			}
			ps.slot.buf = other.slot.buf
			continue
		}
		buf, err := be.Alloc(kernels.F32, n.shape.Size())
		if err != nil {
			return fmt.Errorf("graph: compile: param %q %v: %w", n.name, n.shape, err)
		}
		ps.slot.buf = buf
		host := make([]float32, n.shape.Size())
		if n.init != nil {
			fanIn, fanOut := n.shape[0], n.shape[len(n.shape)-1]
			rng := rand.New(rand.NewPCG(c.cfg.Seed, hashString(n.name)))
			n.init(rng, host, fanIn, fanOut)
		}
		if err := be.WriteF32(buf, host); err != nil {
			return fmt.Errorf("graph: compile: param %q: %w", n.name, err)
		}
	}
	if p.gradSize > 0 {
		arena, err := be.Alloc(kernels.F32, p.gradSize)
		if err != nil {
			return fmt.Errorf("graph: compile: parameter gradients (%d floats): %w", p.gradSize, err)
		}
		if err := be.Fill(arena, 0, p.gradSize); err != nil {
			return err
		}
		p.gradArena = arena
		off := 0
		for _, s := range c.gradArena {
			if s.buf, err = be.View(arena, off, s.size); err != nil {
				return fmt.Errorf("graph: compile: gradient %q: %w", s.name, err)
			}
			off += s.size
		}
		p.mem.Persistent += int64(p.gradSize * 4)
	}
	for _, s := range c.slots {
		if !s.persistent || s.buf != nil {
			continue
		}
		buf, err := be.Alloc(s.dt, max(s.size, 1))
		if err != nil {
			return fmt.Errorf("graph: compile: buffer %q (%d × %v): %w", s.name, s.size, s.dt, err)
		}
		if s.dt == kernels.F32 {
			if err := be.Fill(buf, 0, s.size); err != nil {
				return err
			}
		}
		s.buf = buf
		p.mem.Persistent += int64(s.size * s.dt.Size())
	}
	// Optimizer state, zeroed.
	if opt := c.cfg.Optimizer; opt != nil {
		for _, ps := range p.paramOrder {
			if ps.grad == nil {
				continue
			}
			size := ps.node.shape.Size()
			for range opt.States() {
				buf, err := be.Alloc(kernels.F32, size)
				if err != nil {
					return fmt.Errorf("graph: compile: optimizer state of %q %v: %w", ps.node.name, ps.node.shape, err)
				}
				if err := be.Fill(buf, 0, size); err != nil {
					return err
				}
				ps.state = append(ps.state, buf)
				p.mem.Persistent += int64(size * 4)
			}
		}
	}
	for _, ps := range p.paramOrder {
		if c.cfg.Shared == nil {
			p.mem.Persistent += int64(ps.node.shape.Size() * 4)
		}
	}

	// Planned slots: best fit by lifetime, largest first.
	const align = 16 // elements (64 bytes)
	sort.SliceStable(planned, func(i, j int) bool { return planned[i].size > planned[j].size })
	var placed []*slot
	peak := 0
	for _, s := range planned {
		size := (s.size + align - 1) / align * align
		// Intervals of the arena taken by slots whose lifetime overlaps.
		var busy [][2]int
		for _, o := range placed {
			if o.first <= s.last && s.first <= o.last {
				busy = append(busy, [2]int{o.offset, o.offset + (o.size+align-1)/align*align})
			}
		}
		sort.Slice(busy, func(i, j int) bool { return busy[i][0] < busy[j][0] })
		off, best, bestGap := 0, -1, -1
		for _, iv := range busy {
			if gap := iv[0] - off; gap >= size && (bestGap < 0 || gap < bestGap) {
				best, bestGap = off, gap
			}
			off = max(off, iv[1])
		}
		if best < 0 {
			best = off
		}
		s.offset = best
		peak = max(peak, best+size)
		placed = append(placed, s)
		p.mem.PlannedSum += int64(s.size * 4)
	}
	p.mem.PlannedPeak = int64(peak * 4)
	p.mem.Slots = len(planned)
	if r, ok := be.(interface{ SetPlannedPeak(int64) }); ok {
		// A device backend quotes the plan when it runs out of memory.
		r.SetPlannedPeak(p.mem.PlannedPeak + p.mem.Persistent)
	}
	if peak > 0 {
		arena, err := be.Alloc(kernels.F32, peak)
		if err != nil {
			return fmt.Errorf("graph: compile: activation arena of %d bytes: %w", peak*4, err)
		}
		p.arena = arena
		for _, s := range planned {
			v, err := be.View(arena, s.offset, s.size)
			if err != nil {
				return err
			}
			s.buf = v
		}
	}
	return nil
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
