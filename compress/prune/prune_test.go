package prune

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/sparse"
)

// synthetic returns n 1×8×8 images whose class (of 4) is the quadrant with
// the largest sum, plus noise: learnable in a few hundred steps.
func synthetic(n int, seed uint64) *data.Dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	d := &data.Dataset{Name: "synthetic", N: n, C: 1, H: 8, W: 8, Classes: 4, Images: make([]float32, n*64), Labels: make([]int, n)}
	for i := range n {
		c := r.IntN(4)
		d.Labels[i] = c
		for y := range 8 {
			for x := range 8 {
				v := r.Float32() * 0.5
				if (y/4)*2+x/4 == c {
					v += 0.5
				}
				d.Images[i*64+y*8+x] = v
			}
		}
	}
	return d
}

func cnnArch() nn.Arch {
	return nn.Arch{Name: "tiny-cnn", Input: []int{1, 8, 8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 6, Kernel: 3, Pad: 1},
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeReLU},
		{Type: nn.TypeMaxPool2D, Kernel: 2},
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3},
		{Type: nn.TypeReLU},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 12},
		{Type: nn.TypeReLU},
		{Type: nn.TypeDense, Units: 4},
	}}
}

func build(t *testing.T, a nn.Arch) *nn.Network {
	t.Helper()
	net, err := nn.Build(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

func zeros(t *testing.T, net *nn.Network, name string) int {
	t.Helper()
	p, _ := net.Param(name)
	z := 0
	for _, v := range p.Value.Float32s() {
		if v == 0 {
			z++
		}
	}
	return z
}

// TestMasksStayZero prunes with each unstructured method, trains a few
// hundred SGD and Adam steps, and requires every masked weight to be
// exactly zero afterwards with the zero count unchanged.
func TestMasksStayZero(t *testing.T) {
	train := synthetic(512, 1)
	for _, c := range []struct {
		name  string
		prune func(*nn.Network) error
		opt   string
	}{
		{"global", func(n *nn.Network) error { return Global(n, 0.7) }, nn.OptimizerSGD},
		{"layer", func(n *nn.Network) error { return UniformPruner(n, 0.5) }, nn.OptimizerAdam},
		{"nm", func(n *nn.Network) error { return NM(n, 2, 4) }, nn.OptimizerSGD},
	} {
		t.Run(c.name, func(t *testing.T) {
			net := build(t, cnnArch())
			if err := c.prune(net); err != nil {
				t.Fatal(err)
			}
			before := map[string]int{}
			for _, w := range Weights(net) {
				before[w] = zeros(t, net, w)
				if before[w] == 0 {
					t.Fatalf("%s: nothing pruned", w)
				}
			}
			if _, err := nn.Train(context.Background(), net, train, nn.TrainConfig{Epochs: 3, BatchSize: 16, Optimizer: c.opt, LR: 0.05, Seed: 1}, nil); err != nil {
				t.Fatal(err)
			}
			for _, w := range Weights(net) {
				p, _ := net.Param(w)
				m := p.Mask.Float32s()
				for i, v := range p.Value.Float32s() {
					if m[i] == 0 && v != 0 {
						t.Fatalf("%s[%d] = %g after training, masked", w, i, v)
					}
				}
				if z := zeros(t, net, w); z != before[w] {
					t.Errorf("%s: %d zeros after training, %d before", w, z, before[w])
				}
			}
		})
	}
}

// TestMagnitudeCounts checks that per-layer pruning zeroes exactly
// round(s·n) entries, the smallest in magnitude, and that global pruning
// reaches its overall target with one threshold.
func TestMagnitudeCounts(t *testing.T) {
	net := build(t, nn.MLP([]int{20}, []int{30}, 5))
	ws := Weights(net)
	if err := Magnitude(net, map[string]float64{ws[0]: 0.3, ws[1]: 0.9}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{ws[0]: 180, ws[1]: 135} {
		if z := zeros(t, net, name); z != want {
			t.Errorf("%s: %d zeros, want %d", name, z, want)
		}
	}
	net = build(t, nn.MLP([]int{20}, []int{30}, 5))
	orig := net.Clone()
	if err := Global(net, 0.8); err != nil {
		t.Fatal(err)
	}
	st := Count(net)
	if got := st.Weights - st.NonzeroWeights; got != 600 {
		t.Fatalf("global: %d zeros, want 600 of 750", got)
	}
	// One threshold: every kept |w| ≥ every pruned |w|.
	minKept, maxPruned := math.Inf(1), 0.0
	for _, w := range ws {
		p, _ := net.Param(w)
		o, _ := orig.Param(w)
		for i, v := range p.Value.Float32s() {
			a := math.Abs(float64(o.Value.Float32s()[i]))
			if v != 0 {
				minKept = math.Min(minKept, a)
			} else {
				maxPruned = math.Max(maxPruned, a)
			}
		}
	}
	if minKept < maxPruned {
		t.Fatalf("global: kept |w| %g below pruned %g", minKept, maxPruned)
	}
	if err := Global(net, 1); err == nil {
		t.Fatal("sparsity 1 accepted")
	}
}

// TestNMPattern checks that NM(2,4) leaves at most 2 nonzeros in every
// group of 4 along each row, so the weights pack into sparse.NM24.
func TestNMPattern(t *testing.T) {
	net := build(t, nn.MLP([]int{22}, []int{16}, 3))
	if err := NM(net, 2, 4); err != nil {
		t.Fatal(err)
	}
	for _, l := range net.Layers() {
		d, ok := l.(*nn.Dense)
		if !ok {
			continue
		}
		w := d.W.Float32s()
		if _, err := sparse.FromDenseNM24(w, d.Out, d.In, d.In); err != nil {
			t.Fatalf("dense %d×%d not 2:4 after NM: %v", d.Out, d.In, err)
		}
		nz := 0
		for _, v := range w {
			if v != 0 {
				nz++
			}
		}
		groups := d.Out * ((d.In + 3) / 4)
		if nz != 2*groups {
			t.Errorf("dense %d×%d: %d nonzeros, want 2 per group = %d", d.Out, d.In, nz, 2*groups)
		}
	}
}

// TestStructuredEquivalence removes units and checks the smaller network
// computes what the original computes when the removed units' outgoing
// weights are zeroed (tolerance 1e-5 absolute on logits), and that the
// architecture and parameter count shrink as expected.
func TestStructuredEquivalence(t *testing.T) {
	net := build(t, cnnArch())
	if _, err := nn.Train(context.Background(), net, synthetic(256, 2), nn.TrainConfig{Epochs: 1, BatchSize: 16, Seed: 2}, nil); err != nil {
		t.Fatal(err)
	}
	remove := map[int]float64{0: 0.5, 4: 0.5, 7: 0.25}
	small, err := Structured(net, remove, NormL2)
	if err != nil {
		t.Fatal(err)
	}
	a := small.Arch()
	if a.Layers[0].Filters != 3 || a.Layers[4].Filters != 4 || a.Layers[7].Units != 9 {
		t.Fatalf("shrunk arch %+v", a.Layers)
	}
	// Reference: zero the inputs that the removed units feed.
	ref := net.Clone()
	ls := ref.Layers()
	kept := func(layer int) map[int]bool {
		norms, _ := UnitNorms(net, layer, NormL2)
		k := map[int]bool{}
		// the kept set is the len−round(f·n) largest norms
		n := len(norms) - int(math.Round(remove[layer]*float64(len(norms))))
		for range n {
			best := -1
			for i := range norms {
				if !k[i] && (best < 0 || norms[i] > norms[best]) {
					best = i
				}
			}
			k[best] = true
		}
		return k
	}
	k0, k4, k7 := kept(0), kept(4), kept(7)
	c4 := ls[4].(*nn.Conv2D)
	w4 := c4.W.Float32s()
	for o := range c4.OutC {
		for c := range c4.InC {
			if !k0[c] {
				clear(w4[(o*c4.InC+c)*9 : (o*c4.InC+c+1)*9])
			}
		}
	}
	d7 := ls[7].(*nn.Dense)
	w7 := d7.W.Float32s()
	hw := d7.In / c4.OutC
	for o := range d7.Out {
		for f := range d7.In {
			if !k4[f/hw] {
				w7[o*d7.In+f] = 0
			}
		}
	}
	d9 := ls[9].(*nn.Dense)
	for o := range d9.Out {
		for f := range d9.In {
			if !k7[f] {
				d9.W.Float32s()[o*d9.In+f] = 0
			}
		}
	}
	test := synthetic(32, 9)
	idx := make([]int, 32)
	for i := range idx {
		idx[i] = i
	}
	x, _ := test.Batch(idx)
	want, err := ref.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := small.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range want.Float32s() {
		if d := math.Abs(float64(v - got.Float32s()[i])); d > 1e-5 {
			t.Fatalf("logit %d: %g, want %g", i, got.Float32s()[i], v)
		}
	}
	if small.NumParams() >= net.NumParams() {
		t.Fatalf("params %d, not below %d", small.NumParams(), net.NumParams())
	}
	if _, err := Structured(net, map[int]float64{9: 0.5}, ""); err == nil {
		t.Fatal("pruning the output layer accepted")
	}
}

// TestAGPSparsity checks the cubic schedule at its ends and midpoint.
func TestAGPSparsity(t *testing.T) {
	for _, c := range []struct {
		t    int
		want float64
	}{{0, 0.1}, {10, 0.1}, {60, 0.9 + (0.1-0.9)*0.125}, {110, 0.9}, {500, 0.9}} {
		if got := AGPSparsity(c.t, 10, 10, 10, 0.1, 0.9); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("AGPSparsity(%d) = %v, want %v", c.t, got, c.want)
		}
	}
}

// TestTrainAGP checks that gradual pruning during training ends at the
// final sparsity with masks in place.
func TestTrainAGP(t *testing.T) {
	net := build(t, nn.MLP([]int{1, 8, 8}, []int{32}, 4))
	_, err := TrainAGP(context.Background(), net, synthetic(512, 3), nn.TrainConfig{Epochs: 2, BatchSize: 32, LR: 0.05, Seed: 1},
		AGP{Final: 0.8, Start: 2, Every: 3, Steps: 6}, GlobalPruner)
	if err != nil {
		t.Fatal(err)
	}
	st := Count(net)
	if got := 1 - float64(st.NonzeroWeights)/float64(st.Weights); math.Abs(got-0.8) > 0.002 {
		t.Fatalf("sparsity %.4f after AGP, want 0.8", got)
	}
}

// TestChoose builds curves where one layer is robust and one fragile and
// checks the chooser prunes the robust one harder and meets the target.
func TestChoose(t *testing.T) {
	curves := map[string][]Point{
		"robust":  {{0, 0.99}, {0.5, 0.99}, {0.9, 0.985}, {0.95, 0.9}},
		"fragile": {{0, 0.99}, {0.5, 0.97}, {0.9, 0.5}, {0.95, 0.2}},
	}
	sizes := map[string]int{"robust": 900, "fragile": 100}
	m, err := Choose(curves, sizes, 0.99, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	got := (m["robust"]*900 + m["fragile"]*100) / 1000
	if got < 0.8-1e-9 || got > 0.85 {
		t.Fatalf("overall sparsity %.4f, want ≥ 0.8 and close", got)
	}
	if m["robust"] <= m["fragile"] {
		t.Fatalf("robust %.3f ≤ fragile %.3f", m["robust"], m["fragile"])
	}
	if _, err := Choose(curves, sizes, 0.99, 0.99); err == nil {
		t.Fatal("unreachable target accepted")
	}
}

// TestSensitivityPure checks Sensitivity does not change the network.
func TestSensitivityPure(t *testing.T) {
	net := build(t, nn.MLP([]int{1, 8, 8}, []int{16}, 4))
	w := Weights(net)[0]
	p, _ := net.Param(w)
	before := append([]float32(nil), p.Value.Float32s()...)
	pt, err := Sensitivity(context.Background(), net, w, 0.9, synthetic(64, 4))
	if err != nil {
		t.Fatal(err)
	}
	if pt.Sparsity != 0.9 || pt.Accuracy < 0 || pt.Accuracy > 1 {
		t.Fatalf("point %+v", pt)
	}
	for i, v := range p.Value.Float32s() {
		if v != before[i] {
			t.Fatal("Sensitivity changed the network")
		}
	}
}

// TestRun runs each method and schedule on synthetic data and checks the
// result's counts and sparsities.
func TestRun(t *testing.T) {
	train, test := synthetic(512, 5), synthetic(128, 6)
	net := build(t, cnnArch())
	if _, err := nn.Train(context.Background(), net, train, nn.TrainConfig{Epochs: 2, BatchSize: 16, LR: 0.05, Seed: 1}, nil); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{
		{Method: MethodGlobal, Sparsity: 0.7, Schedule: ScheduleOneShot, FineTuneEpochs: 1},
		{Method: MethodLayer, Sparsity: 0.6, Schedule: ScheduleIterative, Steps: 2, FineTuneEpochs: 1},
		{Method: MethodGlobal, Sparsity: 0.8, Schedule: ScheduleAGP, Steps: 5, FineTuneEpochs: 2},
		{Method: MethodNM, FineTuneEpochs: 1},
		{Method: MethodStructured, Sparsity: 0.5, FineTuneEpochs: 1},
	} {
		t.Run(o.Method+"/"+o.Schedule, func(t *testing.T) {
			o.Train = nn.TrainConfig{BatchSize: 16, LR: 0.02, Seed: 1}
			res, err := Run(context.Background(), net, train, test, o)
			if err != nil {
				t.Fatal(err)
			}
			if o.Method == MethodStructured {
				if res.ParamsAfter >= res.ParamsBefore {
					t.Fatalf("params %d → %d", res.ParamsBefore, res.ParamsAfter)
				}
				return
			}
			st := Count(res.Network)
			want := o.Sparsity
			if o.Method == MethodNM {
				want = 0.5
			}
			if got := 1 - float64(st.NonzeroWeights)/float64(st.Weights); math.Abs(got-want) > 0.02 {
				t.Fatalf("sparsity %.3f, want %.3f", got, want)
			}
			if res.NonzeroAfter >= res.NonzeroBefore || res.AccuracyAfter <= 0.25 {
				t.Fatalf("result %+v", res)
			}
		})
	}
	if _, err := Run(context.Background(), net, train, test, Options{Method: "bogus", Sparsity: 2}); err == nil {
		t.Fatal("bad options accepted")
	}
}

// TestFormats checks the per-layer choice against a synthetic table: a 2:4
// network at batch 64 gets 2:4 where the table says it wins, and a 30%
// sparse layer stays dense.
func TestFormats(t *testing.T) {
	tab := &sparse.BreakEven{Samples: []sparse.Sample{
		{Format: sparse.FormatNM24, Dtype: sparse.DtypeF32, Batch: 64, Sparsity: 0.5, Speedup: 1.2},
		{Format: sparse.FormatCSR, Dtype: sparse.DtypeF32, Batch: 64, Sparsity: 0.9, Speedup: 5},
	}}
	net := build(t, nn.MLP([]int{16}, []int{8}, 4))
	if err := NM(net, 2, 4); err != nil {
		t.Fatal(err)
	}
	for name, f := range Formats(net, tab, sparse.DtypeF32, 64) {
		if f != sparse.FormatNM24 {
			t.Errorf("%s: %s, want nm24", name, f)
		}
	}
	net = build(t, nn.MLP([]int{16}, []int{8}, 4))
	if err := Global(net, 0.3); err != nil {
		t.Fatal(err)
	}
	for name, f := range Formats(net, tab, sparse.DtypeF32, 64) {
		if f != sparse.FormatDense {
			t.Errorf("%s: %s at 30%% sparsity, want dense", name, f)
		}
	}
}
