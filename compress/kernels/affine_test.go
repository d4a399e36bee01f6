package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestScaleBiasClamp compares ScaleBiasClamp (assembly where the CPU has
// it) with its pure-Go loop bit for bit over odd lengths, in place and not,
// with NaN, ±Inf, ±0 and values on the bounds among the inputs.
func TestScaleBiasClamp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 6, -6}
	inf := float32(math.Inf(1))
	params := [][4]float32{
		{1, 0, 0, inf},                 // ReLU
		{1, 0, 0, 6},                   // ReLU6
		{1, 0.25, -inf, inf},           // bias only
		{0.7, -0.3, -inf, inf},         // batch norm
		{-1.5, 2, -1, 1},               // all of it
		{1, float32(math.NaN()), 0, 6}, // a NaN bias
	}
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 63, 100, 257} {
		src := make([]float32, n)
		for i := range src {
			if r.IntN(8) == 0 {
				src[i] = special[r.IntN(len(special))]
			} else {
				src[i] = float32(r.NormFloat64() * 4)
			}
		}
		for _, p := range params {
			want := make([]float32, n)
			scaleBiasClampRef(want, src, p[0], p[1], p[2], p[3])
			got := make([]float32, n+3)
			for i := range got {
				got[i] = 42
			}
			ScaleBiasClamp(got, src, p[0], p[1], p[2], p[3])
			same(t, n, p, got[:n], want)
			for i := n; i < len(got); i++ {
				if got[i] != 42 {
					t.Fatalf("n=%d %v: wrote dst[%d] past len(src)", n, p, i)
				}
			}
			inPlace := append([]float32(nil), src...)
			ScaleBiasClamp(inPlace, inPlace, p[0], p[1], p[2], p[3])
			same(t, n, p, inPlace, want)
		}
	}
}

func same(t *testing.T, n int, p [4]float32, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("n=%d params %v: [%d] = %v, reference %v", n, p, i, got[i], want[i])
		}
	}
}

// TestScaleBiasClampShortDst checks the length check.
func TestScaleBiasClampShortDst(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a short dst")
		}
	}()
	ScaleBiasClamp(make([]float32, 3), make([]float32, 4), 1, 0, 0, 1)
}

func BenchmarkScaleBiasClamp(b *testing.B) {
	src := make([]float32, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range src {
		src[i] = float32(r.NormFloat64())
	}
	dst := make([]float32, len(src))
	b.Run("kernel", func(b *testing.B) {
		b.SetBytes(int64(8 * len(src)))
		for b.Loop() {
			ScaleBiasClamp(dst, src, 1, 0, 0, float32(math.Inf(1)))
		}
	})
	b.Run("ref", func(b *testing.B) {
		b.SetBytes(int64(8 * len(src)))
		for b.Loop() {
			scaleBiasClampRef(dst, src, 1, 0, 0, float32(math.Inf(1)))
		}
	})
}

// TestCopyEven compares copyEven with the plain loop over odd lengths and
// source slices exactly as long as needed or longer.
func TestCopyEven(t *testing.T) {
	for n := 0; n < 70; n++ {
		for extra := 0; extra < 3; extra++ {
			src := make([]float32, max(0, 2*n-1)+extra)
			for i := range src {
				src[i] = float32(i) + 0.5
			}
			dst := make([]float32, n+2)
			dst[n], dst[n+1] = -1, -1
			copyEven(dst[:n], src)
			for i := 0; i < n; i++ {
				if dst[i] != src[2*i] {
					t.Fatalf("n=%d extra=%d: dst[%d] = %v, want %v", n, extra, i, dst[i], src[2*i])
				}
			}
			if dst[n] != -1 || dst[n+1] != -1 {
				t.Fatalf("n=%d: wrote past dst", n)
			}
		}
	}
}
