package nn

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// residualArch is a small graph with every kind of edge: the network input
// read by two layers, a layer read by two consumers, a residual Add of three
// inputs, a Concat and a BatchNorm after a conv that is read only by it.
func residualArch() Arch {
	return Arch{Name: "residual", Input: []int{2, 5, 5}, Layers: []LayerSpec{
		{Type: TypeConv2D, Filters: 3, Kernel: 3, Pad: 1},                  // 0: input → conv
		{Type: TypeBatchNorm},                                              // 1
		{Type: TypeReLU},                                                   // 2: read by 3 and 4
		{Type: TypeConv2D, Filters: 3, Kernel: 3, Pad: 1},                  // 3
		{Type: TypeConv2D, Filters: 3, Kernel: 1, Inputs: []int{InputNet}}, // 4: a projection shortcut from the input
		{Type: TypeAdd, Inputs: []int{3, 4, 2}},                            // 5: three-way residual sum
		{Type: TypeConcat, Inputs: []int{5, 2}},                            // 6: [6, 5, 5]
		{Type: TypeMaxPool2D, Kernel: 2},                                   // 7
		{Type: TypeFlatten},                                                // 8
		{Type: TypeDense, Units: 4},                                        // 9
	}}
}

func TestGraphShapes(t *testing.T) {
	shapes, err := residualArch().Shapes()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{{2, 5, 5}, {3, 5, 5}, {3, 5, 5}, {3, 5, 5}, {3, 5, 5}, {3, 5, 5}, {3, 5, 5}, {6, 5, 5}, {6, 2, 2}, {24}, {4}}
	for i := range want {
		if !slices.Equal(shapes[i], want[i]) {
			t.Errorf("shapes[%d] = %v, want %v", i, shapes[i], want[i])
		}
	}
	a := residualArch()
	if a.IsChain() {
		t.Error("IsChain = true for a graph")
	}
	if !MLP([]int{4}, []int{3}, 2).IsChain() {
		t.Error("IsChain = false for an MLP")
	}
	if got := a.Consumers()[2]; !slices.Equal(got, []int{3, 5, 6}) {
		t.Errorf("Consumers()[2] = %v, want [3 5 6]", got)
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Arch
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Layers[5].Inputs, []int{3, 4, 2}) || back.Layers[1].Inputs != nil {
		t.Errorf("JSON round trip lost Inputs: %s", b)
	}
}

