// Package quant quantizes float32 weight tensors to int8 and int4 and
// measures the error it introduces.
//
// A [Quantized] tensor holds integer codes q, one scale s and one zero point z
// per group (the whole tensor, or one slice along the output-channel axis
// 0), and represents the values
//
//	w ≈ s · (q − z)
//
// Symmetric quantization fixes z = 0 and s = max|w| / qmax (qmax = 127 for
// int8, 7 for int4), using the codes [−qmax, qmax]. Asymmetric quantization
// maps [min(w, 0), max(w, 0)] onto the full range [−128, 127] (int4: [−8, 7])
// with an integer zero point, so that 0 is represented exactly. The float32
// scale is rounded up (never down) from the exact quotient, so no weight
// falls outside the code range and every weight is reconstructed within
// s/2 plus the float32 rounding of s·(q−z) (see [Epsilon]).
//
// Rounding is round-half-to-even (IEEE 754 roundTiesToEven, as
// math.RoundToEven and the x86 CVTPS2DQ instruction in its default mode do),
// followed by clamping to the code range. Computation of s·(q−z) is done in
// float32.
//
// The package is pure computation on slices: no I/O, no queue, Redis or
// metrics code, no global mutable state.
package quant
