package fixed

import (
	"errors"
	"fmt"
	"math"
)

// SaturatingRoundingDoublingHighMul returns the high 32 bits of 2·a·b,
// rounded: round(a·b / 2³¹) with ties toward +∞, as gemmlowp's function of
// the same name and ARM's VQRDMULH. The one result that does not fit,
// a = b = MinInt32 (2³¹), saturates to MaxInt32.
func SaturatingRoundingDoublingHighMul(a, b int32) int32 {
	if a == math.MinInt32 && b == math.MinInt32 {
		return math.MaxInt32
	}
	ab := int64(a) * int64(b)
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - 1<<30
	}
	// Go's division truncates toward zero, like C's in gemmlowp.
	return int32((ab + nudge) / (1 << 31))
}

// RoundingDivideByPOT returns x / 2^exponent rounded to the nearest
// integer, ties away from zero (gemmlowp's RoundingDivideByPOT).
// exponent must be in [0, 31]; RoundingDivideByPOT panics otherwise.
func RoundingDivideByPOT(x int32, exponent int) int32 {
	if uint(exponent) > 31 {
		panicExponent(exponent)
	}
	return rdbpot(x, uint(exponent))
}

// rdbpot is RoundingDivideByPOT for an exponent known to be in [0, 31].
func rdbpot(x int32, exponent uint) int32 {
	mask := int32(uint32(1)<<exponent - 1)
	threshold := mask>>1 + int32(uint32(x)>>31) // one more when x < 0
	q := x >> exponent
	if x&mask > threshold {
		q++
	}
	return q
}

// panicExponent reports a RoundingDivideByPOT exponent outside [0, 31];
// kept out of line so RoundingDivideByPOT inlines.
func panicExponent(exponent int) {
	panic(fmt.Sprintf("fixed: RoundingDivideByPOT: exponent %d outside [0, 31]", exponent))
}

// QuantizeMultiplier represents a real multiplier as a Q31 fixed-point
// mantissa and a power-of-two exponent, as TFLite does:
//
//	real ≈ mult · 2^(shift−31),  mult in [2³⁰, 2³¹−1] (or 0)
//
// A positive shift is a left shift, a negative one a right shift. real must
// be finite and ≥ 0 (it is a ratio of scales); QuantizeMultiplier panics
// otherwise. Multipliers below 2⁻³² become (0, 0); those of 2³⁰ and more are
// clamped to (MaxInt32, 30).
func QuantizeMultiplier(real float64) (mult int32, shift int) {
	if math.IsNaN(real) || math.IsInf(real, 0) || real < 0 {
		panic(fmt.Sprintf("fixed: QuantizeMultiplier: multiplier %v is not finite and ≥ 0", real))
	}
	if real == 0 {
		return 0, 0
	}
	q, shift := math.Frexp(real) // real = q·2^shift, q in [0.5, 1)
	qFixed := int64(math.Round(q * (1 << 31)))
	if qFixed == 1<<31 {
		qFixed /= 2
		shift++
	}
	if shift < -31 {
		return 0, 0
	}
	if shift > 30 {
		return math.MaxInt32, 30
	}
	return int32(qFixed), shift
}

// MultiplyByQuantizedMultiplier returns x·mult·2^(shift−31) rounded, the
// requantization step of TFLite's integer kernels: a left shift by
// max(shift, 0) (saturating, where C code would overflow), then
// SaturatingRoundingDoublingHighMul by mult (ties toward +∞), then
// RoundingDivideByPOT by max(−shift, 0) (ties away from zero). shift must be
// in [−31, 30], as QuantizeMultiplier returns.
func MultiplyByQuantizedMultiplier(x, mult int32, shift int) int32 {
	if shift > 0 {
		v := int64(x) << shift
		x = int32(max(math.MinInt32, min(math.MaxInt32, v)))
		return SaturatingRoundingDoublingHighMul(x, mult)
	}
	if shift < -31 {
		panicExponent(-shift)
	}
	return rdbpot(SaturatingRoundingDoublingHighMul(x, mult), uint(-shift))
}

// Requant describes how int32 GEMM accumulators C[i][j] of an [m, n] output
// become 8-bit values:
//
//	v = MultiplyByQuantizedMultiplier(C[i][j] + Bias[j], Mult[j], Shift[j]) + OutZero
//	out = clamp(v, Min, Max)
//
// where j indexes output channels (columns) for per-channel parameters and
// Mult[0], Shift[0] serve every column for per-tensor ones. The addition of
// the bias wraps in int32 like the accumulation; the final clamp also keeps
// the value inside the output type. The zero value is not usable (it has no
// multiplier); see Validate.
type Requant struct {
	// Bias, if not nil, holds one int32 per output column, in the
	// accumulator's scale (scaleA·scaleB).
	Bias []int32
	// Mult and Shift hold the fixed-point multiplier from
	// QuantizeMultiplier(scaleA·scaleB/scaleOut): one entry per tensor or
	// one per output column.
	Mult  []int32
	Shift []int
	// OutZero is the output zero point.
	OutZero int32
	// Min and Max bound the output (a fused ReLU is Min = OutZero); when
	// both are 0 only the output type's range applies.
	Min, Max int32
}

