package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// reduceInputs returns x and y of length n with mixed magnitudes and a few
// specials (±0, and NaN when withNaN).
func reduceInputs(r *rand.Rand, n int, withNaN bool) (x, y []float32) {
	x, y = make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(5)-2)))
		y[i] = float32(r.NormFloat64())
		switch r.IntN(16) {
		case 0:
			x[i] = float32(math.Copysign(0, -1))
		case 1:
			if withNaN {
				y[i] = float32(math.NaN())
			}
		}
	}
	return x, y
}

// sameBits reports whether a and b are the same float32, any NaN equal to
// any NaN.
func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestReductions compares Sum, Dot and SumSqDiff (assembly where the CPU
// has it) with the pure-Go order bit for bit over odd lengths, and with a
// float64 sum within float32 rounding.
func TestReductions(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 31, 32, 33, 40, 63, 64, 65, 100, 784, 1001} {
		x, y := reduceInputs(r, n, false)
		mu := float32(0.3)
		type tc struct {
			name string
			got  float32
			op   int
		}
		for _, c := range []tc{{"Sum", Sum(x), opSum}, {"DotDiff", DotDiff(x, y, mu), opDot}, {"SumSqDiff", SumSqDiff(x, mu), opSqDiff}} {
			lanes := reduceRef(x[:n/8*8], y, mu, c.op)
			want := combine8(lanes)
			var exact, mag float64
			for i := n / 8 * 8; i < n; i++ {
				want += term(c.op, x, y, mu, i)
			}
			for i := range x {
				v := float64(term(c.op, x, y, mu, i))
				exact += v
				mag += math.Abs(v)
			}
			if !sameBits(c.got, want) {
				t.Fatalf("%s n=%d: %v, reference order %v", c.name, n, c.got, want)
			}
			if math.Abs(float64(c.got)-exact) > 1e-5*mag+1e-30 {
				t.Fatalf("%s n=%d: %v, float64 sum %v", c.name, n, c.got, exact)
			}
		}
	}
}

// TestAffineDiffAndMask compares AffineDiff, MaskPositive and Add with their loops bit
// for bit over odd lengths, in place and not.
func TestAffineDiffAndMask(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 8, 9, 17, 64, 65, 300} {
		x, y := reduceInputs(r, n, true)
		want := make([]float32, n)
		affineDiffRef(want, x, y, 1.5, -0.25, 0.7, 3)
		got := make([]float32, n)
		AffineDiff(got, x, y, 1.5, -0.25, 0.7, 3)
		inPlace := append([]float32(nil), x...)
		AffineDiff(inPlace, inPlace, y, 1.5, -0.25, 0.7, 3)
		for i := range want {
			if !sameBits(got[i], want[i]) || !sameBits(inPlace[i], want[i]) {
				t.Fatalf("AffineDiff n=%d [%d]: %v (in place %v), reference %v", n, i, got[i], inPlace[i], want[i])
			}
		}
		maskPositiveRef(want, x, y)
		MaskPositive(got, x, y)
		copy(inPlace, x)
		MaskPositive(inPlace, inPlace, y)
		for i := range want {
			if !sameBits(got[i], want[i]) || !sameBits(inPlace[i], want[i]) {
				t.Fatalf("MaskPositive n=%d [%d]: %v (in place %v), reference %v", n, i, got[i], inPlace[i], want[i])
			}
		}
		addRef(want, x, y)
		Add(got, x, y)
		copy(inPlace, y)
		Add(inPlace, x, inPlace)
		for i := range want {
			if !sameBits(got[i], want[i]) || !sameBits(inPlace[i], want[i]) {
				t.Fatalf("Add n=%d [%d]: %v (in place %v), reference %v", n, i, got[i], inPlace[i], want[i])
			}
		}
	}
}

func BenchmarkReductions(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := reduceInputs(r, 784*16, false)
	b.Run("Dot", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			DotDiff(x, y, 0)
		}
	})
	b.Run("Dot/ref", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			reduceRef(x, y, 0, opDot)
		}
	})
}
