package graph

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"gorgonia.org/tensor"

	"github.com/gotrain/gotrain/kernels"
)

// Program is a compiled graph bound to a backend: its buffers are
// allocated and its schedule fixed. A Program is used from one goroutine.
type Program struct {
	be   kernels.Backend
	cfg  Config
	seed uint64

	instrs              []instr
	nForward, nBackward int // instrs[:nForward] forward, [nForward:nBackward] backward, the rest clipping

	inputs     map[string]*inputState
	inputOrder []string
	params     map[string]*paramState
	paramOrder []*paramState
	outputs    map[*Node]*slot
	loss       *slot
	normSq     *slot
	arena      kernels.Buffer
	gradArena  kernels.Buffer // every trainable parameter's gradient, in compile order
	gradSize   int

	step     int
	lossHost [1]float32
	mem      Memory
	prof     *profiler // nil unless SetProfile(true)
}

type inputState struct {
	node      *Node
	slot      *slot
	fed       bool
	classes   int    // labels of a cross-entropy: valid range [0, classes); -1 otherwise
	labelOf   *Node  // the logits they label, or the embedding they index
	rangeOp   string // the op that uses them
	rangeWhat string // what labelOf is to that op ("logits", "wte")
}

type paramState struct {
	node  *Node
	slot  *slot
	grad  *slot // nil: frozen or unused by the loss
	state []kernels.Buffer
}

// Memory is a program's memory plan, in bytes.
type Memory struct {
	// PlannedPeak is the size of the arena holding activations, saved
	// buffers and activation gradients, reused by lifetime.
	PlannedPeak int64
	// PlannedSum is what those buffers would take without reuse.
	PlannedSum int64
	// Persistent is parameters, their gradients and optimizer state,
	// inputs, outputs and the loss.
	Persistent int64
	// Slots is the number of planned buffers.
	Slots int
}

func (m Memory) String() string {
	return fmt.Sprintf("activations %.2f MiB planned (%.2f MiB without reuse, %d buffers), persistent %.2f MiB",
		float64(m.PlannedPeak)/(1<<20), float64(m.PlannedSum)/(1<<20), m.Slots, float64(m.Persistent)/(1<<20))
}

// Memory returns the program's memory plan.
func (p *Program) Memory() Memory { return p.mem }

// Backend is the backend the program runs on.
func (p *Program) Backend() kernels.Backend { return p.be }

// StepCount is the number of training steps taken.
func (p *Program) StepCount() int { return p.step }

// SetStepCount sets the step counter (when resuming from a checkpoint).
func (p *Program) SetStepCount(step int) { p.step = step }

func (p *Program) input(name string, dt kernels.DType, n int) (*inputState, error) {
	st := p.inputs[name]
	if st == nil {
		names := append([]string(nil), p.inputOrder...)
		sort.Strings(names)
		return nil, fmt.Errorf("graph: feed %q: no such input in this program (inputs: %s)", name, strings.Join(names, ", "))
	}
	if st.node.dtype != dt {
		return nil, fmt.Errorf("graph: feed %q: got %v data, want %v %v", name, dt, st.node.dtype, st.node.shape)
	}
	if want := st.node.shape.Size(); n != want {
		return nil, fmt.Errorf("graph: feed %q: got %d elements, want %d for shape %v", name, n, want, st.node.shape)
	}
	return st, nil
}

// FeedF32 copies a batch into a float32 input. It allocates nothing.
func (p *Program) FeedF32(name string, data []float32) error {
	st, err := p.input(name, kernels.F32, len(data))
	if err != nil {
		return err
	}
	if err := p.be.WriteF32(st.slot.buf, data); err != nil {
		return fmt.Errorf("graph: feed %q: %w", name, err)
	}
	st.fed = true
	return nil
}

// FeedI32 copies a batch into an int32 input. Labels of a cross-entropy are
// checked against the number of classes. It allocates nothing.
func (p *Program) FeedI32(name string, data []int32) error {
	st, err := p.input(name, kernels.I32, len(data))
	if err != nil {
		return err
	}
	if st.classes >= 0 {
		for i, l := range data {
			if l < 0 || int(l) >= st.classes {
				return fmt.Errorf("graph: feed %q: label %d at row %d is out of range [0, %d) for op %s (%s %q %v)",
					name, l, i, st.classes, st.rangeOp, st.rangeWhat, st.labelOf.Name(), st.labelOf.shape)
			}
		}
	}
	if err := p.be.WriteI32(st.slot.buf, data); err != nil {
		return fmt.Errorf("graph: feed %q: %w", name, err)
	}
	st.fed = true
	return nil
}

