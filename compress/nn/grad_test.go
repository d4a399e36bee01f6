package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/tensor"
)

// Gradient checks compare each layer's Backward with central differences
// (f(v+h) − f(v−h))/2h, h = 1e-3, of the probe loss f = Σ y·r for a fixed
// random r, where the sum is taken in float64 over the float32 outputs.
// Float32 rounding of f (≈1e-6) divided by 2h bounds the numerical error
// near 5e-4, so an entry passes when |numeric − analytic| ≤ 3e-3 + 1e-2·|analytic|.
const (
	gradH      = 1e-3
	gradAbsTol = 3e-3
	gradRelTol = 1e-2
)

// probeLoss returns Σ y·r in float64.
func probeLoss(y *tensor.Dense, r []float32) float64 {
	var s float64
	for i, v := range y.Float32s() {
		s += float64(v) * float64(r[i])
	}
	return s
}

// randTensor returns a tensor with values uniform in [-1, 1) whose
// magnitudes are at least 0.05, away from ReLU's kink, and pairwise distinct
// so max pooling has a unique winner under a perturbation of h.
func randTensor(r *rand.Rand, shape ...int) *tensor.Dense {
	n := prod(shape)
	perm := r.Perm(n)
	s := make([]float32, n)
	for i := range s {
		v := 0.05 + 0.95*float64(perm[i])/float64(n)
		if r.IntN(2) == 0 {
			v = -v
		}
		s[i] = float32(v)
	}
	return newTensor(s, shape...)
}

// compareGrad compares the analytic gradient of f with respect to vals
// with central differences, entry by entry, reporting the first mismatch.
func compareGrad(t *testing.T, what string, vals, analytic []float32, f func() float64) {
	t.Helper()
	for i := range vals {
		old := vals[i]
		vals[i] = old + gradH
		fp := f()
		vals[i] = old - gradH
		fm := f()
		vals[i] = old
		num := (fp - fm) / (2 * gradH)
		ana := float64(analytic[i])
		if math.Abs(num-ana) > gradAbsTol+gradRelTol*math.Abs(ana) {
			t.Errorf("%s[%d]: analytic %.6f, numeric %.6f", what, i, ana, num)
			return
		}
	}
}

// checkLayerGrad runs the gradient check for layer l on input x. pass
// returns the Pass for each forward (fresh, so dropout masks repeat).
func checkLayerGrad(t *testing.T, l Layer, x *tensor.Dense, pass func() Pass) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	for _, p := range l.Params() {
		if p.Grad != nil {
			clear(p.Grad.Float32s())
		}
	}
	y, back, err := l.Forward(x, pass())
	if err != nil {
		t.Fatal(err)
	}
	probe := make([]float32, y.Len())
	for i := range probe {
		probe[i] = float32(2*r.Float64() - 1)
	}
	dx, err := back(newTensor(append([]float32(nil), probe...), y.Shape()...), true)
	if err != nil {
		t.Fatal(err)
	}
	f := func() float64 {
		y, _, err := l.Forward(x, pass())
		if err != nil {
			t.Fatal(err)
		}
		return probeLoss(y, probe)
	}
	compareGrad(t, "input", x.Float32s(), dx.Float32s(), f)
	for _, p := range l.Params() {
		if p.Grad != nil {
			compareGrad(t, p.Name, p.Value.Float32s(), p.Grad.Float32s(), f)
		}
	}
}

func TestLayerGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	train := func() Pass { return Pass{Train: true} }
	bn4 := NewBatchNorm(3, 0, 0)
	bn2 := NewBatchNorm(5, 0, 0)
	for _, b := range []*BatchNorm{bn4, bn2} {
		uniform(r, b.Gamma.Float32s(), 1.5)
		uniform(r, b.Beta.Float32s(), 0.5)
	}
	tests := []struct {
		name  string
		layer Layer
		x     *tensor.Dense
		pass  func() Pass
	}{
		{"dense", NewDense(6, 4, r), randTensor(r, 3, 6), train},
		{"conv2d 3x3 s1 p1", NewConv2D(2, 3, 3, 1, 1, r), randTensor(r, 2, 2, 5, 5), train},
		{"conv2d 3x3 s2 p0", NewConv2D(2, 2, 3, 2, 0, r), randTensor(r, 2, 2, 7, 6), train},
		{"conv2d one image", NewConv2D(2, 3, 3, 1, 2, r), randTensor(r, 1, 2, 4, 5), train},
		{"conv2d many images", NewConv2D(1, 2, 2, 1, 0, r), randTensor(r, convChunk+3, 1, 3, 3), train},
		// At least convWide output pixels: the per-image backward path.
		{"conv2d wide", NewConv2D(2, 2, 3, 1, 1, r), randTensor(r, 2, 2, 12, 12), train},
		{"conv2d wide pointwise", NewConv2D(3, 2, 1, 1, 0, r), randTensor(r, convChunk+1, 3, 12, 12), train},
		{"conv2d wide grouped", newConv2D(4, LayerSpec{Type: TypeConv2D, Filters: 6, Kernel: 3, Pad: 1, Groups: 2}, r), randTensor(r, 2, 4, 12, 12), train},
		{"conv2d wide dilated asymmetric", newConv2D(2, LayerSpec{Type: TypeConv2D, Filters: 3, Kernel: 3, Dilation: 2, Pads: Pads{2, 0, 1, 2}}, r), randTensor(r, 2, 2, 14, 14), train},
		{"conv2d wide pointwise grouped", newConv2D(4, LayerSpec{Type: TypeConv2D, Filters: 2, Kernel: 1, Groups: 2}, r), randTensor(r, 1, 4, 12, 12), train},
		{"relu", &ReLU{}, randTensor(r, 2, 7), train},
		{"maxpool2d", &MaxPool2D{Kernel: 2, Stride: 2}, randTensor(r, 2, 3, 4, 4), train},
		{"maxpool2d overlapping", &MaxPool2D{Kernel: 3, Stride: 1}, randTensor(r, 1, 2, 5, 5), train},
		{"avgpool2d", &AvgPool2D{Kernel: 2, Stride: 2}, randTensor(r, 2, 3, 4, 4), train},
		{"flatten", &Flatten{}, randTensor(r, 2, 2, 3, 3), train},
		{"batchnorm 4d", bn4, randTensor(r, 4, 3, 2, 3), train},
		{"batchnorm 2d", bn2, randTensor(r, 6, 5), train},
		{"dropout", &Dropout{Rate: 0.4}, randTensor(r, 3, 8), func() Pass {
			return Pass{Train: true, Rand: rand.New(rand.NewPCG(3, 3))}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkLayerGrad(t, tc.layer, tc.x, tc.pass)
		})
	}
}

func TestSoftmaxCrossEntropyGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	logits := randTensor(r, 4, 5)
	for i, v := range logits.Float32s() {
		logits.Float32s()[i] = 3 * v
	}
	labels := []int{0, 4, 2, 2}
	_, grad, err := SoftmaxCrossEntropy(logits, labels)
	if err != nil {
		t.Fatal(err)
	}
	vals := logits.Float32s()
	for i := range vals {
		old := vals[i]
		vals[i] = old + gradH
		lp, _, _ := SoftmaxCrossEntropy(logits, labels)
		vals[i] = old - gradH
		lm, _, _ := SoftmaxCrossEntropy(logits, labels)
		vals[i] = old
		num, ana := (lp-lm)/(2*gradH), float64(grad.Float32s()[i])
		if math.Abs(num-ana) > 1e-4+1e-3*math.Abs(ana) {
			t.Errorf("logit %d: analytic %.6f numeric %.6f", i, ana, num)
		}
	}
}

