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

// Requantizer is the requantization of one layer's int32 accumulators, per
// output channel o:
//
//	v = MultiplyByQuantizedMultiplier(acc + bias[o], mult[o], shift[o])
//	q = clamp(v + zero, lo, hi)
//
// It is computed without branches (the signs of products and remainders
// are data, so branches on them mispredict about half the time) and with
// both roundings in one shift. For mult ≥ 0 (QuantizeMultiplier guarantees
// it) and a shift = lsh − rsh split into its left and right parts:
//
//   - the left shift saturates x to y = clamp(x·2^lsh) in int32;
//   - SaturatingRoundingDoublingHighMul(y, mult), (y·mult + nudge)/2³¹
//     truncated with nudge 2³⁰ or 1 − 2³⁰ by the sign of the product,
//     equals ⌊(y·mult + 2³⁰)/2³¹⌋ = ⌊u/2³¹⌋ in both cases (it cannot
//     saturate when mult ≥ 0);
//   - RoundingDivideByPOT(h, rsh) is ⌊(h + 2^(rsh−1) − [h < 0])/2^rsh⌋ for
//     rsh > 0 (ties away from zero), and floors nest: ⌊(⌊u/2³¹⌋ + b)/2^rsh⌋
//     = ⌊(u + b·2³¹)/2^(31+rsh)⌋ for an integer b. h < 0 exactly when u < 0.
//
// So v = (u + rnd[o] + [u < 0]·adj[o]) >> sh[o] with rnd = 2^(rsh−1)·2³¹,
// adj = −2³¹ (0 when rsh = 0) and sh = 31 + rsh. Every term fits in int64:
// |y·mult| < 2⁶², rnd ≤ 2⁶¹. The result equals the scalar
// MultiplyByQuantizedMultiplier bit for bit (tested on every shift and the
// extreme values). The bias addition wraps in int32 like the accumulation.
//
// A Requantizer is read-only after NewRequantizer and safe for concurrent
// use.
type Requantizer struct {
	bias, mult []int32
	rnd, adj   []int64
	lsh, sh    []uint8
	zero       int32
	lo, hi     int64
	// lanes holds, per channel, lsh, rsh = sh − 31, 2^rsh − 1 and its half
	// as int32 for requantU8Rows16 and the AVX2 kernels, and left 1 where
	// any lsh is not 0 (0 otherwise), the kernels' flag.
	lanes [4][]int32
	left  int
}

