package qnn

import "math"

// rescale is one layer's per-channel requantization as the fast path runs
// it: for output channel o,
//
//	v = fixed.MultiplyByQuantizedMultiplier(acc + bias[o], mult[o], shift[o])
//	q = clamp(v + zero, lo, hi)
//
// computed without branches (the signs of products and remainders are
// data, so branches on them mispredict about half the time) and with both
// roundings in one shift. For mult ≥ 0 (fixed.QuantizeMultiplier
// guarantees it) and a shift = lsh − rsh split into its left and right
// parts:
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
// |y·mult| < 2⁶², rnd ≤ 2⁶¹.
type rescale struct {
	bias, mult []int32
	rnd, adj   []int64
	lsh, sh    []uint8
	zero       int32
	lo, hi     int64
}

// newRescale returns the rescaling of a layer's accumulators; the output
// clamp is [lo, 255] with lo the output zero point under a fused ReLU, 0
// otherwise. For the logits layer there is no zero point and no clamp.
func newRescale(l *Layer) *rescale {
	out := len(l.Bias)
	r := &rescale{bias: l.Bias, mult: l.Mult, rnd: make([]int64, out), adj: make([]int64, out),
		lsh: make([]uint8, out), sh: make([]uint8, out), lo: math.MinInt32, hi: math.MaxInt32}
	for o, s := range l.Shift {
		c := newMulConst(0, s)
		r.lsh[o], r.sh[o], r.rnd[o], r.adj[o] = c.lsh, c.sh, c.rnd, c.adj
	}
	if !l.Logits {
		r.zero, r.lo, r.hi = int32(l.OutZero), 0, math.MaxUint8
		if l.ReLU {
			r.lo = int64(l.OutZero)
		}
	}
	return r
}

// multiply returns fixed.MultiplyByQuantizedMultiplier(x, mult, shift) with
// the per-channel constants of rescale: lsh = max(shift, 0),
// sh = 31 + max(−shift, 0), rnd and adj as described there.
func multiply(x, mult int32, lsh, sh uint8, rnd, adj int64) int32 {
	y := max(math.MinInt32, min(math.MaxInt32, int64(x)<<(lsh&31)))
	u := y*int64(mult) + 1<<30
	return int32((u + rnd + u>>63&adj) >> (sh & 63))
}

// toU8 requantizes one row of accumulators, channels in order, into dst.
func (r *rescale) toU8(dst []uint8, acc []int32) {
	n := len(acc)
	dst, bias, mult, lsh, sh, rnd, adj := dst[:n], r.bias[:n], r.mult[:n], r.lsh[:n], r.sh[:n], r.rnd[:n], r.adj[:n]
	zero, lo, hi := int64(r.zero), r.lo, r.hi
	for o, a := range acc {
		v := int64(multiply(a+bias[o], mult[o], lsh[o], sh[o], rnd[o], adj[o])) + zero
		dst[o] = uint8(max(lo, min(hi, v)))
	}
}

// toI32 rescales one row of logit accumulators into dst.
func (r *rescale) toI32(dst []int32, acc []int32) {
	n := len(acc)
	dst, bias, mult, lsh, sh, rnd, adj := dst[:n], r.bias[:n], r.mult[:n], r.lsh[:n], r.sh[:n], r.rnd[:n], r.adj[:n]
	for o, a := range acc {
		dst[o] = multiply(a+bias[o], mult[o], lsh[o], sh[o], rnd[o], adj[o])
	}
}

// mulConst is one multiplier in the form multiply takes.
type mulConst struct {
	mult     int32
	lsh, sh  uint8
	rnd, adj int64
}

// newMulConst returns the constants of multiply for
// fixed.MultiplyByQuantizedMultiplier(·, mult, shift).
func newMulConst(mult int32, shift int) mulConst {
	c := mulConst{mult: mult, lsh: uint8(max(shift, 0)), sh: uint8(31 + max(-shift, 0))}
	if shift < 0 {
		c.rnd, c.adj = int64(1)<<(30-shift), -1<<31
	}
	return c
}

// apply returns fixed.MultiplyByQuantizedMultiplier(x, c.mult, shift).
func (c mulConst) apply(x int32) int32 { return multiply(x, c.mult, c.lsh, c.sh, c.rnd, c.adj) }
