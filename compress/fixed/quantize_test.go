package fixed

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/compressq/compressq/compress/internal/cpu"
)

// TestQuantizeFloat32 checks QuantizeFloat32 and each implementation
// (the Go loop and the assembly where the CPU has it) against quantizeRef on
// ties, values just off them, extremes, infinities and NaN at several
// scales and zero points (quantizeCase, from every offset below 16 so each
// value reaches every lane and the Go tail), and on random values for
// every length up to 40 (whole steps of 8 and 16 and tails), with guard
// bytes after dst.
func TestQuantizeFloat32(t *testing.T) {
	impls := map[string]func([]uint8, []float32, float64, uint8){"QuantizeFloat32": QuantizeFloat32}
	for _, which := range append(asmImpls, ImplGo) {
		impls[which] = func(dst []uint8, x []float32, inv float64, zero uint8) { quantize(which, dst, x, inv, zero) }
	}
	for _, name := range append([]string{"QuantizeFloat32", ImplGo}, asmImpls...) {
		t.Run(name, func(t *testing.T) {
			if name != "QuantizeFloat32" && !slices.Contains(available(), name) {
				t.Skipf("no %s kernels here: %s", name, asmMissing())
			}
			testQuantize(t, impls[name])
		})
	}
	if HasAVX512VNNI && quantizeImpl != ImplVNNI || !HasAVX512VNNI && HasAVX2 && quantizeImpl != ImplAVX2 {
		t.Errorf("QuantizeFloat32 runs %s with VNNI %v, AVX2 %v", quantizeImpl, HasAVX512VNNI, HasAVX2)
	}
	t.Logf("QuantizeFloat32 runs %s", quantizeImpl)
}

func testQuantize(t *testing.T, f func([]uint8, []float32, float64, uint8)) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		inv  float64
		zero uint8
	}{{255, 0}, {80, 33}, {2, 128}, {0.5, 255}, {1e5, 7}, {1, 1}, {3, 254}} {
		var cases [][]float32
		special := quantizeCase(c.inv)
		for off := range 16 {
			cases = append(cases, special[off:])
		}
		for n := range 41 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64()*300) / float32(c.inv)
			}
			cases = append(cases, x)
		}
		for _, x := range cases {
			dst := make([]uint8, len(x)+3)
			dst[len(x)], dst[len(x)+1], dst[len(x)+2] = 7, 7, 7
			f(dst, x, c.inv, c.zero)
			for i, v := range x {
				if want := quantizeRef(v, c.inv, c.zero); dst[i] != want {
					t.Fatalf("inv %g zero %d: x[%d] = %g → %d, want %d", c.inv, c.zero, i, v, dst[i], want)
				}
			}
			if g := dst[len(x):]; g[0] != 7 || g[1] != 7 || g[2] != 7 {
				t.Fatalf("wrote past len(x) = %d", len(x))
			}
		}
	}
}

// asmMissing says why an assembly implementation is not available: the
// build or the kill switch, else the CPU.
func asmMissing() string {
	if r := cpu.Disabled(); r != "" {
		return r
	}
	return "the CPU lacks it (or its GEMM kernel failed the start-up self-test)"
}
