package fixed

import (
	"math/rand/v2"
	"testing"
)

// TestQuantizeFloat32 checks QuantizeFloat32 (the assembly where it runs,
// and the Go loop on its own) against quantizeRef on ties, values just off
// them, extremes, infinities and NaN at several scales and zero points,
// and on random values for every length up to 40 (whole steps of sixteen
// and tails).
func TestQuantizeFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		inv  float64
		zero uint8
	}{{255, 0}, {80, 33}, {2, 128}, {0.5, 255}, {1e5, 7}} {
		cases := [][]float32{quantizeCase(c.inv)}
		for n := range 41 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64()*300) / float32(c.inv)
			}
			cases = append(cases, x)
		}
		for _, x := range cases {
			for name, f := range map[string]func([]uint8, []float32, float64, uint8){"QuantizeFloat32": QuantizeFloat32, "quantizeGo": quantizeGo} {
				dst := make([]uint8, len(x)+3)
				dst[len(x)], dst[len(x)+1], dst[len(x)+2] = 7, 7, 7
				f(dst, x, c.inv, c.zero)
				for i, v := range x {
					if want := quantizeRef(v, c.inv, c.zero); dst[i] != want {
						t.Fatalf("%s inv %g zero %d: x[%d] = %g → %d, want %d", name, c.inv, c.zero, i, v, dst[i], want)
					}
				}
				if g := dst[len(x):]; g[0] != 7 || g[1] != 7 || g[2] != 7 {
					t.Fatalf("%s: wrote past len(x) = %d", name, len(x))
				}
			}
		}
	}
	t.Logf("assembly: %v", useQuantizeAsm)
}
