package packed

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/compressq/compressq/compress/safetensors"
)

// Version 2 of the format adds what an integer-only model needs beyond
// its weights: the int32 scheme (biases in the accumulator's scale) and
// the activation table (the scale and zero point of every quantized
// activation tensor). See FORMAT.md.
const (
	// FormatCompressedV2 is the value of FormatKey for an artifact that
	// uses a version 2 feature; an artifact without any is written as
	// version 1, byte for byte as before.
	FormatCompressedV2 = "compressq-compressed/2"
	// ActivationsKey holds the JSON description of the activation table.
	ActivationsKey = "compressq.activations"
	// SchemeInt32 stores int32 codes with positive scales and no zero
	// point: value = scale[g]·q.
	SchemeInt32 = "int32"
)

// IsCompressedFormat reports whether v, a value of FormatKey, names a
// compressed artifact of a version this package reads.
func IsCompressedFormat(v string) bool {
	return v == FormatCompressedV1 || v == FormatCompressedV2
}

// MaxInt32Scale bounds the scales of an int32 parameter so that every
// dequantized value scale·q (|q| ≤ 2³¹) stays finite in float32.
const MaxInt32Scale = 0x1p96

// Int32Codes is a tensor of int32 codes with one scale for the whole tensor
// (Axis −1) or one per slice along axis 0 (Axis 0): element i of group g is
// Scale[g]·Q[i], computed in float32. Integer-only models store their
// biases so, in the scale of their accumulators.
type Int32Codes struct {
	Q     []int32
	Scale []float32
	Axis  int
}

// validate checks c against the parameter's shape and element count n.
func (c *Int32Codes) validate(shape []int, n int) error {
	groups := 1
	switch {
	case c.Axis == 0 && len(shape) > 0:
		groups = shape[0]
	case c.Axis != -1:
		return fmt.Errorf("int32: axis %d is invalid for shape %v (want -1 or 0)", c.Axis, shape)
	}
	if len(c.Q) != n {
		return fmt.Errorf("int32: %d codes for shape %v", len(c.Q), shape)
	}
	if len(c.Scale) != groups {
		return fmt.Errorf("int32: %d scales for %d groups", len(c.Scale), groups)
	}
	for g, s := range c.Scale {
		if !(s > 0) || s > MaxInt32Scale {
			return fmt.Errorf("int32: scale[%d] = %v, want positive, finite and at most 2^96", g, s)
		}
	}
	return nil
}

// values returns the dequantized elements of c.
func (c *Int32Codes) values() []float32 {
	out := make([]float32, len(c.Q))
	per := 1
	if len(c.Scale) > 0 {
		per = max(1, len(c.Q)/len(c.Scale))
	}
	for i, q := range c.Q {
		out[i] = c.Scale[min(i/per, len(c.Scale)-1)] * float32(q)
	}
	return out
}

// encodeInt32 returns the encoding and component tensors of an int32
// parameter of n elements.
func encodeInt32(p *CompressedParam, n int64) (Encoding, []safetensors.Tensor, error) {
	c := p.Int32
	if err := c.validate(p.Shape, int(n)); err != nil {
		return Encoding{}, nil, err
	}
	qn, sn := componentName(p.Name, RoleQ), componentName(p.Name, RoleScale)
	enc := Encoding{Scheme: SchemeInt32, Shape: cloneShape(p.Shape), Bits: 32, Axis: c.Axis, Symmetric: true,
		Components: map[string]string{RoleQ: qn, RoleScale: sn}}
	return enc, []safetensors.Tensor{
		safetensors.I32Tensor(qn, p.Shape, c.Q),
		safetensors.F32Tensor(sn, []int{len(c.Scale)}, c.Scale),
	}, nil
}

// decodeInt32 validates and decodes an int32 encoding of n elements.
func decodeInt32(p CompressedParam, n int, enc Encoding, component componentFunc, roles func(allowed ...string) error) (CompressedParam, error) {
	if enc.Bits != 32 || !enc.Symmetric {
		return CompressedParam{}, fmt.Errorf("scheme int32 needs bits 32 and symmetric; got bits %d, symmetric %v: %w", enc.Bits, enc.Symmetric, safetensors.ErrFormat)
	}
	groups, err := scaleGroups(enc)
	if err != nil {
		return CompressedParam{}, err
	}
	if err := roles(RoleQ, RoleScale); err != nil {
		return CompressedParam{}, err
	}
	qt, err := component(RoleQ, n, safetensors.I32)
	if err != nil {
		return CompressedParam{}, err
	}
	st, err := component(RoleScale, groups, safetensors.F32)
	if err != nil {
		return CompressedParam{}, err
	}
	c := &Int32Codes{Axis: enc.Axis}
	if c.Q, err = qt.Int32s(); err != nil {
		return CompressedParam{}, err
	}
	if c.Scale, err = st.Float32s(); err != nil {
		return CompressedParam{}, err
	}
	if c.Q == nil {
		c.Q = []int32{}
	}
	if err := c.validate(enc.Shape, n); err != nil {
		return CompressedParam{}, fmt.Errorf("%v: %w", err, safetensors.ErrFormat)
	}
	p.Int32 = c
	return p, nil
}

// Activations is the activation table of an integer-only model: for each
// quantized activation tensor, named by Tensors (the producer's names;
// compressq's integer models use "input" and "layers.<i>", the output of
// layer i), the real value of code q is Scale[k]·(q − ZeroPoint[k]) with
// q in [0, 255].
type Activations struct {
	Tensors   []string
	Scale     []float32
	ZeroPoint []uint8
}

