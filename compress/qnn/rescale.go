package qnn

import "github.com/compressq/compressq/compress/fixed"

// newRescale returns the requantization of l's accumulators (see
// fixed.Requantizer) with l's bias, per-channel multipliers and output
// zero point, clamped to the codes [lo, hi]. The logits layer only uses
// its Int32, which has no zero point and no clamp.
func newRescale(l *Layer, lo, hi uint8) (*fixed.Requantizer, error) {
	zero := int32(l.OutZero)
	if l.Logits {
		zero = 0
	}
	return fixed.NewRequantizer(l.Bias, l.Mult, l.Shift, zero, int32(lo), int32(hi))
}
