package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// allParams lists every supported combination.
func allParams() []Params {
	var ps []Params
	for _, bits := range []int{8, 4} {
		for _, sch := range []Scheme{PerTensor, PerChannel} {
			for _, sym := range []bool{true, false} {
				ps = append(ps, Params{Bits: bits, Scheme: sch, Symmetric: sym})
			}
		}
	}
	return ps
}

func name(p Params) string {
	s := "asym"
	if p.Symmetric {
		s = "sym"
	}
	return p.Scheme.String() + "/" + s + "/int" + string(rune('0'+p.Bits))
}

// weightCases are small generated tensors covering the awkward shapes of
// weight distributions.
func weightCases() map[string]struct {
	w     []float32
	shape []int
} {
	rng := rand.New(rand.NewPCG(1, 2))
	gauss := make([]float32, 6*50)
	for i := range gauss {
		gauss[i] = float32(rng.NormFloat64() * 0.05)
	}
	positive := make([]float32, 4*9)
	for i := range positive {
		positive[i] = rng.Float32() * 3
	}
	mixed := []float32{
		0, 0, 0, 0, // all-zero channel
		1e-30, -2e-30, 3e-30, 0, // tiny channel
		-5, 5, 2.5, -2.5, // exact halves in int8 sym
		-1, -0.5, -0.25, -0.125, // all negative
		1e30, -1e36, 1.3e36, 7, // huge
	}
	return map[string]struct {
		w     []float32
		shape []int
	}{
		"gaussian dense [6,50]":     {gauss, []int{6, 50}},
		"positive conv [4,1,3,3]":   {positive, []int{4, 1, 3, 3}},
		"mixed channels [5,4]":      {mixed, []int{5, 4}},
		"single element [1]":        {[]float32{-0.3}, []int{1}},
		"empty [0,3]":               {nil, []int{0, 3}},
		"subnormal [1,2]":           {[]float32{1e-44, -3e-45}, []int{1, 2}},
		"zero tensor [2,2]":         {make([]float32, 4), []int{2, 2}},
		"positive only [1,3]":       {[]float32{1, 2, 3}, []int{1, 3}},
		"zeros inside range [2,4]":  {[]float32{-0.7, 0, 0.3, 0, 0, 1.9, -0.01, 0}, []int{2, 4}},
		"negative only [1,3]":       {[]float32{-1, -2, -3}, []int{1, 3}},
		"wide range per row [2,3]":  {[]float32{-100, 0.001, 50, 1e-3, 2e-3, -1e-3}, []int{2, 3}},
		"tiny and large mix [1,4]":  {[]float32{1e-8, 1e8, -1e-8, -1e8}, []int{1, 4}},
		"rank 1 per-channel [7]":    {[]float32{1, -2, 3, -4, 5, -6, 7}, []int{7}},
		"max accepted range [1,2]":  {[]float32{MaxAbsWeight, -MaxAbsWeight}, []int{1, 2}},
		"rounding ties sym [1,4]":   {[]float32{127, 0.5, 1.5, -2.5}, []int{1, 4}},
		"asym ties [1,3]":           {[]float32{-1, 0.5, 2}, []int{1, 3}},
		"single channel huge [1,1]": {[]float32{-MaxAbsWeight}, []int{1, 1}},
	}
}

