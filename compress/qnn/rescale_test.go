package qnn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compressq/compressq/compress/fixed"
)

// TestMultiplyMatchesFixed checks the branch-free rescaling against
// fixed.MultiplyByQuantizedMultiplier on the extreme accumulators, the
// extreme multipliers and every shift, then on random values.
func TestMultiplyMatchesFixed(t *testing.T) {
	xs := []int32{math.MinInt32, math.MinInt32 + 1, -1 << 30, -3, -2, -1, 0, 1, 2, 3, 1 << 30, math.MaxInt32 - 1, math.MaxInt32}
	mults := []int32{0, 1, 1 << 30, 1<<30 + 1, 3 << 29, math.MaxInt32 - 1, math.MaxInt32}
	check := func(x, mult int32, shift int) {
		t.Helper()
		want := fixed.MultiplyByQuantizedMultiplier(x, mult, shift)
		r := newRescale(&Layer{Bias: []int32{0}, Mult: []int32{mult}, Shift: []int{shift}, Logits: true})
		if got := multiply(x, mult, r.lsh[0], r.sh[0], r.rnd[0], r.adj[0]); got != want {
			t.Fatalf("multiply(%d, %d, shift %d) = %d, want %d", x, mult, shift, got, want)
		}
	}
	for shift := -31; shift <= 30; shift++ {
		for _, x := range xs {
			for _, m := range mults {
				check(x, m, shift)
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1 << 18 {
		x := int32(r.Uint32())
		if r.IntN(2) == 0 { // accumulator-sized values hit the ties more often
			x = int32(r.IntN(1<<22)) - 1<<21
		}
		m, s := fixed.QuantizeMultiplier(math.Ldexp(0.5+r.Float64()/2, r.IntN(40)-33))
		check(x, m, s)
		check(x, int32(r.Uint32()>>1), r.IntN(62)-31)
	}
}

// TestRescaleRows checks the row functions against the scalar formula of
// ForwardRef, with and without a fused ReLU.
func TestRescaleRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 67
	for _, relu := range []bool{false, true} {
		l := &Layer{Bias: make([]int32, n), Mult: make([]int32, n), Shift: make([]int, n), OutZero: 37, ReLU: relu}
		for o := range n {
			l.Bias[o] = int32(r.IntN(1<<20)) - 1<<19
			l.Mult[o], l.Shift[o] = fixed.QuantizeMultiplier(math.Ldexp(0.5+r.Float64()/2, r.IntN(20)-16))
		}
		acc := make([]int32, n)
		for o := range acc {
			acc[o] = int32(r.IntN(1<<24)) - 1<<23
		}
		got := make([]uint8, n)
		newRescale(l).toU8(got, acc)
		l.Logits = true
		logits := make([]int32, n)
		newRescale(l).toI32(logits, acc)
		for o, a := range acc {
			v := fixed.MultiplyByQuantizedMultiplier(a+l.Bias[o], l.Mult[o], l.Shift[o])
			lo := int64(0)
			if relu {
				lo = int64(l.OutZero)
			}
			if want := uint8(max(lo, min(255, int64(v)+int64(l.OutZero)))); got[o] != want {
				t.Errorf("relu %v channel %d: %d, want %d", relu, o, got[o], want)
			}
			if logits[o] != v {
				t.Errorf("logits channel %d: %d, want %d", o, logits[o], v)
			}
		}
	}
}
