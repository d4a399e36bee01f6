package kernels

import "fmt"

// Reductions and element-wise maps for batch norm and activations in
// training. The reductions add in a fixed order — 32 running sums (element
// i goes to sum i mod 32) over whole blocks of 32, then blocks of 8 into the
// first 8 sums, the 32 sums combined pairwise, and the last len mod 8
// elements one by one — that the assembly and the pure-Go loop share, so
// both give the same bits.

// Sum returns the sum of x in float32 in the order described above.
func Sum(x []float32) float32 {
	return reduce(x, nil, 0, opSum)
}

// DotDiff returns Σ (x[i]−mu)·y[i] over x (y at least as long), each
// product rounded to float32 before it is added, in the order described
// above. With mu 0 it is the dot product.
func DotDiff(x, y []float32, mu float32) float32 {
	if len(y) < len(x) {
		panic(fmt.Sprintf("kernels: DotDiff: y has %d elements, x %d", len(y), len(x)))
	}
	return reduce(x, y[:len(x)], mu, opDot)
}

// SumSqDiff returns Σ (x[i]−mu)², each square rounded to float32 before it is
// added, in the order described above.
func SumSqDiff(x []float32, mu float32) float32 {
	return reduce(x, nil, mu, opSqDiff)
}

// Reduction kinds shared by the assembly and the reference.
const (
	opSum = iota
	opDot
	opSqDiff
)

// term is element i's contribution under op.
func term(op int, x, y []float32, mu float32, i int) float32 {
	switch op {
	case opDot:
		return float32((x[i] - mu) * y[i])
	case opSqDiff:
		d := x[i] - mu
		return float32(d * d)
	}
	return x[i]
}

// reduce runs the reduction op: the blocks of 8 in assembly when it can,
// the rest in Go.
func reduce(x, y []float32, mu float32, op int) float32 {
	n8 := len(x) / 8 * 8
	var lanes [8]float32
	if !reduceFast(x[:n8], y, mu, op, &lanes) {
		lanes = reduceRef(x[:n8], y, mu, op)
	}
	s := combine8(lanes)
	for i := n8; i < len(x); i++ {
		s += term(op, x, y, mu, i)
	}
	return s
}

// reduceRef is the pure-Go reduction of len(x) (a multiple of 8) elements
// into 8 lane sums, in the assembly's order.
func reduceRef(x, y []float32, mu float32, op int) [8]float32 {
	var acc [4][8]float32
	i := 0
	for ; i+32 <= len(x); i += 32 {
		for v := range 4 {
			for l := range 8 {
				acc[v][l] += term(op, x, y, mu, i+8*v+l)
			}
		}
	}
	for ; i+8 <= len(x); i += 8 {
		for l := range 8 {
			acc[0][l] += term(op, x, y, mu, i+l)
		}
	}
	var out [8]float32
	for l := range 8 {
		out[l] = (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l])
	}
	return out
}

// combine8 adds 8 lane sums as the assembly's horizontal sum does: the
// upper four onto the lower four, then lanes 2, 3 onto 0, 1, then lane 1
// onto lane 0.
func combine8(l [8]float32) float32 {
	h := [4]float32{l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]}
	return (h[0] + h[2]) + (h[1] + h[3])
}

// AffineDiff sets dst[i] = float32(a·x[i]) + float32(b·(y[i]−d)) + c for
// every i of x, each operation rounded on its own, left to right: batch
// norm's input gradient, with y the input and d its mean. y and dst must be
// at least as long as x; dst may be x or y.
func AffineDiff(dst, x, y []float32, a, b, d, c float32) {
	if len(y) < len(x) || len(dst) < len(x) {
		panic(fmt.Sprintf("kernels: AffineDiff: x has %d elements, y %d, dst %d", len(x), len(y), len(dst)))
	}
	done := affineDiffFast(dst[:len(x)], x, y[:len(x)], a, b, d, c)
	affineDiffRef(dst[done:len(x)], x[done:], y[done:len(x)], a, b, d, c)
}

func affineDiffRef(dst, x, y []float32, a, b, d, c float32) {
	for i, v := range x {
		dst[i] = float32(a*v) + float32(b*(y[i]-d)) + c
	}
}

// MaskPositive sets dst[i] = g[i] where y[i] > 0 and 0 elsewhere (NaN in y
// counts as not positive): the ReLU gradient. y and dst must be at least as
// long as g; dst may be g.
func MaskPositive(dst, g, y []float32) {
	if len(y) < len(g) || len(dst) < len(g) {
		panic(fmt.Sprintf("kernels: MaskPositive: g has %d elements, y %d, dst %d", len(g), len(y), len(dst)))
	}
	done := maskPositiveFast(dst[:len(g)], g, y[:len(g)])
	maskPositiveRef(dst[done:len(g)], g[done:], y[done:len(g)])
}

func maskPositiveRef(dst, g, y []float32) {
	for i, v := range g {
		if y[i] > 0 {
			dst[i] = v
		} else {
			dst[i] = 0
		}
	}
}

// Add sets dst[i] = x[i] + y[i] for every i of x. y and dst must be at
// least as long as x; dst may be x or y.
func Add(dst, x, y []float32) {
	if len(y) < len(x) || len(dst) < len(x) {
		panic(fmt.Sprintf("kernels: Add: x has %d elements, y %d, dst %d", len(x), len(y), len(dst)))
	}
	done := addFast(dst[:len(x)], x, y[:len(x)])
	addRef(dst[done:len(x)], x[done:], y[done:len(x)])
}

func addRef(dst, x, y []float32) {
	for i, v := range x {
		dst[i] = v + y[i]
	}
}
