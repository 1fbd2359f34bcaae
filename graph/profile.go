package graph

import (
	"fmt"
	"sort"
	"time"
)

// OpTime is the time one kind of op took, summed over the steps profiled.
type OpTime struct {
	Op    string        // the op and pass: "matmul forward", "attention backward", "optimizer update", ...
	Calls int           // kernel calls (instructions) counted
	Time  time.Duration // wall time, the device synchronised after each call
}

// profiler sums the time of each instruction by op and pass.
type profiler struct {
	byKey map[string]*OpTime
	keys  []string // per instruction of the program; "" until first seen
}

// SetProfile turns per-op timing on or off (and clears what was counted).
// With it on, the device is synchronised after every instruction, so each
// op's time is its own, but the step is slower than without it: use it to
// find where a step's time goes, never to measure the step.
func (p *Program) SetProfile(on bool) {
	if !on {
		p.prof = nil
		return
	}
	p.prof = &profiler{byKey: map[string]*OpTime{}, keys: make([]string, len(p.instrs))}
}

// Profile returns the time per op and pass since SetProfile(true), the
// largest first. It is nil when profiling is off.
func (p *Program) Profile() []OpTime {
	if p.prof == nil {
		return nil
	}
	out := make([]OpTime, 0, len(p.prof.byKey))
	for _, t := range p.prof.byKey {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Time != out[j].Time {
			return out[i].Time > out[j].Time
		}
		return out[i].Op < out[j].Op
	})
	return out
}

// key names instruction i for the profile.
func (p *Program) profileKey(i int) string {
	if k := p.prof.keys[i]; k != "" {
		return k
	}
	pass := "forward"
	switch {
	case i >= p.nBackward:
		pass = "clip"
	case i >= p.nForward:
		pass = "backward"
	}
	op := "step"
	if n := p.instrs[i].node; n != nil {
		op = n.op.name
	}
	k := op + " " + pass
	p.prof.keys[i] = k
	return k
}

// timed runs f, synchronised before and after, and adds its time to key.
func (p *Program) timed(key string, f func() error) error {
	if err := p.be.Sync(); err != nil {
		return err
	}
	start := time.Now()
	err := f()
	if serr := p.be.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("%s: %w", key, serr)
	}
	t := p.prof.byKey[key]
	if t == nil {
		t = &OpTime{Op: key}
		p.prof.byKey[key] = t
	}
	t.Calls++
	t.Time += time.Since(start)
	return err
}
