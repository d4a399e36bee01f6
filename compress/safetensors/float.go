package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// Float32s decodes a floating-point tensor (F32, F16, BF16 or F64) into a
// new float32 slice. F16 and BF16 convert exactly; F64 rounds to nearest.
func (t *Tensor) Float32s() ([]float32, error) {
	sz := t.DType.Size()
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("tensor %q: dtype %s is not floating point", t.Name, t.DType)
	}
	n := t.Numel()
	if len(t.Data) != n*sz {
		return nil, fmt.Errorf("tensor %q: data is %d bytes, %s shape %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, n*sz)
	}
	out := make([]float32, n)
	b := t.Data
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = Float16To32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = bfloat16To32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	}
	return out, nil
}

// Dense decodes a floating-point tensor into a float32 *tensor.Dense of the
// same shape (row-major). A rank-0 tensor becomes shape [1].
func (t *Tensor) Dense() (*tensor.Dense, error) {
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return NewDense(t.Shape, v), nil
}

// NewDense returns values as a float32 *tensor.Dense of a copy of shape,
// sharing values; a rank-0 shape becomes [1].
func NewDense(shape []int, values []float32) *tensor.Dense {
	sh := append([]int(nil), shape...)
	if len(sh) == 0 {
		sh = []int{1}
	}
	return tensor.New(tensor.WithShape(sh...), tensor.WithBacking(values))
}

// Int8s returns the elements of an I8 tensor (a copy).
func (t *Tensor) Int8s() ([]int8, error) {
	if t.DType != I8 {
		return nil, fmt.Errorf("tensor %q: dtype %s, want I8", t.Name, t.DType)
	}
	if len(t.Data) != t.Numel() {
		return nil, fmt.Errorf("tensor %q: data is %d bytes, shape %v needs %d", t.Name, len(t.Data), t.Shape, t.Numel())
	}
	out := make([]int8, len(t.Data))
	for i, b := range t.Data {
		out[i] = int8(b)
	}
	return out, nil
}

// Int32s returns the elements of an I32 tensor (a copy).
func (t *Tensor) Int32s() ([]int32, error) {
	if t.DType != I32 {
		return nil, fmt.Errorf("tensor %q: dtype %s, want I32", t.Name, t.DType)
	}
	n := t.Numel()
	if len(t.Data) != 4*n {
		return nil, fmt.Errorf("tensor %q: data is %d bytes, shape %v needs %d", t.Name, len(t.Data), t.Shape, 4*n)
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// F32Tensor builds an F32 tensor from values in row-major order. It copies
// v and panics if len(v) does not match the shape (a programming error).
func F32Tensor(name string, shape []int, v []float32) Tensor {
	mustLen(name, shape, len(v))
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: append([]int{}, shape...), Data: b}
}

// I8Tensor builds an I8 tensor from values in row-major order, copying v.
// It panics if len(v) does not match the shape.
func I8Tensor(name string, shape []int, v []int8) Tensor {
	mustLen(name, shape, len(v))
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return Tensor{Name: name, DType: I8, Shape: append([]int{}, shape...), Data: b}
}

// I32Tensor builds an I32 tensor from values in row-major order, copying v.
// It panics if len(v) does not match the shape.
func I32Tensor(name string, shape []int, v []int32) Tensor {
	mustLen(name, shape, len(v))
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return Tensor{Name: name, DType: I32, Shape: append([]int{}, shape...), Data: b}
}

// DenseTensor builds an F32 tensor from a float32 *tensor.Dense, copying its
// data in row-major order.
func DenseTensor(name string, d *tensor.Dense) (Tensor, error) {
	if d.Dtype() != tensor.Float32 {
		return Tensor{}, fmt.Errorf("tensor %q: dtype %v, want float32", name, d.Dtype())
	}
	v := d.Float32s()
	if !d.IsNativelyAccessible() || d.RequiresIterator() {
		c := d.Materialize().(*tensor.Dense)
		v = c.Float32s()
	}
	shape := []int(d.Shape())
	if len(v) != Numel(shape) {
		return Tensor{}, fmt.Errorf("tensor %q: backing has %d values, shape %v needs %d", name, len(v), shape, Numel(shape))
	}
	return F32Tensor(name, shape, v), nil
}

// Numel returns the number of elements of a tensor of the given shape (1 for a
// scalar).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func mustLen(name string, shape []int, n int) {
	if want := Numel(shape); want != n {
		panic(fmt.Sprintf("safetensors: tensor %q: %d values for shape %v (%d elements)", name, n, shape, want))
	}
}
