package quant

import (
	"errors"
	"fmt"
	"math"
)

// Scheme says how scales are shared across a tensor.
type Scheme int

const (
	// PerTensor uses one scale and zero point for the whole tensor.
	PerTensor Scheme = iota
	// PerChannel uses one scale and zero point per slice along axis 0 (the
	// output channel of a Dense [out,in] or Conv OIHW weight).
	PerChannel
)

// String returns "per-tensor" or "per-channel".
func (s Scheme) String() string {
	switch s {
	case PerTensor:
		return "per-tensor"
	case PerChannel:
		return "per-channel"
	}
	return fmt.Sprintf("Scheme(%d)", int(s))
}

// ParseScheme parses the names returned by [Scheme.String].
func ParseScheme(s string) (Scheme, error) {
	switch s {
	case "per-tensor":
		return PerTensor, nil
	case "per-channel":
		return PerChannel, nil
	}
	return 0, fmt.Errorf("quant: unknown scheme %q (want per-tensor or per-channel)", s)
}

// Params selects the quantization of one tensor. The zero value is not
// valid: Bits must be 8 or 4.
type Params struct {
	// Bits is the code width: 8 or 4.
	Bits int
	// Scheme is PerTensor or PerChannel (axis 0).
	Scheme Scheme
	// Symmetric fixes the zero point at 0.
	Symmetric bool
}

// Validate reports every problem with p at once.
func (p Params) Validate() error {
	var errs []error
	if p.Bits != 8 && p.Bits != 4 {
		errs = append(errs, fmt.Errorf("quant: bits = %d, want 8 or 4", p.Bits))
	}
	if p.Scheme != PerTensor && p.Scheme != PerChannel {
		errs = append(errs, fmt.Errorf("quant: scheme = %v, want per-tensor or per-channel", p.Scheme))
	}
	return errors.Join(errs...)
}

// Range returns the smallest and largest code for the given width and
// symmetry: int8 symmetric [−127, 127], asymmetric [−128, 127]; int4
// symmetric [−7, 7], asymmetric [−8, 7].
func Range(bits int, symmetric bool) (qmin, qmax int32) {
	qmax = int32(1)<<(bits-1) - 1
	qmin = -qmax - 1
	if symmetric {
		qmin = -qmax
	}
	return qmin, qmax
}

// Quantized is a quantized tensor: Q holds one code per element in the
// row-major order of Shape (int4 codes also take one int8 each in memory;
// packing two per byte is a storage concern of the artifact writer). Scale
// and ZeroPoint hold one entry per tensor (Axis = −1) or per slice along
// Axis.
type Quantized struct {
	Q         []int8
	Shape     []int
	Scale     []float32
	ZeroPoint []int32
	// Axis is the channel axis, or −1 for per-tensor quantization.
	Axis int
	// Bits is 8 or 4.
	Bits int
	// Symmetric records whether the zero points are all 0 by construction.
	Symmetric bool
}

// ErrNonFinite is wrapped by the error QuantizeTensor returns for a NaN,
// an infinite weight, or one whose magnitude exceeds [MaxAbsWeight].
var ErrNonFinite = errors.New("non-finite or out-of-range weight")

// MaxAbsWeight is the largest weight magnitude QuantizeTensor accepts
// (2¹²⁰ ≈ 1.3e36). The bound keeps every dequantized value s·(q−z) finite
// in float32; real weights are many orders of magnitude smaller.
const MaxAbsWeight = 0x1p120

// QuantizeTensor quantizes w (row-major, shape shape) with p. It rejects NaN,
// ±Inf and magnitudes above [MaxAbsWeight] with an error wrapping
// [ErrNonFinite] that names the first bad index, and a shape that does not match len(w). Per-channel quantization
// needs rank ≥ 1 and uses axis 0. A group whose values are all zero gets
// scale 1 and zero point 0 (no division by zero; every code is 0).
func QuantizeTensor(w []float32, shape []int, p Params) (*Quantized, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	n, err := numel(shape)
	if err != nil {
		return nil, err
	}
	if n != len(w) {
		return nil, fmt.Errorf("quant: shape %v holds %d elements, got %d values", shape, n, len(w))
	}
	for i, x := range w {
		if !(math.Abs(float64(x)) <= MaxAbsWeight) { // also true for NaN
			return nil, fmt.Errorf("quant: index %d (%s): value %v: %w", i, indexString(i, shape), x, ErrNonFinite)
		}
	}
	groups, axis := 1, -1
	if p.Scheme == PerChannel {
		if len(shape) == 0 {
			return nil, errors.New("quant: per-channel quantization needs a tensor of rank ≥ 1")
		}
		groups, axis = shape[0], 0
		if n == 0 && groups > maxEmptyChannels {
			// Scales would be the only allocation; bound it.
			return nil, fmt.Errorf("quant: empty tensor with %d channels (more than %d)", groups, maxEmptyChannels)
		}
	}
	q := &Quantized{
		Q:         make([]int8, n),
		Shape:     append([]int{}, shape...),
		Scale:     make([]float32, groups),
		ZeroPoint: make([]int32, groups),
		Axis:      axis,
		Bits:      p.Bits,
		Symmetric: p.Symmetric,
	}
	qmin, qmax := Range(p.Bits, p.Symmetric)
	size := 0
	if groups > 0 {
		size = n / groups
	}
	for g := 0; g < groups; g++ {
		seg := w[g*size : (g+1)*size]
		s, z := chooseScale(seg, qmin, qmax, p.Symmetric)
		q.Scale[g], q.ZeroPoint[g] = s, z
		quantizeInto(q.Q[g*size:(g+1)*size], seg, s, z, qmin, qmax)
	}
	return q, nil
}