func TestSoftmaxCrossEntropyStable(t *testing.T) {
	logits := newTensor([]float32{1000, 0, -1000, 50, 50, 50}, 2, 3)
	loss, grad, err := SoftmaxCrossEntropy(logits, []int{1, 0})
	if err != nil {
		t.Fatal(err)
	}
	want := (1000 + math.Log(3)) / 2
	if math.Abs(loss-want) > 1e-6*want {
		t.Fatalf("loss %v, want %v", loss, want)
	}
	for _, g := range grad.Float32s() {
		if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
			t.Fatalf("gradient %v not finite", grad.Float32s())
		}
	}
	if _, _, err := SoftmaxCrossEntropy(logits, []int{1, 3}); err == nil {
		t.Fatal("label 3 of 3 classes accepted")
	}
	if _, _, err := SoftmaxCrossEntropy(logits, []int{1}); err == nil {
		t.Fatal("1 label for 2 rows accepted")
	}
}

// TestNetworkGradient checks the composed tape of a small CNN end to end,
// with the loss included.
func TestNetworkGradient(t *testing.T) {
	a := Arch{Input: []int{2, 6, 6}, Layers: []LayerSpec{
		{Type: TypeConv2D, Filters: 3, Kernel: 3, Pad: 1},
		{Type: TypeBatchNorm},
		{Type: TypeReLU},
		{Type: TypeMaxPool2D, Kernel: 2},
		{Type: TypeAvgPool2D, Kernel: 3},
		{Type: TypeFlatten},
		{Type: TypeDense, Units: 4},
	}}
	net, err := Build(a, 5)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	x := randTensor(r, 3, 2, 6, 6)
	labels := []int{1, 3, 0}
	loss := func() float64 {
		y, err := net.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		l, _, err := SoftmaxCrossEntropy(y, labels)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	net.ZeroGrad()
	y, err := net.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := SoftmaxCrossEntropy(y, labels)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.Backward(g); err != nil {
		t.Fatal(err)
	}
	for _, p := range net.Params() {
		if p.Grad == nil {
			continue
		}
		vals, grads := p.Value.Float32s(), p.Grad.Float32s()
		for i := range vals {
			old := vals[i]
			vals[i] = old + gradH
			lp := loss()
			vals[i] = old - gradH
			lm := loss()
			vals[i] = old
			num, ana := (lp-lm)/(2*gradH), float64(grads[i])
			if math.Abs(num-ana) > 1e-3+1e-2*math.Abs(ana) {
				t.Errorf("%s[%d]: analytic %.6f numeric %.6f", p.Name, i, ana, num)
				break
			}
		}
	}
}

// TestAccumulateGrads checks that skipping the input gradient of the first
// parameterized layer leaves every parameter gradient unchanged.
func TestAccumulateGrads(t *testing.T) {
	for _, a := range []Arch{
		MLP([]int{1, 4, 4}, []int{5}, 3),
		CNN(CNNConfig{Input: []int{1, 6, 6}, Filters: []int{2, 3}, Hidden: []int{4}, Classes: 3}),
	} {
		net, err := Build(a, 1)
		if err != nil {
			t.Fatal(err)
		}
		x := randTensor(rand.New(rand.NewPCG(2, 2)), convChunk+2, a.Input[0], a.Input[1], a.Input[2])
		labels := make([]int, convChunk+2)
		grads := func(full bool) [][]float32 {
			net.ZeroGrad()
			y, err := net.Forward(x, true)
			if err != nil {
				t.Fatal(err)
			}
			_, g, _ := SoftmaxCrossEntropy(y, labels)
			if full {
				dx, err := net.Backward(g)
				if err != nil || !slices.Equal(dx.Shape(), x.Shape()) {
					t.Fatalf("Backward: dx %v, err %v", dx, err)
				}
			} else if err := net.AccumulateGrads(g); err != nil {
				t.Fatal(err)
			}
			var out [][]float32
			for _, p := range net.Params() {
				out = append(out, slices.Clone(p.Grad.Float32s()))
			}
			return out
		}
		full, part := grads(true), grads(false)
		for i := range full {
			if !slices.Equal(full[i], part[i]) {
				t.Errorf("%s: gradient %d differs between Backward and AccumulateGrads", a.Name, i)
			}
		}
	}
}