// Feed copies a host tensor into an input; its dtype and shape must match.
func (p *Program) Feed(name string, t *tensor.Dense) error {
	st := p.inputs[name]
	if st != nil && t != nil {
		if !Shape(t.Shape()).Equal(st.node.shape) {
			return fmt.Errorf("graph: feed %q: got shape %v, want %v", name, Shape(t.Shape()), st.node.shape)
		}
	}
	if t == nil {
		return fmt.Errorf("graph: feed %q: nil tensor", name)
	}
	switch t.Dtype() {
	case tensor.Float32:
		return p.FeedF32(name, t.Float32s())
	case tensor.Int32:
		return p.FeedI32(name, t.Int32s())
	}
	if st != nil {
		return fmt.Errorf("graph: feed %q: got %v data, want %v %v", name, t.Dtype(), st.node.dtype, st.node.shape)
	}
	return fmt.Errorf("graph: feed %q: unsupported dtype %v", name, t.Dtype())
}

func (p *Program) checkFed() error {
	for _, name := range p.inputOrder {
		if st := p.inputs[name]; !st.fed {
			return fmt.Errorf("graph: input %q %v %v was not fed before the step", name, st.node.shape, st.node.dtype)
		}
	}
	return nil
}

func (p *Program) clearFed() {
	for _, name := range p.inputOrder {
		p.inputs[name].fed = false
	}
}

func (p *Program) run(from, to int) error {
	for i := from; i < to; i++ {
		var err error
		if p.prof != nil {
			err = p.timed(p.profileKey(i), p.instrs[i].run)
		} else {
			err = p.instrs[i].run()
		}
		if err != nil {
			n := p.instrs[i].node
			if n != nil {
				return fmt.Errorf("graph: op %s: %w", n.describe(), err)
			}
			return fmt.Errorf("graph: %w", err)
		}
	}
	return nil
}

// Forward runs the forward pass only (evaluation, inference); read results
// with Read or ReadF32/ReadI32. Dropout is the identity unless the program
// was compiled with Training.
func (p *Program) Forward() error {
	if err := p.checkFed(); err != nil {
		return err
	}
	defer p.clearFed()
	if err := p.run(0, p.nForward); err != nil {
		return err
	}
	return p.be.Sync()
}

// Step runs one training step: forward, backward, clipping and the
// optimizer update, and returns the loss. A non-finite loss returns an error
// naming the first op that produced a non-finite value, and leaves the
// parameters untouched. It allocates nothing.
func (p *Program) Step() (float32, error) {
	if p.loss == nil {
		return 0, errors.New("graph: step: program has no loss; compile with Config.Loss")
	}
	if err := p.checkFed(); err != nil {
		return 0, err
	}
	defer p.clearFed()
	p.step++
	if err := p.run(0, p.nBackward); err != nil {
		return 0, err
	}
	if err := p.be.ReadF32(p.lossHost[:], p.loss.buf); err != nil {
		return 0, fmt.Errorf("graph: step %d: reading the loss: %w", p.step, err)
	}
	if err := p.be.Sync(); err != nil {
		return 0, fmt.Errorf("graph: step %d: %w", p.step, err)
	}
	loss := p.lossHost[0]
	if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
		err := p.diagnose(loss)
		p.step--
		return loss, err
	}
	if err := p.run(p.nBackward, len(p.instrs)); err != nil {
		return loss, err
	}
	if opt := p.cfg.Optimizer; opt != nil {
		lr := opt.BaseLR()
		if p.cfg.Schedule != nil {
			lr = p.cfg.Schedule.LR(p.step, lr)
		}
		for _, ps := range p.paramOrder {
			if ps.grad == nil {
				continue
			}
			update := func() error {
				return opt.Update(p.be, ps.slot.buf, ps.grad.buf, ps.state, ps.node.shape.Size(), p.step, lr, ps.node.Decays())
			}
			var err error
			if p.prof != nil {
				err = p.timed("optimizer update", update)
			} else {
				err = update()
			}
			if err != nil {
				return loss, fmt.Errorf("graph: step %d: update of %q: %w", p.step, ps.node.name, err)
			}
		}
	}
	return loss, p.be.Sync()
}

