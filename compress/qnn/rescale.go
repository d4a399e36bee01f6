package qnn

import "math"

// rescale is one layer's per-channel requantization as the fast path runs
// it: for output channel o,
//
//	v = fixed.MultiplyByQuantizedMultiplier(acc + bias[o], mult[o], shift[o])
//	q = clamp(v + zero, lo, hi)
//
// with the shift split into a left part lsh[o] = max(shift, 0) and a right
// part rsh[o] = max(−shift, 0), and every branch of the scalar function
// replaced by arithmetic (the signs of products and remainders are data, so
// branches on them mispredict about half the time). It relies on what
// fixed.QuantizeMultiplier guarantees: mult ≥ 0 and shift in [−31, 30].
type rescale struct {
	bias, mult []int32
	lsh, rsh   []uint8
	zero       int32
	lo, hi     int64
}

// newRescale returns the rescaling of a layer's accumulators; the output
// clamp is [lo, 255] with lo the output zero point under a fused ReLU, 0
// otherwise. For the logits layer there is no zero point and no clamp.
func newRescale(l *Layer) *rescale {
	out := len(l.Bias)
	r := &rescale{bias: l.Bias, mult: l.Mult, lsh: make([]uint8, out), rsh: make([]uint8, out), lo: math.MinInt32, hi: math.MaxInt32}
	for o, s := range l.Shift {
		r.lsh[o], r.rsh[o] = uint8(max(s, 0)), uint8(max(-s, 0))
	}
	if !l.Logits {
		r.zero, r.lo, r.hi = int32(l.OutZero), 0, math.MaxUint8
		if l.ReLU {
			r.lo = int64(l.OutZero)
		}
	}
	return r
}

// multiply returns fixed.MultiplyByQuantizedMultiplier(x, mult, shift) for
// mult ≥ 0 and shift = lsh − rsh with lsh·rsh = 0, lsh ≤ 30, rsh ≤ 31,
// without branches.
func multiply(x, mult int32, lsh, rsh uint8) int32 {
	// Saturating left shift.
	v := max(math.MinInt32, min(math.MaxInt32, int64(x)<<lsh))
	// SaturatingRoundingDoublingHighMul: (v·mult + nudge) / 2³¹, truncated,
	// nudge 2³⁰ for a non-negative product and 1 − 2³⁰ otherwise. With
	// mult ≥ 0 the saturating case (both MinInt32) cannot occur.
	ab := v * int64(mult)
	ab += 1<<30 + ab>>63&(1-1<<31)
	h := int32(ab / (1 << 31))
	// RoundingDivideByPOT by rsh: ties away from zero.
	mask := int32(uint32(1)<<rsh - 1)
	threshold := mask>>1 + int32(uint32(h)>>31)
	return h>>rsh - (threshold-h&mask)>>31
}

// toU8 requantizes one row of accumulators, channels in order, into dst.
func (r *rescale) toU8(dst []uint8, acc []int32) {
	n := len(acc)
	dst, bias, mult, lsh, rsh := dst[:n], r.bias[:n], r.mult[:n], r.lsh[:n], r.rsh[:n]
	for o, a := range acc {
		v := int64(multiply(a+bias[o], mult[o], lsh[o], rsh[o])) + int64(r.zero)
		dst[o] = uint8(max(r.lo, min(r.hi, v)))
	}
}

// toI32 rescales one row of logit accumulators into dst.
func (r *rescale) toI32(dst []int32, acc []int32) {
	n := len(acc)
	dst, bias, mult, lsh, rsh := dst[:n], r.bias[:n], r.mult[:n], r.lsh[:n], r.rsh[:n]
	for o, a := range acc {
		dst[o] = multiply(a+bias[o], mult[o], lsh[o], rsh[o])
	}
}