func TestGraphValidation(t *testing.T) {
	base := func(edit func(a *Arch)) Arch {
		a := residualArch()
		edit(&a)
		return a
	}
	tests := []struct {
		name string
		arch Arch
		want string
	}{
		{"forward reference", base(func(a *Arch) { a.Layers[3].Inputs = []int{3} }), "layers[3].inputs[0]: 3 is not the network input (-1) or an earlier layer (0..2)"},
		{"below the input", base(func(a *Arch) { a.Layers[3].Inputs = []int{-2} }), "layers[3].inputs[0]: -2"},
		{"add of one", base(func(a *Arch) { a.Layers[5].Inputs = []int{3} }), "layers[5].inputs: add takes two or more inputs, got 1"},
		{"relu of two", base(func(a *Arch) { a.Layers[2].Inputs = []int{0, 1} }), "layers[2].inputs: relu takes one input, got 2"},
		{"add shape mismatch", base(func(a *Arch) { a.Layers[4].Filters = 5 }), "layers[5] (add): input 1 has shape [5 5 5], input 0 has [3 5 5]"},
		{"concat mismatch", base(func(a *Arch) { a.Layers[6].Inputs = []int{5, InputNet, 7} }), "layers[6].inputs[2]: 7 is not"},
		{"concat spatial", base(func(a *Arch) { a.Layers[4].Pad = 1 }), "layers[5] (add): input 1 has shape [3 7 7]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.arch.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestGraphGradients checks a whole graph's Backward — the input gradient,
// where two paths from the input meet, and every parameter gradient —
// against central differences, with the tolerances of the layer checks.
func TestGraphGradients(t *testing.T) {
	net, err := Build(residualArch(), 3)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	x := randTensor(r, 3, 2, 5, 5)
	net.ZeroGrad()
	y, err := net.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	probe := make([]float32, y.Len())
	for i := range probe {
		probe[i] = float32(2*r.Float64() - 1)
	}
	dx, err := net.Backward(newTensor(slices.Clone(probe), y.Shape()...))
	if err != nil {
		t.Fatal(err)
	}
	f := func() float64 {
		y, err := net.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		return probeLoss(y, probe)
	}
	compareGrad(t, "input", x.Float32s(), dx.Float32s(), f)
	for _, p := range net.Params() {
		if p.Grad != nil {
			compareGrad(t, p.Name, p.Value.Float32s(), p.Grad.Float32s(), f)
		}
	}

	// AccumulateGrads gives the same parameter gradients without the input's.
	want := map[string][]float32{}
	for _, p := range net.Params() {
		if p.Grad != nil {
			want[p.Name] = slices.Clone(p.Grad.Float32s())
		}
	}
	net.ZeroGrad()
	if _, err := net.Forward(x, true); err != nil {
		t.Fatal(err)
	}
	if err := net.AccumulateGrads(newTensor(slices.Clone(probe), y.Shape()...)); err != nil {
		t.Fatal(err)
	}
	for _, p := range net.Params() {
		if w, ok := want[p.Name]; ok && !slices.Equal(w, p.Grad.Float32s()) {
			t.Errorf("%s: AccumulateGrads differs from Backward", p.Name)
		}
	}
}

func TestMergeGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name  string
		layer Merger
		xs    []*tensor.Dense
	}{
		{"add", &Add{}, []*tensor.Dense{randTensor(r, 2, 3, 2, 2), randTensor(r, 2, 3, 2, 2)}},
		{"concat 4d", &Concat{}, []*tensor.Dense{randTensor(r, 2, 1, 3, 2), randTensor(r, 2, 3, 3, 2), randTensor(r, 2, 2, 3, 2)}},
		{"concat 2d", &Concat{}, []*tensor.Dense{randTensor(r, 3, 4), randTensor(r, 3, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y, back, err := tc.layer.Merge(tc.xs, Pass{Train: true})
			if err != nil {
				t.Fatal(err)
			}
			probe := make([]float32, y.Len())
			for i := range probe {
				probe[i] = float32(2*r.Float64() - 1)
			}
			dxs, err := back(newTensor(slices.Clone(probe), y.Shape()...))
			if err != nil {
				t.Fatal(err)
			}
			for k, x := range tc.xs {
				vals := x.Float32s()
				for i := range vals {
					old := vals[i]
					vals[i] = old + gradH
					yp, _, _ := tc.layer.Merge(tc.xs, Pass{})
					vals[i] = old - gradH
					ym, _, _ := tc.layer.Merge(tc.xs, Pass{})
					vals[i] = old
					num := (probeLoss(yp, probe) - probeLoss(ym, probe)) / (2 * gradH)
					if ana := float64(dxs[k].Float32s()[i]); math.Abs(num-ana) > gradAbsTol+gradRelTol*math.Abs(ana) {
						t.Fatalf("input %d [%d]: analytic %.6f, numeric %.6f", k, i, ana, num)
					}
				}
			}
		})
	}
	if _, _, err := (&Add{}).Merge([]*tensor.Dense{randTensor(r, 2, 3), randTensor(r, 2, 4)}, Pass{}); err == nil {
		t.Error("add of [2 3] and [2 4]: no error")
	}
	if _, _, err := (&Concat{}).Merge([]*tensor.Dense{randTensor(r, 2, 3, 2), randTensor(r, 2, 3, 3)}, Pass{}); err == nil {
		t.Error("concat of [2 3 2] and [2 3 3]: no error")
	}
}

// TestGraphFoldBatchNorm checks that folding a graph's BatchNorm into its conv
// keeps the inference output and renumbers every reader of later layers.
func TestGraphFoldBatchNorm(t *testing.T) {
	net, err := Build(residualArch(), 8)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(8, 9))
	randomBatchNorms(net, r)
	x := randTensor(r, 4, 2, 5, 5)
	want, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	folded, err := net.FoldBatchNorm()
	if err != nil {
		t.Fatal(err)
	}
	a := folded.Arch()
	if len(a.Layers) != 9 {
		t.Fatalf("folded arch has %d layers, want 9", len(a.Layers))
	}
	if got := a.Layers[4].Inputs; !slices.Equal(got, []int{2, 3, 1}) {
		t.Errorf("folded add reads %v, want [2 3 1]", got)
	}
	if got := a.Layers[3].Inputs; !slices.Equal(got, []int{InputNet}) {
		t.Errorf("folded shortcut reads %v, want [-1]", got)
	}
	checkFoldedOutputs(t, folded, x, want)
}

// TestGraphTrains trains the residual graph on a separable synthetic task and
// checks the loss falls.
func TestGraphTrains(t *testing.T) {
	net, err := Build(residualArch(), 11)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	const n = 64
	xs := make([]float32, n*50)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 4
		for j := range 50 {
			xs[i*50+j] = float32(r.NormFloat64()*0.3) + float32(labels[i]%2)*float32(j%2) + float32(labels[i]/2)*float32((j/5)%2)
		}
	}
	x := newTensor(xs, n, 2, 5, 5)
	opt := &SGD{LearningRate: 0.05, Momentum: 0.9}
	var first, last float64
	for step := range 60 {
		net.ZeroGrad()
		y, err := net.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		loss, dy, err := SoftmaxCrossEntropy(y, labels)
		if err != nil {
			t.Fatal(err)
		}
		if err := net.AccumulateGrads(dy); err != nil {
			t.Fatal(err)
		}
		opt.Step(net.Params())
		if step == 0 {
			first = loss
		}
		last = loss
	}
	if !(last < first/4) {
		t.Errorf("loss %.4f → %.4f after 60 steps, want a fourfold drop", first, last)
	}
}

