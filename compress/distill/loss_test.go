package distill

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

func randTensor(r *rand.Rand, scale float64, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * scale)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(s))
}

// numGrad checks an analytic gradient against central differences of f,
// with step h on each element of x. The tolerance is
// |num − ana| ≤ atol + rtol·|num|.
func numGrad(t *testing.T, x *tensor.Dense, grad *tensor.Dense, f func() float64, h, atol, rtol float64) {
	t.Helper()
	xs, gs := x.Float32s(), grad.Float32s()
	for i := range xs {
		orig := xs[i]
		xs[i] = orig + float32(h)
		up := float64(xs[i])
		fp := f()
		xs[i] = orig - float32(h)
		down := float64(xs[i])
		fm := f()
		xs[i] = orig
		num := (fp - fm) / (up - down)
		if d := math.Abs(num - float64(gs[i])); d > atol+rtol*math.Abs(num) {
			t.Fatalf("element %d: numerical %.6g, analytic %.6g (diff %.3g)", i, num, gs[i], d)
		}
	}
}

// TestLossGradient compares Loss's gradient with central differences
// (step 1e-2 on float32 logits, loss summed in float64; tolerance 1e-4
// absolute + 1e-3 relative) over temperatures and weights.
func TestLossGradient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		T, alpha float64
		scale    float64
	}{
		{"T1-alpha0.5", 1, 0.5, 1},
		{"T4-alpha0.9", 4, 0.9, 3},
		{"T20-alpha1", 20, 1, 10},
		{"T2-alpha0", 2, 0, 2},
		{"T0.5-alpha0.3", 0.5, 0.3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			s, v := randTensor(r, tc.scale, 5, 7), randTensor(r, tc.scale, 5, 7)
			labels := []int{0, 6, 3, 3, 1}
			_, g, err := Loss(s, v, labels, tc.T, tc.alpha)
			if err != nil {
				t.Fatal(err)
			}
			numGrad(t, s, g, func() float64 {
				l, _, err := Loss(s, v, labels, tc.T, tc.alpha)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}, 1e-2, 1e-4, 1e-3)
		})
	}
}

// TestLossValues checks closed forms: alpha 0 is plain cross-entropy; the
// soft term is zero when student and teacher logits agree; the soft term
// equals T²·KL computed directly for a two-class example.
func TestLossValues(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s, v := randTensor(r, 2, 4, 5), randTensor(r, 2, 4, 5)
	labels := []int{1, 2, 3, 4}
	ce, _, err := nn.SoftmaxCrossEntropy(s, labels)
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := Loss(s, v, labels, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(l-ce) > 1e-12 {
		t.Errorf("alpha 0: loss %v, cross-entropy %v", l, ce)
	}
	l, g, err := Loss(s, s, labels, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(l) > 1e-12 {
		t.Errorf("identical logits: soft loss %v, want 0", l)
	}
	for i, x := range g.Float32s() {
		if math.Abs(float64(x)) > 1e-7 {
			t.Fatalf("identical logits: gradient[%d] = %v, want 0", i, x)
		}
	}
	// Two classes, T = 2: teacher logits (0, 2) → p = softmax(0, 1);
	// student logits (0, 0) → q = (½, ½).
	st := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float32{0, 0}))
	te := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float32{0, 2}))
	p1 := math.E / (1 + math.E)
	p0 := 1 - p1
	kl := p0*math.Log(p0/0.5) + p1*math.Log(p1/0.5)
	l, g, err = Loss(st, te, []int{1}, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := 4 * kl; math.Abs(l-want) > 1e-12 {
		t.Errorf("two-class soft loss %v, want T²·KL = %v", l, want)
	}
	if want := 2 * (0.5 - p1); math.Abs(float64(g.Float32s()[1])-want) > 1e-7 {
		t.Errorf("two-class gradient %v, want T·(q−p) = %v", g.Float32s()[1], want)
	}
}

// TestLossRejects checks argument validation.
func TestLossRejects(t *testing.T) {
	a := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float32, 6)))
	b := tensor.New(tensor.WithShape(3, 2), tensor.WithBacking(make([]float32, 6)))
	for _, tc := range []struct {
		name     string
		s, v     *tensor.Dense
		T, alpha float64
		labels   []int
	}{
		{"shape", a, b, 1, 0.5, []int{0, 1}},
		{"temperature", a, a, 0, 0.5, []int{0, 1}},
		{"alpha", a, a, 1, 1.5, []int{0, 1}},
		{"label", a, a, 1, 0.5, []int{0, 3}},
		{"labels count", a, a, 1, 0.5, []int{0}},
	} {
		if _, _, err := Loss(tc.s, tc.v, tc.labels, tc.T, tc.alpha); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, _, err := HintLoss(a, b); err == nil {
		t.Error("hint loss with different shapes: no error")
	}
}

// TestHintLossGradient checks HintLoss's gradient by central differences
// (step 1e-2, tolerance 1e-4 absolute + 1e-3 relative; the loss is
// quadratic, so central differences are exact up to rounding).
func TestHintLossGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s, v := randTensor(r, 1, 3, 2, 4, 4), randTensor(r, 1, 3, 2, 4, 4)
	_, g, err := HintLoss(s, v)
	if err != nil {
		t.Fatal(err)
	}
	numGrad(t, s, g, func() float64 {
		l, _, err := HintLoss(s, v)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}, 1e-2, 1e-4, 1e-3)
}