// chooseScale returns the scale and zero point mapping seg onto
// [qmin, qmax] by its min/max range (min/max calibration).
func chooseScale(seg []float32, qmin, qmax int32, symmetric bool) (float32, int32) {
	lo, hi := float32(0), float32(0) // the range always includes 0
	for _, x := range seg {
		lo = min(lo, x)
		hi = max(hi, x)
	}
	if symmetric {
		m := max(-lo, hi)
		if m == 0 {
			return 1, 0
		}
		return scaleCovering(float64(m), float64(qmax)), 0
	}
	if hi == lo {
		return 1, 0
	}
	s := scaleCovering(float64(hi)-float64(lo), float64(qmax-qmin))
	return s, zeroPoint(lo, s, qmin, qmax)
}

// scaleCovering returns the smallest float32 s with s·steps ≥ span (and
// s > 0). Rounding the scale up, never down, keeps every weight inside the
// code range, so no weight is clamped and each is reconstructed within s/2;
// this matters when float32 rounding of the scale is coarse (subnormal
// weights).
func scaleCovering(span, steps float64) float32 {
	s := float32(math.Max(span/steps, math.SmallestNonzeroFloat32))
	if float64(s)*steps < span {
		s = math.Nextafter32(s, float32(math.Inf(1)))
	}
	return s
}

// zeroPoint returns round(qmin − lo/s) clamped to [qmin, qmax]; lo ≤ 0 ≤ hi
// keeps the unclamped value in range already.
func zeroPoint(lo, s float32, qmin, qmax int32) int32 {
	z := int32(math.RoundToEven(float64(qmin) - float64(lo)/float64(s)))
	return max(qmin, min(qmax, z))
}

// quantizeInto writes clamp(round(x/s) + z) for each x of seg into dst.
func quantizeInto(dst []int8, seg []float32, s float32, z, qmin, qmax int32) {
	inv := 1 / float64(s)
	lo, hi, zf := float64(qmin), float64(qmax), float64(z)
	for i, x := range seg {
		v := math.RoundToEven(float64(x)*inv) + zf
		if v < lo {
			v = lo
		} else if v > hi {
			v = hi
		}
		dst[i] = int8(v)
	}
}

// Groups returns the number of scale groups (len(Scale)).
func (q *Quantized) Groups() int { return len(q.Scale) }

// GroupSize returns the number of consecutive elements sharing one scale.
func (q *Quantized) GroupSize() int {
	if len(q.Scale) == 0 {
		return 0
	}
	return len(q.Q) / len(q.Scale)
}

// Validate checks q's internal consistency: bits, code range, lengths of
// Q, Scale and ZeroPoint against Shape and Axis, and positive finite scales.
// Readers of untrusted data call it before [Dequantize].
func (q *Quantized) Validate() error {
	if q.Bits != 8 && q.Bits != 4 {
		return fmt.Errorf("quant: bits = %d, want 8 or 4", q.Bits)
	}
	n, err := numel(q.Shape)
	if err != nil {
		return err
	}
	if len(q.Q) != n {
		return fmt.Errorf("quant: %d codes for shape %v (%d elements)", len(q.Q), q.Shape, n)
	}
	groups := 1
	switch {
	case q.Axis == -1:
	case q.Axis == 0 && len(q.Shape) > 0:
		groups = q.Shape[0]
	default:
		return fmt.Errorf("quant: axis = %d for shape %v, want -1 or 0", q.Axis, q.Shape)
	}
	if len(q.Scale) != groups || len(q.ZeroPoint) != groups {
		return fmt.Errorf("quant: %d scales and %d zero points, want %d", len(q.Scale), len(q.ZeroPoint), groups)
	}
	qmin, qmax := Range(q.Bits, false)
	for g, s := range q.Scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("quant: scale[%d] = %v, want positive and finite", g, s)
		}
		if z := q.ZeroPoint[g]; z < qmin || z > qmax {
			return fmt.Errorf("quant: zero_point[%d] = %d outside [%d, %d]", g, z, qmin, qmax)
		}
	}
	for i, c := range q.Q {
		if int32(c) < qmin || int32(c) > qmax {
			return fmt.Errorf("quant: code[%d] = %d outside [%d, %d]", i, c, qmin, qmax)
		}
	}
	return nil
}

// Dequantize returns s·(q − z) for every element, in the row-major order of
// q.Shape. It returns an error if q is inconsistent (see [Quantized.Validate]).
func Dequantize(q *Quantized) ([]float32, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	out := make([]float32, len(q.Q))
	size := q.GroupSize()
	for g, s := range q.Scale {
		z := q.ZeroPoint[g]
		for i := g * size; i < (g+1)*size; i++ {
			out[i] = s * float32(int32(q.Q[i])-z)
		}
	}
	return out, nil
}

// maxEmptyChannels bounds the channel count of a zero-element tensor
// quantized per channel, whose scale arrays would otherwise be unbounded.
const maxEmptyChannels = 1 << 16

// numel returns the element count of shape, rejecting negative dimensions
// and products that overflow int.
func numel(shape []int) (int, error) {
	n := 1
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("quant: shape[%d] = %d is negative", i, d)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("quant: shape %v overflows", shape)
		}
		n *= d
	}
	if n == 0 {
		for i, d := range shape {
			if d > math.MaxInt32 {
				return 0, fmt.Errorf("quant: shape[%d] = %d is too large", i, d)
			}
		}
	}
	return n, nil
}

// indexString formats flat index i as a multi-index of shape, e.g. "[1 0 2]".
func indexString(i int, shape []int) string {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] > 0 {
			idx[k] = i % shape[k]
			i /= shape[k]
		}
	}
	return fmt.Sprint(idx)
}
