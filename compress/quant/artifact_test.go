package quant_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// TestArtifactRoundTrip quantizes a conv and a dense weight with every
// scheme, stores them in the compressed artifact format, reads them back
// and checks codes, scales and zero points are unchanged and the
// dequantized weights stay within scale/2 of the originals.
func TestArtifactRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := map[string][]int{"conv": {8, 1, 5, 5}, "dense": {10, 17}}
	for _, bits := range []int{8, 4} {
		for _, sch := range []quant.Scheme{quant.PerTensor, quant.PerChannel} {
			for _, sym := range []bool{true, false} {
				p := quant.Params{Bits: bits, Scheme: sch, Symmetric: sym}
				orig := map[string][]float32{}
				c := &packed.Compressed{}
				for name, shape := range shapes {
					w := make([]float32, numel(shape))
					for i := range w {
						w[i] = float32(rng.NormFloat64() * 0.1)
					}
					q, err := quant.QuantizeTensor(w, shape, p)
					if err != nil {
						t.Fatal(err)
					}
					orig[name] = w
					c.Params = append(c.Params, packed.CompressedParam{Name: name, Shape: shape, Quantized: q})
				}
				var buf bytes.Buffer
				if err := packed.WriteCompressed(&buf, c); err != nil {
					t.Fatal(err)
				}
				got, err := packed.ReadCompressed(buf.Bytes(), safetensors.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range c.Params {
					gp, ok := got.Param(want.Name)
					if !ok || gp.Quantized == nil {
						t.Fatalf("%v: %q missing or not quantized", p, want.Name)
					}
					a, b := want.Quantized, gp.Quantized
					if a.Bits != b.Bits || a.Axis != b.Axis || len(a.Q) != len(b.Q) {
						t.Fatalf("%v %q: header fields changed", p, want.Name)
					}
					for i := range a.Q {
						if a.Q[i] != b.Q[i] {
							t.Fatalf("%v %q: code %d changed %d → %d", p, want.Name, i, a.Q[i], b.Q[i])
						}
					}
					for g := range a.Scale {
						if a.Scale[g] != b.Scale[g] || a.ZeroPoint[g] != b.ZeroPoint[g] {
							t.Fatalf("%v %q: group %d changed", p, want.Name, g)
						}
					}
					st, err := quant.ErrorStats(orig[want.Name], b)
					if err != nil {
						t.Fatal(err)
					}
					if st.Violations != 0 {
						t.Errorf("%v %q: %d elements exceed scale/2 after the round trip", p, want.Name, st.Violations)
					}
					maxBound := 0.0
					for _, bnd := range st.Bound {
						maxBound = math.Max(maxBound, bnd)
					}
					if st.MaxAbsError > maxBound*(1+1e-6) {
						t.Errorf("%v %q: max error %g > bound %g", p, want.Name, st.MaxAbsError, maxBound)
					}
				}
			}
		}
	}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
