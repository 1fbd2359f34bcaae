package safetensors

import "math"

// DType is the element type of a tensor, spelled as in the safetensors header.
type DType string

// The dtypes gotrain reads and writes. The float dtypes are widened to
// float32 on read; the integer dtypes are kept as raw little-endian bytes.
const (
	F32  DType = "F32"  // IEEE 754 binary32
	F16  DType = "F16"  // IEEE 754 binary16
	BF16 DType = "BF16" // bfloat16: the top 16 bits of a binary32
	I32  DType = "I32"  // int32
	I64  DType = "I64"  // int64
	U8   DType = "U8"   // uint8
)

// otherDTypes are valid in the safetensors format but not read by gotrain;
// they get a clearer error than a misspelled dtype.
var otherDTypes = map[DType]bool{
	"BOOL": true, "I8": true, "I16": true, "U16": true, "U32": true,
	"U64": true, "F64": true, "F8_E5M2": true, "F8_E4M3": true,
	"F8_E8M0": true, "F4": true, "F6_E2M3": true, "F6_E3M2": true,
}

// Size returns the size of one element in bytes, or 0 for a dtype this
// package does not support.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case F16, BF16:
		return 2
	case I64:
		return 8
	case U8:
		return 1
	}
	return 0
}

// IsFloat reports whether tensors of this dtype carry their values in
// Tensor.F32 (F32, F16, BF16).
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 }

// F16ToF32 widens a binary16 value to float32. Every binary16 value,
// subnormals included, is exactly representable in float32, so no rounding
// happens; infinities keep their sign and NaNs keep their sign and payload.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: mant·2^-24. Shift the leading 1 up to the implicit bit
	// position (bit 10), lowering the exponent from that of 2^-14 each step.
	e := uint32(127 - 14)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// F32ToF16 narrows a float32 to binary16, rounding to nearest with ties to
// even (IEEE 754's default). Values beyond the binary16 range become ±Inf,
// values too small become binary16 subnormals or ±0, and NaNs stay NaN
// (quiet, sign and top payload bits kept).
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // binary16 biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Result is subnormal (or rounds up to the smallest normal):
		// the binary16 mantissa is m24·2^(exp-126), m24 the 24-bit
		// significand, i.e. m24 >> (14-e) rounded.
		if e < -10 {
			return sign // below half the smallest subnormal: ±0
		}
		m := mant | 0x800000
		shift := uint(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++ // may carry into the exponent: the smallest normal, correctly
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry out of the mantissa bumps the exponent; 0x7c00 is Inf
	}
	return sign | uint16(h)
}

// BF16ToF32 widens a bfloat16 value to float32: exact, by definition.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 narrows a float32 to bfloat16, rounding to nearest with ties to
// even. Finite values that round past the largest bfloat16 become ±Inf;
// NaNs stay NaN (quiet, sign and top payload bits kept), even those whose
// payload lies only in the 16 bits dropped.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