// TestReconstructionBound checks |w − dequant(quant(w))| ≤ scale/2 + ε for
// every element, every scheme and every case, plus code ranges and zero
// points.
func TestReconstructionBound(t *testing.T) {
	for cname, c := range weightCases() {
		for _, p := range allParams() {
			t.Run(cname+"/"+name(p), func(t *testing.T) {
				q, err := QuantizeTensor(c.w, c.shape, p)
				if err != nil {
					t.Fatal(err)
				}
				if err := q.Validate(); err != nil {
					t.Fatalf("Validate: %v", err)
				}
				wantGroups := 1
				if p.Scheme == PerChannel {
					wantGroups = c.shape[0]
				}
				if q.Groups() != wantGroups {
					t.Fatalf("groups = %d, want %d", q.Groups(), wantGroups)
				}
				qmin, qmax := Range(p.Bits, p.Symmetric)
				for i, v := range q.Q {
					if int32(v) < qmin || int32(v) > qmax {
						t.Fatalf("code[%d] = %d outside [%d,%d]", i, v, qmin, qmax)
					}
				}
				rec, err := Dequantize(q)
				if err != nil {
					t.Fatal(err)
				}
				size := q.GroupSize()
				for g, s := range q.Scale {
					z := q.ZeroPoint[g]
					if p.Symmetric && z != 0 {
						t.Fatalf("symmetric zero point[%d] = %d", g, z)
					}
					for i := g * size; i < (g+1)*size; i++ {
						err := math.Abs(float64(c.w[i]) - float64(rec[i]))
						bound := float64(s)/2 + Epsilon*(math.Abs(float64(c.w[i]))+float64(s))
						if err > bound {
							t.Fatalf("element %d: w=%g rec=%g err=%g > bound %g (scale %g, zp %d, code %d)",
								i, c.w[i], rec[i], err, bound, s, z, q.Q[i])
						}
						if c.w[i] == 0 && rec[i] != 0 {
							t.Fatalf("element %d: zero reconstructs to %g", i, rec[i])
						}
					}
				}
				st, err := ErrorStats(c.w, q)
				if err != nil {
					t.Fatal(err)
				}
				if st.Violations != 0 {
					t.Errorf("ErrorStats reports %d violations", st.Violations)
				}
				if st.MeanAbsError > st.MaxAbsError {
					t.Errorf("mean error %g > max error %g", st.MeanAbsError, st.MaxAbsError)
				}
			})
		}
	}
}

// TestKnownValues pins exact codes, scales and zero points, including the
// half-to-even rounding rule.
func TestKnownValues(t *testing.T) {
	tests := []struct {
		name  string
		w     []float32
		p     Params
		q     []int8
		scale float32
		zp    int32
	}{
		// scale = 127/127 = 1: 0.5 → 0, 1.5 → 2, -2.5 → -2 (ties to even).
		{"sym int8 ties to even", []float32{127, 0.5, 1.5, -2.5}, Params{Bits: 8, Symmetric: true}, []int8{127, 0, 2, -2}, 1, 0},
		// scale = 7/7 = 1 for int4, clamp range [-7, 7].
		{"sym int4", []float32{7, -7, 3.4, -0.6}, Params{Bits: 4, Symmetric: true}, []int8{7, -7, 3, -1}, 1, 0},
		// [0, 255] → [-128, 127]: scale 1, zero point -128.
		{"asym int8 positive", []float32{0, 255, 100}, Params{Bits: 8}, []int8{-128, 127, -28}, 1, -128},
		// [-15, 0] → [-8, 7]: scale 1, zero point 7.
		{"asym int4 negative", []float32{-15, 0, -7}, Params{Bits: 4}, []int8{-8, 7, 0}, 1, 7},
		{"all zero", []float32{0, 0}, Params{Bits: 8}, []int8{0, 0}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := QuantizeTensor(tc.w, []int{len(tc.w)}, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if q.Scale[0] != tc.scale || q.ZeroPoint[0] != tc.zp {
				t.Errorf("scale, zp = %v, %d; want %v, %d", q.Scale[0], q.ZeroPoint[0], tc.scale, tc.zp)
			}
			for i := range tc.q {
				if q.Q[i] != tc.q[i] {
					t.Errorf("q = %v, want %v", q.Q, tc.q)
					break
				}
			}
		})
	}
}

