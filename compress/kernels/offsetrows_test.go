package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmOffsetRows compares SgemmOffsetRows with Sgemm on the gathered
// B over odd shapes (partial slivers, several K blocks), overlapping rows
// at arbitrary offsets, and beta 0 and not.
func TestSgemmOffsetRows(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, m := range []int{1, 6, 7, 13, 16} {
		for _, n := range []int{1, 15, 16, 17, 33, 70} {
			for _, k := range []int{1, 9, 144, 300} {
				buf := randSlice(r, n+3*k+5)
				off := make([]int, k)
				for p := range off {
					off[p] = r.IntN(len(buf) - n + 1)
				}
				g := make([]float32, k*n)
				for p := range k {
					copy(g[p*n:(p+1)*n], buf[off[p]:])
				}
				a := randSlice(r, m*(k+2))
				for _, beta := range []float32{0, 0.5} {
					c0 := randSlice(r, m*(n+1))
					want := append([]float32(nil), c0...)
					Sgemm(false, false, m, n, k, 1, a, k+2, g, n, beta, want, n+1)
					got := append([]float32(nil), c0...)
					SgemmOffsetRows(m, n, k, a, k+2, buf, off, beta, got, n+1)
					for i := range want {
						if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
							t.Fatalf("m=%d n=%d k=%d beta=%v: c[%d] = %v, want %v", m, n, k, beta, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestSgemmOffsetRowsChecks checks that offsets past B panic.
func TestSgemmOffsetRowsChecks(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a row past the end of B")
		}
	}()
	SgemmOffsetRows(1, 4, 1, []float32{1}, 1, make([]float32, 5), []int{2}, 0, make([]float32, 4), 4)
}
