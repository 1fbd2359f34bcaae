package safetensors

import (
	"encoding/binary"
	"fmt"
)

// Tensor is one named array of a checkpoint.
//
// A float tensor (DType F32, F16 or BF16) carries its values in F32: Read
// widens F16 and BF16 exactly, and Write narrows to DType with round to
// nearest, ties to even. An integer tensor (I32, I64, U8) carries its
// little-endian bytes in Raw; I32, I64 and U8 decode them, and FromI32,
// FromI64 and FromU8 build such tensors. The other field is nil.
type Tensor struct {
	Name  string
	DType DType
	Shape []int     // row-major; [] is a scalar (one element)
	F32   []float32 // float dtypes: (NumElements) values
	Raw   []byte    // integer dtypes: (NumElements*DType.Size()) bytes
}

// NumElements returns the product of Shape (1 for a scalar). It does not
// check for overflow; Read and Write reject shapes whose product overflows.
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// FromI32 returns an I32 tensor holding v (copied).
func FromI32(name string, shape []int, v []int32) Tensor {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return Tensor{Name: name, DType: I32, Shape: shape, Raw: raw}
}

// FromI64 returns an I64 tensor holding v (copied).
func FromI64(name string, shape []int, v []int64) Tensor {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return Tensor{Name: name, DType: I64, Shape: shape, Raw: raw}
}

// FromU8 returns a U8 tensor holding v (copied).
func FromU8(name string, shape []int, v []uint8) Tensor {
	return Tensor{Name: name, DType: U8, Shape: shape, Raw: append([]byte(nil), v...)}
}

// I32 decodes the values of an I32 tensor.
func (t *Tensor) I32() ([]int32, error) {
	if err := t.checkRaw(I32); err != nil {
		return nil, err
	}
	v := make([]int32, len(t.Raw)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(t.Raw[4*i:]))
	}
	return v, nil
}

// I64 decodes the values of an I64 tensor.
func (t *Tensor) I64() ([]int64, error) {
	if err := t.checkRaw(I64); err != nil {
		return nil, err
	}
	v := make([]int64, len(t.Raw)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.Raw[8*i:]))
	}
	return v, nil
}

// U8 returns the values of a U8 tensor (its Raw bytes, not a copy).
func (t *Tensor) U8() ([]uint8, error) {
	if err := t.checkRaw(U8); err != nil {
		return nil, err
	}
	return t.Raw, nil
}

func (t *Tensor) checkRaw(want DType) error {
	if t.DType != want {
		return fmt.Errorf("tensor %s: dtype is %s, not %s", t.Name, t.DType, want)
	}
	if len(t.Raw)%want.Size() != 0 {
		return fmt.Errorf("tensor %s: %d raw bytes is not a whole number of %s elements", t.Name, len(t.Raw), want)
	}
	return nil
}

// File is a checkpoint read and fully validated by Read or ReadFrom.
type File struct {
	Path     string            // as given to Read; "" from ReadFrom
	Metadata map[string]string // the header's __metadata__, never nil
	Tensors  []Tensor          // in the order of their data in the file
	index    map[string]int
}

// Lookup returns the tensor called name.
func (f *File) Lookup(name string) (*Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// Names returns the tensor names in file order.
func (f *File) Names() []string {
	names := make([]string, len(f.Tensors))
	for i := range f.Tensors {
		names[i] = f.Tensors[i].Name
	}
	return names
}