// NewRequantizer returns the requantization of accumulators with one entry
// per output channel in mult and shift (from QuantizeMultiplier of
// scaleIn·scaleW[o]/scaleOut: mult ≥ 0, shift in [−31, 30]) and in bias
// (nil for none), the output zero point zero and the output clamp [lo, hi]
// (a fused ReLU is lo = zero). Uint8 also keeps results inside [0, 255].
// It returns every problem with the parameters at once.
func NewRequantizer(bias, mult []int32, shift []int, zero, lo, hi int32) (*Requantizer, error) {
	n := len(mult)
	var errs []error
	if len(shift) != n {
		errs = append(errs, fmt.Errorf("fixed: requantizer: %d shifts for %d multipliers", len(shift), n))
	}
	if bias != nil && len(bias) != n {
		errs = append(errs, fmt.Errorf("fixed: requantizer: %d biases for %d multipliers", len(bias), n))
	}
	for o, m := range mult {
		if m < 0 {
			errs = append(errs, fmt.Errorf("fixed: requantizer: mult[%d] = %d < 0", o, m))
			break
		}
	}
	for o, s := range shift {
		if s < -31 || s > 30 {
			errs = append(errs, fmt.Errorf("fixed: requantizer: shift[%d] = %d outside [-31, 30]", o, s))
			break
		}
	}
	if lo > hi {
		errs = append(errs, fmt.Errorf("fixed: requantizer: clamp lo %d > hi %d", lo, hi))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if bias == nil {
		bias = make([]int32, n)
	}
	r := &Requantizer{bias: bias, mult: mult, rnd: make([]int64, n), adj: make([]int64, n),
		lsh: make([]uint8, n), sh: make([]uint8, n), zero: zero, lo: int64(lo), hi: int64(hi)}
	for i := range r.lanes {
		r.lanes[i] = make([]int32, n)
	}
	for o, s := range shift {
		c := NewMultiplier(0, s)
		r.lsh[o], r.sh[o], r.rnd[o], r.adj[o] = c.lsh, c.sh, c.rnd, c.adj
		rsh := int32(c.sh) - 31
		mask := int32(uint32(1)<<rsh - 1)
		r.lanes[0][o], r.lanes[1][o], r.lanes[2][o], r.lanes[3][o] = int32(c.lsh), rsh, mask, mask>>1
		if c.lsh > 0 {
			r.left = 1
		}
	}
	return r, nil
}

// multiply returns MultiplyByQuantizedMultiplier(x, mult, shift) from the
// per-channel constants of a Requantizer: lsh = max(shift, 0),
// sh = 31 + max(−shift, 0), rnd and adj as described there.
func multiply(x, mult int32, lsh, sh uint8, rnd, adj int64) int32 {
	y := max(math.MinInt32, min(math.MaxInt32, int64(x)<<(lsh&31)))
	u := y*int64(mult) + 1<<30
	return int32((u + rnd + u>>63&adj) >> (sh & 63))
}

// Uint8 requantizes one row of accumulators acc, channels 0…len(acc)−1 in
// order, into dst, clamped to [lo, hi] ∩ [0, 255]. It panics if acc has more
// entries than r has channels or dst fewer than acc.
func (r *Requantizer) Uint8(dst []uint8, acc []int32) {
	r.Uint8Rows(dst, acc, len(acc))
}

// Uint8Rows is Uint8 on each of the len(acc)/c consecutive rows of c
// accumulators (channels 0…c−1 each) in acc, into the rows of c bytes of
// dst: one call for a whole [pixels, channels] block. It panics if c is
// not positive (unless acc is empty), len(acc) is not a multiple of c, c
// exceeds r's channels or dst is shorter than acc.
func (r *Requantizer) Uint8Rows(dst []uint8, acc []int32, c int) {
	r.uint8Rows(requantImpl, dst, acc, c)
}

// uint8Rows is Uint8Rows on the named implementation: whole chunks of 16
// and then 8 (AVX-512) or of 8 (AVX2) channels in assembly, the rest in Go.
func (r *Requantizer) uint8Rows(which string, dst []uint8, acc []int32, c int) {
	if len(acc) == 0 {
		return
	}
	if c <= 0 || len(acc)%c != 0 {
		panic(fmt.Sprintf("fixed: Uint8Rows: %d accumulators in rows of %d", len(acc), c))
	}
	rows := len(acc) / c
	dst = dst[:len(acc)]
	bias, mult, lsh, sh, rnd, adj := r.bias[:c], r.mult[:c], r.lsh[:c], r.sh[:c], r.rnd[:c], r.adj[:c]
	zero, lo, hi := int64(r.zero), max(0, r.lo), min(math.MaxUint8, r.hi)
	lz, hz := lo-zero, hi-zero
	// The assembly clamps to hi last: for lo > hi (a clamp above 255) it
	// would give hi where the Go loop gives every code lo. Its int32 lanes
	// need zero, lz and hz inside int32 (the int64 requantU8Rows does not).
	lanes := lo <= hi && r.zero == int32(int16(r.zero))
	o0 := 0 // channels done in assembly
	switch {
	case which == ImplVNNI && lo <= hi:
		if c >= 16 && lanes {
			o0 = c &^ 15
			requantU8Rows16(&dst[0], &acc[0], rows, c, o0, r.left, &bias[0], &mult[0], &r.lanes[0][0], &r.lanes[1][0], &r.lanes[2][0], &r.lanes[3][0], zero, lz, hz)
		}
		if n := (c - o0) &^ 7; n > 0 {
			requantU8Rows(&dst[o0], &acc[o0], rows, c, n, 0, &bias[o0], &mult[o0], &lsh[o0], &sh[o0], &rnd[o0], &adj[o0], zero, lo, hi)
			o0 += n
		}
	case which == ImplAVX2 && c >= 8 && lanes:
		o0 = c &^ 7
		requantU8Rows8(&dst[0], &acc[0], rows, c, o0, 0, r.left, &bias[0], &mult[0], &r.lanes[0][0], &r.lanes[1][0], &r.lanes[2][0], &r.lanes[3][0], zero, lz, hz)
	}
	for i := range rows {
		for o := o0; o < c; o++ {
			v := int64(multiply(acc[i*c+o]+bias[o], mult[o], lsh[o], sh[o], rnd[o], adj[o])) + zero
			dst[i*c+o] = uint8(max(lo, min(hi, v)))
		}
	}
}

// Uint8Max4 is Uint8 of the element-wise maximum of four accumulator rows
// a, b, c and d (each at least len(dst) long): the requantization fused
// with a 2×2 max pool, exact as long as acc + bias does not wrap, since the
// requantization is monotone in the accumulator.
func (r *Requantizer) Uint8Max4(dst []uint8, a, b, c, d []int32) {
	r.uint8Max4(requantImpl, dst, a, b, c, d)
}

// uint8Max4 is Uint8Max4 on the named implementation: whole chunks of 8
// elements in assembly (under uint8Rows' conditions), the rest in Go.
func (r *Requantizer) uint8Max4(which string, dst []uint8, a, b, c, d []int32) {
	n := len(dst)
	a, b, c, d = a[:n], b[:n], c[:n], d[:n]
	bias, mult, lsh, sh, rnd, adj := r.bias[:n], r.mult[:n], r.lsh[:n], r.sh[:n], r.rnd[:n], r.adj[:n]
	zero, lo, hi := int64(r.zero), max(0, r.lo), min(math.MaxUint8, r.hi)
	j0 := 0
	switch {
	case n < 8 || lo > hi: // as in uint8Rows
	case which == ImplVNNI:
		j0 = n &^ 7
		requantU8Max4(&dst[0], &a[0], &b[0], &c[0], &d[0], j0, &bias[0], &mult[0], &lsh[0], &sh[0], &rnd[0], &adj[0], zero, lo, hi)
	case which == ImplAVX2 && r.zero == int32(int16(r.zero)):
		j0 = n &^ 7
		requantU8Max4x8(&dst[0], &a[0], &b[0], &c[0], &d[0], j0, r.left, &bias[0], &mult[0], &r.lanes[0][0], &r.lanes[1][0], &r.lanes[2][0], &r.lanes[3][0], zero, lo-zero, hi-zero)
	}
	for j := j0; j < n; j++ {
		v := max(a[j], b[j], c[j], d[j])
		q := int64(multiply(v+bias[j], mult[j], lsh[j], sh[j], rnd[j], adj[j])) + zero
		dst[j] = uint8(max(lo, min(hi, q)))
	}
}

// Int32 rescales one row of accumulators into dst without the zero point
// and the clamp: dst[o] = MultiplyByQuantizedMultiplier(acc[o] + bias[o],
// mult[o], shift[o]), for logits kept in int32. It panics like Uint8.
func (r *Requantizer) Int32(dst []int32, acc []int32) {
	n := len(acc)
	dst, bias, mult, lsh, sh, rnd, adj := dst[:n], r.bias[:n], r.mult[:n], r.lsh[:n], r.sh[:n], r.rnd[:n], r.adj[:n]
	for o, a := range acc {
		dst[o] = multiply(a+bias[o], mult[o], lsh[o], sh[o], rnd[o], adj[o])
	}
}

// Multiplier is one fixed-point multiplier in the branch-free form of
// Requantizer, for scalar rescaling (an Add's sum, for instance).
type Multiplier struct {
	mult     int32
	lsh, sh  uint8
	rnd, adj int64
}

// NewMultiplier returns the Multiplier whose Apply is
// MultiplyByQuantizedMultiplier(·, mult, shift). mult must be ≥ 0 and shift
// in [−31, 30], as QuantizeMultiplier returns; NewMultiplier panics on a
// shift outside that range.
func NewMultiplier(mult int32, shift int) Multiplier {
	if shift < -31 || shift > 30 {
		panic(fmt.Sprintf("fixed: NewMultiplier: shift %d outside [-31, 30]", shift))
	}
	c := Multiplier{mult: mult, lsh: uint8(max(shift, 0)), sh: uint8(31 + max(-shift, 0))}
	if shift < 0 {
		c.rnd, c.adj = int64(1)<<(30-shift), -1<<31
	}
	return c
}

// Apply returns MultiplyByQuantizedMultiplier(x, mult, shift).
func (c Multiplier) Apply(x int32) int32 { return multiply(x, c.mult, c.lsh, c.sh, c.rnd, c.adj) }