func TestPerChannelIndependent(t *testing.T) {
	// Channel 1 is 1000× larger; per-channel keeps channel 0's precision.
	w := []float32{0.01, -0.02, 0.03, 10, -20, 30}
	pt, err := QuantizeTensor(w, []int{2, 3}, Params{Bits: 8, Scheme: PerTensor, Symmetric: true})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := QuantizeTensor(w, []int{2, 3}, Params{Bits: 8, Scheme: PerChannel, Symmetric: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Scale) != 2 || pc.Scale[0] != float32(0.03)/127 || pc.Scale[1] != float32(30)/127 {
		t.Fatalf("per-channel scales = %v", pc.Scale)
	}
	a, _ := ErrorStats(w[:3], &Quantized{Q: pt.Q[:3], Shape: []int{3}, Scale: pt.Scale, ZeroPoint: pt.ZeroPoint, Axis: -1, Bits: 8})
	b, _ := ErrorStats(w[:3], &Quantized{Q: pc.Q[:3], Shape: []int{3}, Scale: pc.Scale[:1], ZeroPoint: pc.ZeroPoint[:1], Axis: -1, Bits: 8})
	if !(b.MaxAbsError < a.MaxAbsError/100) {
		t.Errorf("channel 0 error: per-channel %g, per-tensor %g; want ≥100× smaller", b.MaxAbsError, a.MaxAbsError)
	}
}

func TestQuantizeErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	tests := []struct {
		name  string
		w     []float32
		shape []int
		p     Params
		want  string
	}{
		{"nan", []float32{0, 1, nan, 2}, []int{2, 2}, Params{Bits: 8}, "index 2 ([1 0])"},
		{"inf", []float32{inf}, []int{1}, Params{Bits: 4}, "index 0"},
		{"too large", []float32{1, 2e36}, []int{2}, Params{Bits: 8}, "index 1 ([1])"},
		{"bits", []float32{1}, []int{1}, Params{Bits: 3}, "bits = 3"},
		{"scheme", []float32{1}, []int{1}, Params{Bits: 8, Scheme: 7}, "scheme"},
		{"shape mismatch", []float32{1, 2}, []int{3}, Params{Bits: 8}, "3 elements"},
		{"negative dim", nil, []int{-1}, Params{Bits: 8}, "negative"},
		{"overflowing shape", nil, []int{1 << 32, 1 << 32, 1 << 32}, Params{Bits: 8, Scheme: PerChannel}, "overflows"},
		{"huge empty shape", nil, []int{1 << 40, 0}, Params{Bits: 8, Scheme: PerChannel}, "too large"},
		{"many empty channels", nil, []int{1 << 20, 0}, Params{Bits: 8, Scheme: PerChannel}, "channels"},
		{"scalar per-channel", []float32{1}, nil, Params{Bits: 8, Scheme: PerChannel}, "rank"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := QuantizeTensor(tc.w, tc.shape, tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	_, err := QuantizeTensor([]float32{nan}, []int{1}, Params{Bits: 8})
	if !errors.Is(err, ErrNonFinite) {
		t.Errorf("NaN error %v does not wrap ErrNonFinite", err)
	}
}

func TestValidateRejects(t *testing.T) {
	good := func() *Quantized {
		return &Quantized{Q: []int8{1, 2, 3, 4}, Shape: []int{2, 2}, Scale: []float32{1, 2}, ZeroPoint: []int32{0, 0}, Axis: 0, Bits: 8}
	}
	tests := []struct {
		name string
		mod  func(q *Quantized)
		want string
	}{
		{"bits", func(q *Quantized) { q.Bits = 2 }, "bits"},
		{"codes", func(q *Quantized) { q.Q = q.Q[:3] }, "codes"},
		{"axis", func(q *Quantized) { q.Axis = 1 }, "axis"},
		{"scales", func(q *Quantized) { q.Scale = q.Scale[:1] }, "scales"},
		{"zero scale", func(q *Quantized) { q.Scale[1] = 0 }, "scale[1]"},
		{"nan scale", func(q *Quantized) { q.Scale[0] = float32(math.NaN()) }, "scale[0]"},
		{"zp range", func(q *Quantized) { q.ZeroPoint[0] = 200 }, "zero_point[0]"},
		{"int4 code range", func(q *Quantized) { q.Bits = 4; q.Q[3] = 8 }, "code[3]"},
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("valid tensor rejected: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := good()
			tc.mod(q)
			if err := q.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if _, err := Dequantize(q); err == nil {
				t.Error("Dequantize accepted an invalid tensor")
			}
		})
	}
}

func TestSchemeParse(t *testing.T) {
	for _, s := range []Scheme{PerTensor, PerChannel} {
		got, err := ParseScheme(s.String())
		if err != nil || got != s {
			t.Errorf("ParseScheme(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseScheme("per-row"); err == nil {
		t.Error("ParseScheme accepted per-row")
	}
}