// LR is the learning rate of the next step.
func (p *Program) LR() float32 {
	opt := p.cfg.Optimizer
	if opt == nil {
		return 0
	}
	if p.cfg.Schedule != nil {
		return p.cfg.Schedule.LR(p.step+1, opt.BaseLR())
	}
	return opt.BaseLR()
}

// diagnose reruns the forward pass op by op to find the first non-finite
// value, after checking the fed inputs.
func (p *Program) diagnose(loss float32) error {
	head := fmt.Sprintf("graph: step %d: loss %q is %v", p.step, p.cfg.Loss.Name(), loss)
	for _, name := range p.inputOrder {
		st := p.inputs[name]
		if st.node.dtype != kernels.F32 {
			continue
		}
		if i, v, ok := p.firstNonFinite(st.slot); ok {
			return fmt.Errorf("%s: input %q %v holds %v at element %d", head, name, st.node.shape, v, i)
		}
	}
	for _, ps := range p.paramOrder {
		if i, v, ok := p.firstNonFinite(ps.slot); ok {
			return fmt.Errorf("%s: param %q %v holds %v at element %d", head, ps.node.name, ps.node.shape, v, i)
		}
	}
	for k := 0; k < p.nForward; k++ {
		in := p.instrs[k]
		if err := in.run(); err != nil {
			return fmt.Errorf("%s; rerunning op %s: %w", head, in.node.describe(), err)
		}
		if in.out == nil || in.out.dt != kernels.F32 {
			continue
		}
		if i, v, ok := p.firstNonFinite(in.out); ok {
			var ins []string
			for _, x := range in.node.in {
				ins = append(ins, x.describe())
			}
			return fmt.Errorf("%s: first non-finite value is %v at element %d of op %s (inputs: %s)",
				head, v, i, in.node.describe(), strings.Join(ins, "; "))
		}
	}
	return errors.New(head)
}

func (p *Program) firstNonFinite(s *slot) (int, float32, bool) {
	host := make([]float32, s.size)
	if p.be.ReadF32(host, s.buf) != nil {
		return 0, 0, false
	}
	for i, v := range host {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i, v, true
		}
	}
	return 0, 0, false
}

func (p *Program) dropoutSeed(node uint64) uint64 {
	z := p.seed ^ node*0x9E3779B97F4A7C15 ^ uint64(p.step)*0xD1B54A32D192ED03
	z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCD
	return z ^ (z >> 33)
}

func (p *Program) output(n *Node) (*slot, error) {
	s := p.outputs[n]
	if s == nil {
		if n == nil {
			return nil, errors.New("graph: read: nil node")
		}
		if ps := p.params[n.name]; n.op == opParam && ps != nil {
			return ps.slot, nil
		}
		return nil, fmt.Errorf("graph: read %s: not an output of this program; list it in Config.Outputs", n.describe())
	}
	return s, nil
}

// ReadF32 copies a float32 output to dst, which must have its size.
func (p *Program) ReadF32(n *Node, dst []float32) error {
	s, err := p.output(n)
	if err != nil {
		return err
	}
	if s.dt != kernels.F32 || len(dst) != s.size {
		return fmt.Errorf("graph: read %s: into %d float32, want %d %v", n.describe(), len(dst), s.size, s.dt)
	}
	return p.be.ReadF32(dst, s.buf)
}

// ReadI32 copies an int32 output to dst, which must have its size.
func (p *Program) ReadI32(n *Node, dst []int32) error {
	s, err := p.output(n)
	if err != nil {
		return err
	}
	if s.dt != kernels.I32 || len(dst) != s.size {
		return fmt.Errorf("graph: read %s: into %d int32, want %d %v", n.describe(), len(dst), s.size, s.dt)
	}
	return p.be.ReadI32(dst, s.buf)
}

