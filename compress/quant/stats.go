package quant

import (
	"fmt"
	"math"
)

// Stats summarises the reconstruction error of a quantized tensor.
type Stats struct {
	// MaxAbsError is max |w − dequant(q)| over all elements.
	MaxAbsError float64
	// MeanAbsError is the mean of |w − dequant(q)|.
	MeanAbsError float64
	// Bound[g] = Scale[g]/2 is the theoretical per-element bound of group g
	// for values inside the group's quantization range (no clamping).
	Bound []float64
	// Violations counts elements whose error exceeds their group's Bound by
	// more than the float32 rounding of the dequantization (see ErrorStats).
	Violations int
}

// ErrorStats compares the original weights w with q's reconstruction. An
// element counts as a violation when its error exceeds
// Scale/2 + ε·(|w| + Scale), with ε = 2⁻²³ (float32 machine epsilon)·4,
// which covers the float32 rounding of s·(q−z) and of w itself.
func ErrorStats(w []float32, q *Quantized) (Stats, error) {
	rec, err := Dequantize(q)
	if err != nil {
		return Stats{}, err
	}
	if len(w) != len(rec) {
		return Stats{}, fmt.Errorf("quant: %d weights, %d codes", len(w), len(rec))
	}
	st := Stats{Bound: make([]float64, len(q.Scale))}
	for g, s := range q.Scale {
		st.Bound[g] = float64(s) / 2
	}
	size := q.GroupSize()
	var sum float64
	for i, x := range w {
		g := 0
		if size > 0 {
			g = i / size
		}
		e := math.Abs(float64(x) - float64(rec[i]))
		sum += e
		st.MaxAbsError = max(st.MaxAbsError, e)
		if e > st.Bound[g]+Epsilon*(math.Abs(float64(x))+float64(q.Scale[g])) {
			st.Violations++
		}
	}
	if len(w) > 0 {
		st.MeanAbsError = sum / float64(len(w))
	}
	return st, nil
}

// Epsilon is the relative float32 slack allowed on top of the Scale/2 bound:
// four units of float32 machine epsilon.
const Epsilon = 4 * 0x1p-23