// Component roles of the activation table.
const (
	RoleActScale = "scale"      // F32, one per tensor
	RoleActZero  = "zero_point" // U8 (readers also accept I32), one per tensor
)

// activationsJSON is the value of ActivationsKey.
type activationsJSON struct {
	Tensors    []string          `json:"tensors"`
	Components map[string]string `json:"components"`
}

// activationComponents are the tensor names compressq gives the table.
const (
	actScaleTensor = "activations.scale"
	actZeroTensor  = "activations.zero_point"
)

// validate checks the table's lengths, names and values.
func (a *Activations) validate() error {
	if len(a.Scale) != len(a.Tensors) || len(a.ZeroPoint) != len(a.Tensors) {
		return fmt.Errorf("%d tensors, %d scales and %d zero points", len(a.Tensors), len(a.Scale), len(a.ZeroPoint))
	}
	seen := make(map[string]bool, len(a.Tensors))
	for k, name := range a.Tensors {
		if name == "" {
			return fmt.Errorf("tensor %d has an empty name", k)
		}
		if seen[name] {
			return fmt.Errorf("tensor %q is listed twice", name)
		}
		seen[name] = true
		if s := a.Scale[k]; !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("tensor %q: scale %v, want positive and finite", name, s)
		}
	}
	return nil
}

// encodeActivations returns the metadata value and the component tensors
// of a.
func encodeActivations(a *Activations) (string, []safetensors.Tensor, error) {
	if err := a.validate(); err != nil {
		return "", nil, fmt.Errorf("compressed: activations: %w", err)
	}
	b, err := json.Marshal(activationsJSON{Tensors: a.Tensors,
		Components: map[string]string{RoleActScale: actScaleTensor, RoleActZero: actZeroTensor}})
	if err != nil {
		return "", nil, fmt.Errorf("compressed: encode %s: %w", ActivationsKey, err)
	}
	n := []int{len(a.Tensors)}
	return string(b), []safetensors.Tensor{
		safetensors.F32Tensor(actScaleTensor, n, a.Scale),
		{Name: actZeroTensor, DType: safetensors.U8, Shape: n, Data: slices.Clone(a.ZeroPoint)},
	}, nil
}

// decodeActivations parses the value of ActivationsKey and its component
// tensors, records them in owner and validates the table. Errors name the
// tensor of the table they concern.
func decodeActivations(js string, byName map[string]*safetensors.Tensor, owner map[string]string) (*Activations, error) {
	fail := func(format string, args ...any) (*Activations, error) {
		return nil, fmt.Errorf("activations: "+format+": %w", append(args, safetensors.ErrFormat)...)
	}
	var aj activationsJSON
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aj); err != nil {
		return fail("%s: %v", ActivationsKey, err)
	}
	if dec.More() {
		return fail("%s: trailing data after the JSON object", ActivationsKey)
	}
	for role := range aj.Components {
		if role != RoleActScale && role != RoleActZero {
			return fail("no component role %q", role)
		}
	}
	n := len(aj.Tensors)
	component := func(role string, dtypes ...safetensors.DType) (*safetensors.Tensor, error) {
		tn, ok := aj.Components[role]
		if !ok {
			return nil, fmt.Errorf("activations: component %q is missing: %w", role, safetensors.ErrFormat)
		}
		if prev, taken := owner[tn]; taken {
			return nil, fmt.Errorf("activations: component %s = %q is already used by parameter %q: %w", role, tn, prev, safetensors.ErrFormat)
		}
		t, ok := byName[tn]
		if !ok {
			return nil, fmt.Errorf("activations: component %s refers to tensor %q, which is not in the file: %w", role, tn, safetensors.ErrFormat)
		}
		if !slices.Contains(dtypes, t.DType) {
			return nil, fmt.Errorf("activations: component %s (tensor %q) has dtype %s, want %v: %w", role, tn, t.DType, dtypes, safetensors.ErrFormat)
		}
		if t.Numel() != n {
			return nil, fmt.Errorf("activations: component %s (tensor %q) has %d elements for %d tensors: %w", role, tn, t.Numel(), n, safetensors.ErrFormat)
		}
		owner[tn] = ActivationsKey
		return t, nil
	}
	st, err := component(RoleActScale, safetensors.F32)
	if err != nil {
		return nil, err
	}
	zt, err := component(RoleActZero, safetensors.U8, safetensors.I32)
	if err != nil {
		return nil, err
	}
	a := &Activations{Tensors: aj.Tensors}
	if a.Scale, err = st.Float32s(); err != nil {
		return nil, err
	}
	if zt.DType == safetensors.U8 {
		a.ZeroPoint = slices.Clone(zt.Data)
	} else {
		zs, err := zt.Int32s()
		if err != nil {
			return nil, err
		}
		a.ZeroPoint = make([]uint8, n)
		for k, z := range zs {
			if z < 0 || z > math.MaxUint8 {
				return fail("tensor %q: zero point %d outside [0, 255]", aj.Tensors[k], z)
			}
			a.ZeroPoint[k] = uint8(z)
		}
	}
	if a.Tensors == nil {
		a.Tensors = []string{}
	}
	if err := a.validate(); err != nil {
		return fail("%v", err)
	}
	return a, nil
}
