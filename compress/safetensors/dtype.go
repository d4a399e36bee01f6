package safetensors

import (
	"fmt"
	"math"
)

// DType is the element type of a safetensors tensor, spelled as in the
// safetensors header ("F32", "I8", ...).
type DType string

// The element types the codec understands. Float32 conversion
// ([Tensor.Float32s]) accepts the floating-point ones.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size returns the number of bytes of one element, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// Valid reports whether d is a type the codec understands.
func (d DType) Valid() bool { return d.Size() != 0 }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	switch d {
	case F64, F32, F16, BF16:
		return true
	}
	return false
}

// String returns the header spelling of d, e.g. "F32".
func (d DType) String() string { return string(d) }

// Float16To32 converts an IEEE 754 binary16 value to float32 exactly
// (every half value, including subnormals, NaN and infinities, is
// representable in float32).
func Float16To32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		// Subnormal half: value = mant * 2^-24, normal in float32.
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// bfloat16To32 converts a bfloat16 value to float32 exactly.
func bfloat16To32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// CheckedNumel returns the product of shape, or an error if a dimension is
// negative or the product exceeds max.
func CheckedNumel(shape []int, max int64) (int64, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape[%d] = %d is negative", i, d)
		}
		if int64(d) > max {
			return 0, fmt.Errorf("shape[%d] = %d exceeds the limit of %d elements", i, d, max)
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > max/int64(d) {
			return 0, fmt.Errorf("shape %v has more than %d elements", shape, max)
		}
		n *= int64(d)
	}
	if n > max {
		return 0, fmt.Errorf("shape %v has more than %d elements", shape, max)
	}
	return n, nil
}
