package safetensors

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// gpt2File is a GPT-2-like checkpoint with Hugging Face's names.
func gpt2File(t *testing.T, prefix string) *File {
	t.Helper()
	data, err := Marshal([]Tensor{
		{Name: prefix + "wte.weight", DType: F32, Shape: []int{4, 2}, F32: []float32{1, 2, 3, 4, 5, 6, 7, 8}},
		{Name: prefix + "h.0.attn.c_attn.weight", DType: F16, Shape: []int{2, 6}, F32: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{Name: prefix + "h.0.attn.bias", DType: U8, Shape: []int{1, 1, 2, 2}, Raw: []byte{1, 0, 1, 1}},
		{Name: prefix + "ln_f.bias", DType: BF16, Shape: []int{2}, F32: []float32{0.5, -0.5}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := mustRead(t, data)
	f.Path = "gpt2.safetensors"
	return f
}

// model returns targets for the float tensors of gpt2File, filled with -1.
func model() map[string]Target {
	mk := func(shape ...int) Target {
		d := make([]float32, numElements(shape))
		for i := range d {
			d[i] = -1
		}
		return Target{Shape: shape, Data: d}
	}
	return map[string]Target{
		"wte.weight":             mk(4, 2),
		"h.0.attn.c_attn.weight": mk(2, 6),
		"ln_f.bias":              mk(2),
	}
}

func untouched(m map[string]Target) bool {
	for _, tg := range m {
		for _, x := range tg.Data {
			if x != -1 {
				return false
			}
		}
	}
	return true
}

func TestLoad(t *testing.T) {
	f := gpt2File(t, "")
	m := model()
	skipBias := func(n string) string {
		if strings.HasSuffix(n, ".attn.bias") {
			return ""
		}
		return n
	}
	if err := f.Load(m, &LoadOptions{Rename: skipBias}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m["wte.weight"].Data, []float32{1, 2, 3, 4, 5, 6, 7, 8}) ||
		!slices.Equal(m["h.0.attn.c_attn.weight"].Data, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) ||
		!slices.Equal(m["ln_f.bias"].Data, []float32{0.5, -0.5}) {
		t.Errorf("loaded %v", m)
	}

	// The same with Hugging Face's "transformer." prefix.
	m = model()
	if err := gpt2File(t, "transformer.").Load(m, &LoadOptions{Rename: TrimPrefix("transformer."), AllowUnexpected: true}); err != nil {
		t.Fatal(err)
	}
	if m["ln_f.bias"].Data[0] != 0.5 {
		t.Error("not loaded through TrimPrefix")
	}
}

func TestLoadReportsEverything(t *testing.T) {
	f := gpt2File(t, "")
	m := model()
	m["wte.weight"] = Target{Shape: []int{2, 4}, Data: m["wte.weight"].Data}        // transposed
	m["ln_f.bias"] = Target{Shape: []int{2}, Data: make([]float32, 3)}              // storage too long
	m["h.0.attn.bias"] = Target{Shape: []int{1, 1, 2, 2}, Data: make([]float32, 4)} // an integer tensor
	m["h.0.mlp.c_fc.weight"] = Target{Shape: []int{1}, Data: []float32{-1}}         // missing
	delete(m, "h.0.attn.c_attn.weight")                                             // unexpected
	for name, tg := range m {
		for i := range tg.Data {
			tg.Data[i] = -1
		}
		m[name] = tg
	}
	err := f.Load(m, nil)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LoadError", err)
	}
	if !slices.Equal(le.Missing, []string{"h.0.mlp.c_fc.weight"}) || !slices.Equal(le.Unexpected, []string{"h.0.attn.c_attn.weight"}) || len(le.Mismatched) != 3 {
		t.Errorf("%+v", le)
	}
	for _, s := range []string{
		"checkpoint gpt2.safetensors: cannot load into the model",
		"1 missing from the file (h.0.mlp.c_fc.weight)",
		"1 in the file but not in the model (h.0.attn.c_attn.weight)",
		"tensor wte.weight: shape [4 2] in the file, the model expects [2 4]",
		"tensor ln_f.bias: the model's storage holds 3 values, its shape [2] needs 2",
		"tensor h.0.attn.bias: dtype U8 cannot be loaded into float32 storage",
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if !untouched(m) {
		t.Error("a failed Load copied data")
	}

	// AllowMissing and AllowUnexpected silence those two, not mismatches.
	err = f.Load(m, &LoadOptions{AllowMissing: true, AllowUnexpected: true})
	if !errors.As(err, &le) || len(le.Missing)+len(le.Unexpected) != 0 || len(le.Mismatched) != 3 {
		t.Errorf("with Allow*: %v", err)
	}
}

func TestLoadPrefixHint(t *testing.T) {
	f := gpt2File(t, "transformer.")
	m := model()
	err := f.Load(m, nil)
	var le *LoadError
	if !errors.As(err, &le) || len(le.Missing) != 3 || len(le.Unexpected) != 4 {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(err.Error(), `TrimPrefix("transformer.")`) {
		t.Errorf("error %q lacks the prefix hint", err)
	}
	// The other way round.
	m2 := map[string]Target{}
	for k, v := range m {
		m2["model."+k] = v
	}
	err = gpt2File(t, "").Load(m2, &LoadOptions{AllowUnexpected: true})
	if err == nil || !strings.Contains(err.Error(), `AddPrefix("model.")`) {
		t.Errorf("error %v lacks the AddPrefix hint", err)
	}
	if err := gpt2File(t, "").Load(m2, &LoadOptions{Rename: AddPrefix("model."), AllowUnexpected: true}); err != nil {
		t.Error(err)
	}
}

func TestLoadTwoNamesOneTarget(t *testing.T) {
	f := gpt2File(t, "")
	m := map[string]Target{"x": {Shape: []int{2}, Data: make([]float32, 2)}}
	err := f.Load(m, &LoadOptions{Rename: func(string) string { return "x" }})
	if err == nil || !strings.Contains(err.Error(), "both map to model tensor x") {
		t.Errorf("%v", err)
	}
}

func TestLoadErrorListIsBounded(t *testing.T) {
	e := &LoadError{}
	for i := range 20 {
		e.Missing = append(e.Missing, strings.Repeat("m", i+1))
	}
	if msg := e.Error(); !strings.Contains(msg, "20 missing") || !strings.Contains(msg, "and 12 more") || strings.Contains(msg, strings.Repeat("m", 9)) {
		t.Errorf("%q", msg)
	}
}