// Read returns an output (or a parameter) as a new host tensor.
func (p *Program) Read(n *Node) (*tensor.Dense, error) {
	s, err := p.output(n)
	if err != nil {
		return nil, err
	}
	if s.dt == kernels.I32 {
		host := make([]int32, s.size)
		if err := p.be.ReadI32(host, s.buf); err != nil {
			return nil, err
		}
		return tensor.New(tensor.WithShape(n.shape...), tensor.WithBacking(host)), nil
	}
	host := make([]float32, s.size)
	if err := p.be.ReadF32(host, s.buf); err != nil {
		return nil, err
	}
	return tensor.New(tensor.WithShape(n.shape...), tensor.WithBacking(host)), nil
}

// ParamNames lists the parameters in the order they were added.
func (p *Program) ParamNames() []string {
	names := make([]string, len(p.paramOrder))
	for i, ps := range p.paramOrder {
		names[i] = ps.node.name
	}
	return names
}

// Param returns a copy of a parameter's values.
func (p *Program) Param(name string) (*tensor.Dense, error) {
	ps := p.params[name]
	if ps == nil {
		return nil, fmt.Errorf("graph: param %q: no such parameter", name)
	}
	return p.Read(ps.node)
}

// SetParam overwrites a parameter (pretrained weights); the tensor's shape
// must match.
func (p *Program) SetParam(name string, t *tensor.Dense) error {
	ps := p.params[name]
	if ps == nil {
		return fmt.Errorf("graph: set param %q: no such parameter", name)
	}
	if t == nil || t.Dtype() != tensor.Float32 || !Shape(t.Shape()).Equal(ps.node.shape) {
		if t == nil {
			return fmt.Errorf("graph: set param %q: nil tensor", name)
		}
		return fmt.Errorf("graph: set param %q: got %v %v, want float32 %v", name, t.Dtype(), Shape(t.Shape()), ps.node.shape)
	}
	return p.be.WriteF32(ps.slot.buf, t.Float32s())
}

// Grad copies a parameter's gradient from the last step into dst.
func (p *Program) Grad(name string, dst []float32) error {
	ps := p.params[name]
	if ps == nil {
		return fmt.Errorf("graph: grad %q: no such parameter", name)
	}
	if ps.grad == nil {
		return fmt.Errorf("graph: grad %q: the parameter has no gradient (frozen, or unused by the loss)", name)
	}
	if len(dst) != ps.grad.size {
		return fmt.Errorf("graph: grad %q: into %d float32, want %d", name, len(dst), ps.grad.size)
	}
	return p.be.ReadF32(dst, ps.grad.buf)
}

// OptimizerState returns copies of a parameter's optimizer state buffers
// (SGD's velocity; Adam's first and second moments), for checkpoints.
func (p *Program) OptimizerState(name string) ([][]float32, error) {
	ps := p.params[name]
	if ps == nil {
		return nil, fmt.Errorf("graph: optimizer state of %q: no such parameter", name)
	}
	out := make([][]float32, len(ps.state))
	for i, buf := range ps.state {
		out[i] = make([]float32, ps.node.shape.Size())
		if err := p.be.ReadF32(out[i], buf); err != nil {
			return nil, fmt.Errorf("graph: optimizer state %d of %q: %w", i, name, err)
		}
	}
	return out, nil
}

// SetOptimizerState overwrites a parameter's optimizer state (resuming from
// a checkpoint); st must hold as many buffers, each of the parameter's size.
func (p *Program) SetOptimizerState(name string, st [][]float32) error {
	ps := p.params[name]
	if ps == nil {
		return fmt.Errorf("graph: set optimizer state of %q: no such parameter", name)
	}
	if len(st) != len(ps.state) {
		return fmt.Errorf("graph: set optimizer state of %q: got %d buffers, want %d", name, len(st), len(ps.state))
	}
	for i, s := range st {
		if len(s) != ps.node.shape.Size() {
			return fmt.Errorf("graph: set optimizer state %d of %q %v: got %d values, want %d", i, name, ps.node.shape, len(s), ps.node.shape.Size())
		}
		if err := p.be.WriteF32(ps.state[i], s); err != nil {
			return err
		}
	}
	return nil
}

// ParamShape returns a parameter's shape, or nil if there is none.
func (p *Program) ParamShape(name string) Shape {
	if ps := p.params[name]; ps != nil {
		return ps.node.shape
	}
	return nil
}