// Validate reports every problem that makes r unusable for an output of n
// columns.
func (r *Requant) Validate(n int) error {
	var errs []error
	if len(r.Mult) != 1 && len(r.Mult) != n {
		errs = append(errs, fmt.Errorf("fixed: Requant.Mult has %d entries, want 1 or %d", len(r.Mult), n))
	}
	if len(r.Shift) != len(r.Mult) {
		errs = append(errs, fmt.Errorf("fixed: Requant.Shift has %d entries, want %d like Mult", len(r.Shift), len(r.Mult)))
	}
	for i, s := range r.Shift {
		if s < -31 || s > 30 {
			errs = append(errs, fmt.Errorf("fixed: Requant.Shift[%d] = %d outside [-31, 30]", i, s))
			break
		}
	}
	if r.Bias != nil && len(r.Bias) != n {
		errs = append(errs, fmt.Errorf("fixed: Requant.Bias has %d entries, want %d or nil", len(r.Bias), n))
	}
	if r.Min > r.Max {
		errs = append(errs, fmt.Errorf("fixed: Requant.Min %d > Requant.Max %d", r.Min, r.Max))
	}
	return errors.Join(errs...)
}

// bounds returns the clamp interval for an output type spanning [lo, hi].
func (r *Requant) bounds(lo, hi int32) (int32, int32) {
	if r.Min == 0 && r.Max == 0 {
		return lo, hi
	}
	return max(lo, r.Min), min(hi, r.Max)
}

// RequantizeInt8 requantizes acc, int32 [m, n] with row stride ldacc, into
// dst, int8 [m, n] with row stride ldd, as r describes. It panics on shapes
// the slices cannot hold or when r.Validate(n) fails.
func RequantizeInt8(dst []int8, ldd int, acc []int32, ldacc, m, n int, r *Requant) {
	checkRequant("RequantizeInt8", len(dst), ldd, acc, ldacc, m, n, r)
	lo, hi := r.bounds(math.MinInt8, math.MaxInt8)
	for i := 0; i < m; i++ {
		requantRow(dst[i*ldd:i*ldd+n], acc[i*ldacc:i*ldacc+n], 0, r, lo, hi)
	}
}

// RequantizeUint8 is RequantizeInt8 with a uint8 output.
func RequantizeUint8(dst []uint8, ldd int, acc []int32, ldacc, m, n int, r *Requant) {
	checkRequant("RequantizeUint8", len(dst), ldd, acc, ldacc, m, n, r)
	lo, hi := r.bounds(0, math.MaxUint8)
	for i := 0; i < m; i++ {
		requantRow(dst[i*ldd:i*ldd+n], acc[i*ldacc:i*ldacc+n], 0, r, lo, hi)
	}
}

// requantRow requantizes one row of accumulators whose first element is
// output column j0 into out, clamping to [lo, hi].
func requantRow[T int8 | uint8](out []T, row []int32, j0 int, r *Requant, lo, hi int32) {
	out = out[:len(row)]
	mult, shift := r.Mult[0], r.Shift[0]
	perChannel := len(r.Mult) > 1
	var bias []int32
	if r.Bias != nil {
		bias = r.Bias[j0 : j0+len(row)]
	}
	for j, v := range row {
		if bias != nil {
			v += bias[j]
		}
		if perChannel {
			mult, shift = r.Mult[j0+j], r.Shift[j0+j]
		}
		if shift > 0 {
			v = MultiplyByQuantizedMultiplier(v, mult, shift)
		} else { // the common case, inlined; Validate bounded shift
			v = rdbpot(SaturatingRoundingDoublingHighMul(v, mult), uint(-shift))
		}
		// Saturating add of the zero point, then the clamp.
		w := int64(v) + int64(r.OutZero)
		out[j] = T(max(int64(lo), min(int64(hi), w)))
	}
}

// checkRequant panics unless the slices hold [m, n] matrices with the given
// strides and r is valid for n columns.
func checkRequant(fn string, dstLen, ldd int, acc []int32, ldacc, m, n int, r *Requant) {
	checkShape(fn, "dst", m, n, dstLen, ldd)
	checkShape(fn, "acc", m, n, len(acc), ldacc)
	checkRequantParams(fn, n, r)
}

// checkRequantParams panics unless r is valid for n columns.
func checkRequantParams(fn string, n int, r *Requant) {
	if err := r.Validate(n); err != nil {
		panic(fmt.Sprintf("fixed: %s: invalid Requant: %v", fn, err))
	}
}