// TestGraphDeadBranch checks that a layer nobody reads is computed, gets no
// gradient and leaves the rest of the pass intact.
func TestGraphDeadBranch(t *testing.T) {
	a := Arch{Input: []int{3}, Layers: []LayerSpec{
		{Type: TypeDense, Units: 2},                          // 0: dead
		{Type: TypeDense, Units: 2, Inputs: []int{InputNet}}, // 1: the output
	}}
	net, err := Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := newTensor([]float32{1, 2, 3}, 1, 3)
	y, err := net.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.Backward(newTensor([]float32{1, 1}, 1, 2)); err != nil {
		t.Fatal(err)
	}
	dead, _ := net.Param("layers.0.weight")
	live, _ := net.Param("layers.1.weight")
	if slices.ContainsFunc(dead.Grad.Float32s(), func(v float32) bool { return v != 0 }) {
		t.Error("the dead branch got a gradient")
	}
	if !slices.Equal(live.Grad.Float32s(), []float32{1, 2, 3, 1, 2, 3}) {
		t.Errorf("live gradient %v, want x per output", live.Grad.Float32s())
	}
	if y.Len() != 2 {
		t.Errorf("output %v", y.Shape())
	}
}

func TestSummaryMACs(t *testing.T) {
	a, err := ArchByName("lenet-5")
	if err != nil {
		t.Fatal(err)
	}
	net, err := Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	// conv 20·24·24·1·25, conv 50·8·8·20·25, dense 800·500 and 500·10.
	if got, want := net.MACs(), int64(288_000+1_600_000+400_000+5_000); got != want {
		t.Errorf("LeNet-5 MACs = %d, want %d", got, want)
	}
	dw, err := Build(Arch{Input: []int{8, 6, 6}, Layers: []LayerSpec{
		{Type: TypeConv2D, Filters: 8, Kernel: 3, Pad: 1, Groups: 8},
		{Type: TypeConv2D, Filters: 4, Kernel: 1, Inputs: []int{0}},
	}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := dw.Summary()
	if s[0].MACs != 8*6*6*9 || s[0].Params != 8*9+8 || s[0].Detail != "8→8 3×3 s1 p1 g8" {
		t.Errorf("depthwise summary %+v", s[0])
	}
	if s[1].MACs != 4*6*6*8 || !slices.Equal(s[1].Inputs, []int{0}) || !slices.Equal(s[1].Output, []int{4, 6, 6}) {
		t.Errorf("pointwise summary %+v", s[1])
	}
}
