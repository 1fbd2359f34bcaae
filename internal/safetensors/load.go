package safetensors

import (
	"fmt"
	"slices"
	"strings"
)

// Target is where Load puts one tensor: the shape a model parameter has and
// its float32 storage, row-major, of NumElements(Shape) values.
type Target struct {
	Shape []int
	Data  []float32
}

// LoadOptions adjusts how Load matches file tensors with model tensors.
type LoadOptions struct {
	// Rename maps a tensor name in the file to the model's name for it;
	// returning "" skips that tensor. nil keeps names as they are.
	Rename func(fileName string) string
	// AllowMissing leaves model tensors that the file lacks untouched
	// instead of failing.
	AllowMissing bool
	// AllowUnexpected ignores file tensors that the model lacks instead of
	// failing.
	AllowUnexpected bool
}

// TrimPrefix returns a Rename function that removes prefix from the names
// that start with it (e.g. "transformer." to load a GPT2LMHeadModel
// checkpoint into a model whose names start at "h.0...").
func TrimPrefix(prefix string) func(string) string {
	return func(name string) string { return strings.TrimPrefix(name, prefix) }
}

// AddPrefix returns a Rename function that puts prefix before every name.
func AddPrefix(prefix string) func(string) string {
	return func(name string) string { return prefix + name }
}

// Load copies float tensors of the file into the model's storage, after
// checking all of them: every model tensor is present (unless
// AllowMissing), every file tensor is wanted (unless AllowUnexpected), and
// each pair agrees in shape and has a float dtype. If any check fails Load
// copies nothing and returns a *LoadError that names every tensor at fault.
// opts may be nil.
func (f *File) Load(into map[string]Target, opts *LoadOptions) error {
	if opts == nil {
		opts = &LoadOptions{}
	}
	e := &LoadError{File: f.Path}
	type pair struct {
		src *Tensor
		dst Target
	}
	var pairs []pair
	var unexpected []string     // model-side names of the unexpected tensors
	from := map[string]string{} // model name -> file name it came from
	for i := range f.Tensors {
		t := &f.Tensors[i]
		name := t.Name
		if opts.Rename != nil {
			if name = opts.Rename(t.Name); name == "" {
				continue
			}
		}
		label := t.Name
		if name != t.Name {
			label = fmt.Sprintf("%s (model name %s)", t.Name, name)
		}
		dst, ok := into[name]
		if !ok {
			if !opts.AllowUnexpected {
				e.Unexpected = append(e.Unexpected, label)
			}
			unexpected = append(unexpected, name)
			continue
		}
		if prev, dup := from[name]; dup {
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("tensors %s and %s both map to model tensor %s", prev, t.Name, name))
			continue
		}
		from[name] = t.Name
		switch want := numElements(dst.Shape); {
		case !t.DType.IsFloat():
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("tensor %s: dtype %s cannot be loaded into float32 storage", label, t.DType))
		case !slices.Equal(t.Shape, dst.Shape):
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("tensor %s: shape %v in the file, the model expects %v", label, t.Shape, dst.Shape))
		case len(dst.Data) != want:
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("tensor %s: the model's storage holds %d values, its shape %v needs %d", label, len(dst.Data), dst.Shape, want))
		default:
			pairs = append(pairs, pair{t, dst})
		}
	}
	if !opts.AllowMissing {
		for name := range into {
			if _, ok := from[name]; !ok {
				e.Missing = append(e.Missing, name)
			}
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.Mismatched) > 0 {
		slices.Sort(e.Missing)
		slices.Sort(e.Unexpected)
		e.Hint = prefixHint(e.Missing, unexpected)
		return e
	}
	for _, p := range pairs {
		copy(p.dst.Data, p.src.F32)
	}
	return nil
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// prefixHint guesses that names differ by a prefix, the usual reason a whole
// checkpoint fails to match (Hugging Face's "transformer." for GPT-2).
func prefixHint(missing, unexpected []string) string {
	for _, m := range missing {
		for _, u := range unexpected {
			switch {
			case len(u) > len(m) && strings.HasSuffix(u, m):
				p := u[:len(u)-len(m)]
				return fmt.Sprintf("file names carry a prefix %q that the model's lack: try LoadOptions{Rename: TrimPrefix(%q)}", p, p)
			case len(m) > len(u) && strings.HasSuffix(m, u):
				p := m[:len(m)-len(u)]
				return fmt.Sprintf("model names carry a prefix %q that the file's lack: try LoadOptions{Rename: AddPrefix(%q)}", p, p)
			}
		}
	}
	return ""
}
