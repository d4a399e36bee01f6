package prune

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// resArch is a small ResNet: a stem, an identity-shortcut block and a
// stride-2 block with a 1×1 projection shortcut, global average pooling and
// a dense classifier. Tied sets: {0, 6} (identity add 8), {3}, {10},
// {13, 15} (projection add 17).
func resArch() nn.Arch {
	return nn.Arch{Name: "tiny-resnet", Input: []int{1, 8, 8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 6, Kernel: 3, Pad: 1}, // 0 stem
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 6, Kernel: 3, Pad: 1}, // 3 block 1
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 6, Kernel: 3, Pad: 1}, // 6
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeAdd, Inputs: []int{7, 2}}, // 8 identity shortcut
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Stride: 2, Pad: 1}, // 10 block 2
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pad: 1}, // 13
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 1, Stride: 2, Inputs: []int{9}}, // 15 projection
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeAdd, Inputs: []int{14, 16}}, // 17
		{Type: nn.TypeReLU},
		{Type: nn.TypeGlobalAvgPool},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 4}, // 21
	}}
}

// mobileArch has depthwise-separable blocks (one depthwise conv of
// multiplier 1, one of multiplier 2), a branch from the stem and a concat
// before global pooling.
func mobileArch() nn.Arch {
	return nn.Arch{Name: "tiny-mobilenet", Input: []int{1, 8, 8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Stride: 2, Pad: 1}, // 0 stem
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeClip, Min: 0, Max: 6},
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pad: 1, Groups: 8}, // 3 depthwise
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeHardSwish},
		{Type: nn.TypeConv2D, Filters: 10, Kernel: 1}, // 6 pointwise
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeClip, Min: 0, Max: 6},
		{Type: nn.TypeConv2D, Filters: 20, Kernel: 3, Pad: 1, Groups: 10}, // 9 depthwise ×2
		{Type: nn.TypeLeakyReLU},
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 1, Inputs: []int{2}}, // 11 branch
		{Type: nn.TypeConcat, Inputs: []int{10, 11}},                   // 12: 20 + 4 channels
		{Type: nn.TypeGlobalAvgPool},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 4}, // 15
	}}
}

// reader is a layer that reads pruned units: a conv2d reading them as input
// channels, or a dense layer reading feature block offset+u·block … +block.
type reader struct{ layer, offset, block int }

// cut is one tied set's units to remove: its producers' filters for them
// are zeroed (so they rank lowest) and so are the weights of every layer
// reading them (so removing them cannot change the outputs).
type cut struct {
	producers []int
	units     []int
	readers   []reader
}

// randomizeBatchNorm gives every batch norm random statistics and affine
// parameters, so that copying them to the wrong channel would show.
func randomizeBatchNorm(net *nn.Network, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 3))
	for _, l := range net.Layers() {
		if b, ok := l.(*nn.BatchNorm); ok {
			for j := range b.Features {
				b.Gamma.Float32s()[j] = 0.5 + r.Float32()
				b.Beta.Float32s()[j] = r.Float32() - 0.5
				b.RunningMean.Float32s()[j] = r.Float32() - 0.5
				b.RunningVar.Float32s()[j] = 0.5 + r.Float32()
			}
		}
	}
}

// applyCuts zeroes the producers' filters and the readers' weights of cuts.
func applyCuts(t *testing.T, net *nn.Network, cuts []cut) {
	t.Helper()
	ls := net.Layers()
	for _, c := range cuts {
		for _, p := range c.producers {
			var w []float32
			var out int
			switch l := ls[p].(type) {
			case *nn.Conv2D:
				w, out = l.W.Float32s(), l.OutC
			case *nn.Dense:
				w, out = l.W.Float32s(), l.Out
			default:
				t.Fatalf("producer %d is %T", p, l)
			}
			per := len(w) / out
			for _, u := range c.units {
				clear(w[u*per : (u+1)*per])
			}
		}
		for _, rd := range c.readers {
			switch l := ls[rd.layer].(type) {
			case *nn.Conv2D:
				kk := l.Kernel * l.Kernel
				for o := range l.OutC {
					for _, u := range c.units {
						clear(l.W.Float32s()[(o*l.InC+u)*kk : (o*l.InC+u+1)*kk])
					}
				}
			case *nn.Dense:
				for o := range l.Out {
					for _, u := range c.units {
						lo := o*l.In + rd.offset + u*rd.block
						clear(l.W.Float32s()[lo : lo+rd.block])
					}
				}
			default:
				t.Fatalf("reader %d is %T", rd.layer, l)
			}
		}
	}
}

// sameOutputs checks that a and b compute the same outputs on random
// inputs, within 1e-5 relative (1e-5 absolute below 1).
func sameOutputs(t *testing.T, a, b *nn.Network) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	shape := append([]int{6}, a.InputShape()...)
	n := 1
	for _, d := range shape {
		n *= d
	}
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = r.Float32()*2 - 1
	}
	x := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(xs))
	want, err := a.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range want.Float32s() {
		if d := math.Abs(float64(v - got.Float32s()[i])); d > 1e-5*math.Max(1, math.Abs(float64(v))) {
			t.Fatalf("output %d: %g, want %g", i, got.Float32s()[i], v)
		}
	}
}

// widths returns each conv2d's filters, dense layer's units and conv
// groups of a.
func widths(a nn.Arch) map[int][2]int {
	w := map[int][2]int{}
	for i, l := range a.Layers {
		switch l.Type {
		case nn.TypeConv2D:
			w[i] = [2]int{l.Filters, max(1, l.Groups)}
		case nn.TypeDense:
			w[i] = [2]int{l.Units, 1}
		}
	}
	return w
}

// TestStructuredGraphEquivalence removes units whose weights are zero from
// graphs with residual shortcuts (identity and projection), a stride-2
// downsample, depthwise-separable blocks, concat and global pooling, and
// checks that Structured picks exactly those units, shrinks every coupled
// layer, and leaves the outputs unchanged.
func TestStructuredGraphEquivalence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		arch   nn.Arch
		remove map[int]float64
		cuts   []cut
		want   map[int][2]int // layer → filters or units, groups
		groups [][]int
	}{{
		name: "resnet",
		arch: resArch(),
		// The set {0, 6} takes the larger fraction, 2/6; 13 drags 15 along.
		remove: map[int]float64{0: 1.0 / 3, 6: 0.1, 3: 1.0 / 6, 10: 0.25, 13: 3.0 / 8},
		cuts: []cut{
			{producers: []int{0, 6}, units: []int{1, 4}, readers: []reader{{layer: 3}, {layer: 10}, {layer: 15}}},
			{producers: []int{3}, units: []int{2}, readers: []reader{{layer: 6}}},
			{producers: []int{10}, units: []int{0, 5}, readers: []reader{{layer: 13}}},
			{producers: []int{13, 15}, units: []int{3, 6, 7}, readers: []reader{{layer: 21, block: 1}}},
		},
		want:   map[int][2]int{0: {4, 1}, 3: {5, 1}, 6: {4, 1}, 10: {6, 1}, 13: {5, 1}, 15: {5, 1}, 21: {4, 1}},
		groups: [][]int{{0, 6}, {3}, {10}, {13, 15}},
	}, {
		name:   "mobilenet",
		arch:   mobileArch(),
		remove: map[int]float64{0: 0.25, 6: 0.2, 11: 0.25},
		cuts: []cut{
			// The stem's units pass the depthwise conv 3 and reach 6 and 11.
			{producers: []int{0}, units: []int{2, 5}, readers: []reader{{layer: 6}, {layer: 11}}},
			// The pointwise units 1 and 7 are channels 2, 3 and 14, 15
			// after the ×2 depthwise conv, then features after pooling.
			{producers: []int{6}, units: []int{1, 7}, readers: []reader{{layer: 15, block: 2}}},
			{producers: []int{11}, units: []int{0}, readers: []reader{{layer: 15, offset: 20, block: 1}}},
		},
		want:   map[int][2]int{0: {6, 1}, 3: {6, 6}, 6: {8, 1}, 9: {16, 8}, 11: {3, 1}, 15: {4, 1}},
		groups: [][]int{{0}, {6}, {11}},
	}, {
		name: "grouped and reshaped",
		arch: nn.Arch{Input: []int{2, 6, 6}, Layers: []nn.LayerSpec{
			{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 1}, // 0: fixed by the grouped conv's input
			{Type: nn.TypeReLU},
			{Type: nn.TypeConv2D, Filters: 6, Kernel: 3, Pad: 1, Groups: 2}, // 2: two groups of 3
			{Type: nn.TypeBatchNorm},
			{Type: nn.TypeConv2D, Filters: 5, Kernel: 1}, // 4
			{Type: nn.TypeGlobalAvgPool},
			{Type: nn.TypeReshape, Shape: nn.Dims{-1}}, // [5, 1, 1] → [5]
			{Type: nn.TypeDense, Units: 6},             // 7
			{Type: nn.TypeReshape, Shape: nn.Dims{6, 1, 1}},
			{Type: nn.TypeConv2D, Filters: 3, Kernel: 1}, // 9: the outputs
			{Type: nn.TypeFlatten},
		}},
		// One filter from each group of 2; units pass both reshapes.
		remove: map[int]float64{2: 1.0 / 3, 4: 0.2, 7: 1.0 / 3},
		cuts: []cut{
			{producers: []int{2}, units: []int{1, 4}, readers: []reader{{layer: 4}}},
			{producers: []int{4}, units: []int{3}, readers: []reader{{layer: 7, block: 1}}},
			{producers: []int{7}, units: []int{0, 5}, readers: []reader{{layer: 9}}},
		},
		want:   map[int][2]int{0: {4, 1}, 2: {4, 2}, 4: {4, 1}, 7: {4, 1}, 9: {3, 1}},
		groups: [][]int{{2}, {4}, {7}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			net := build(t, tc.arch)
			randomizeBatchNorm(net, 1)
			applyCuts(t, net, tc.cuts)
			groups, err := StructuredGroups(net)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(groups, tc.groups) {
				t.Errorf("StructuredGroups = %v, want %v", groups, tc.groups)
			}
			small, err := Structured(net, tc.remove, NormL1)
			if err != nil {
				t.Fatal(err)
			}
			if got := widths(small.Arch()); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("widths %v, want %v", got, tc.want)
			}
			if small.NumParams() >= net.NumParams() {
				t.Fatalf("params %d, not below %d", small.NumParams(), net.NumParams())
			}
			if !reflect.DeepEqual(inputsOf(small.Arch()), inputsOf(tc.arch)) {
				t.Fatal("layer inputs changed")
			}
			sameOutputs(t, net, small)
			// Shrink with the same kept units gives the same network.
			keep := map[int][]int{}
			for _, c := range tc.cuts {
				for _, p := range c.producers {
					keep[p] = without(max(tc.arch.Layers[p].Filters, tc.arch.Layers[p].Units), c.units)
				}
			}
			again, err := Shrink(net, keep)
			if err != nil {
				t.Fatal(err)
			}
			sameOutputs(t, net, again)
		})
	}
}

func inputsOf(a nn.Arch) [][]int {
	var in [][]int
	for i := range a.Layers {
		in = append(in, a.Sources(i))
	}
	return in
}

// without returns 0…n−1 without drop.
func without(n int, drop []int) []int {
	var k []int
	for i := range n {
		if !contains(drop, i) {
			k = append(k, i)
		}
	}
	return k
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestStructuredTiedFractions checks the units each tied set actually
// loses: round(f·n) for the largest fraction given to any of its layers,
// applied to all of them, and never the last unit.
func TestStructuredTiedFractions(t *testing.T) {
	net := build(t, resArch())
	for _, tc := range []struct {
		remove map[int]float64
		want   map[int]int // layer → filters left
	}{
		{map[int]float64{0: 0.5, 6: 0.2}, map[int]int{0: 3, 3: 6, 6: 3, 10: 8, 13: 8, 15: 8}},
		{map[int]float64{6: 0.5, 13: 0.25}, map[int]int{0: 3, 3: 6, 6: 3, 10: 8, 13: 6, 15: 6}},
		{map[int]float64{15: 0.5, 13: 0.75, 3: 0.5, 10: 0.1}, map[int]int{0: 6, 3: 3, 6: 6, 10: 7, 13: 2, 15: 2}},
		{map[int]float64{0: 0.99, 10: 0.99}, map[int]int{0: 1, 3: 6, 6: 1, 10: 1, 13: 8, 15: 8}},
	} {
		small, err := Structured(net, tc.remove, NormL2)
		if err != nil {
			t.Fatalf("%v: %v", tc.remove, err)
		}
		a := small.Arch()
		for i, n := range tc.want {
			if got := a.Layers[i].Filters; got != n {
				t.Errorf("%v: layer %d keeps %d filters, want %d", tc.remove, i, got, n)
			}
		}
	}
}

// TestStructuredTiedRanking checks that tied units are ranked by the sum
// of their producers' norms: a unit whose filter is zero in one tied conv
// but large in the other stays, and the unit small in both goes.
func TestStructuredTiedRanking(t *testing.T) {
	net := build(t, resArch())
	ls := net.Layers()
	c0, c6 := ls[0].(*nn.Conv2D), ls[6].(*nn.Conv2D)
	w0, w6 := c0.W.Float32s(), c6.W.Float32s()
	per0, per6 := len(w0)/6, len(w6)/6
	clear(w0[2*per0 : 3*per0])
	for j := range per0 {
		w0[4*per0+j] *= 0.01
	}
	for j := range per6 {
		w6[2*per6+j] *= 100
		w6[4*per6+j] *= 0.01
	}
	small, err := Structured(net, map[int]float64{6: 1.0 / 6}, NormL1)
	if err != nil {
		t.Fatal(err)
	}
	// Unit 4 is gone from both: the kept filters of 6 are 0, 1, 2, 3, 5.
	got := small.Layers()[6].(*nn.Conv2D).W.Float32s()
	for k, u := range []int{0, 1, 2, 3, 5} {
		if got[k*per6] != w6[u*per6] {
			t.Fatalf("layer 6 filter %d is not original filter %d", k, u)
		}
	}
	if small.Layers()[0].(*nn.Conv2D).OutC != 5 {
		t.Fatalf("layer 0 keeps %d filters, want 5", small.Layers()[0].(*nn.Conv2D).OutC)
	}
}

// TestStructuredGraphRejects checks the units structured pruning must not
// remove are refused with an error naming the layer that fixes them.
func TestStructuredGraphRejects(t *testing.T) {
	inputTied := nn.Arch{Input: []int{4, 6, 6}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 1},
		{Type: nn.TypeAdd, Inputs: []int{0, nn.InputNet}},
		{Type: nn.TypeGlobalAvgPool},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 2},
	}}
	softmax := nn.Arch{Input: []int{8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeDense, Units: 6},
		{Type: nn.TypeSoftmax},
		{Type: nn.TypeDense, Units: 2},
	}}
	outputAdd := nn.Arch{Input: []int{8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeDense, Units: 6},
		{Type: nn.TypeDense, Units: 3},
		{Type: nn.TypeDense, Units: 3, Inputs: []int{0}},
		{Type: nn.TypeAdd, Inputs: []int{1, 2}},
	}}
	for _, tc := range []struct {
		arch   nn.Arch
		remove map[int]float64
		want   string
	}{
		{resArch(), map[int]float64{21: 0.5}, "prune: layer 21: its outputs are the network outputs"},
		{resArch(), map[int]float64{1: 0.5}, "prune: layer 1 is batchnorm, want dense or conv2d"},
		{resArch(), map[int]float64{99: 0.5}, "prune: layer 99 out of range"},
		{resArch(), map[int]float64{0: 1}, "prune: layer 0 structured sparsity 1"},
		{mobileArch(), map[int]float64{3: 0.5}, "prune: layer 3: a depthwise conv2d's channels follow its input"},
		{inputTied, map[int]float64{0: 0.5}, "prune: layer 0: its units are tied (through add) to the network input"},
		{softmax, map[int]float64{0: 0.5}, "prune: layer 1: softmax after a pruned layer is not supported"},
		{outputAdd, map[int]float64{2: 0.5}, "prune: layer 3: its outputs are the network outputs, which cannot lose units (it fixes the units of layer 2)"},
	} {
		if _, err := Structured(build(t, tc.arch), tc.remove, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Structured(%v): %v, want %q", tc.remove, err, tc.want)
		}
	}
	// The untied dense 0 of outputAdd is prunable, and only it.
	if g, err := StructuredGroups(build(t, outputAdd)); err != nil || !reflect.DeepEqual(g, [][]int{{0}}) {
		t.Errorf("StructuredGroups(outputAdd) = %v, %v; want [[0]]", g, err)
	}
	// Shrink refuses tied layers that keep different units.
	net := build(t, resArch())
	for _, keep := range []map[int][]int{
		{0: {0, 1, 2}},
		{0: {0, 1, 2}, 6: {0, 1, 3}},
	} {
		if _, err := Shrink(net, keep); err == nil || !strings.Contains(err.Error(), "tied (through add)") {
			t.Errorf("Shrink(%v): %v, want a tied-units error", keep, err)
		}
	}
	if _, err := Shrink(net, map[int][]int{0: {0, 1, 2}, 6: {0, 1, 2}}); err != nil {
		t.Errorf("Shrink with agreeing tied layers: %v", err)
	}
}

// TestRunStructuredGraph runs MethodStructured on the residual graph:
// every prunable set loses half its units and the result trains.
func TestRunStructuredGraph(t *testing.T) {
	train, test := synthetic(256, 5), synthetic(64, 6)
	net := build(t, resArch())
	res, err := Run(context.Background(), net, train, test, Options{
		Method: MethodStructured, Sparsity: 0.5, FineTuneEpochs: 1,
		Train: nn.TrainConfig{BatchSize: 16, LR: 0.02, Seed: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := widths(res.Network.Arch())
	want := map[int][2]int{0: {3, 1}, 3: {3, 1}, 6: {3, 1}, 10: {4, 1}, 13: {4, 1}, 15: {4, 1}, 21: {4, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("widths %v, want %v", got, want)
	}
	if res.ParamsAfter >= res.ParamsBefore {
		t.Fatalf("params %d → %d", res.ParamsBefore, res.ParamsAfter)
	}
	if _, err := Run(context.Background(), net, train, test, Options{
		Method: MethodStructured, PerLayer: map[string]float64{"layers.21.weight": 0.5},
	}); err == nil || !strings.Contains(err.Error(), "network outputs") {
		t.Fatalf("pruning the classifier through PerLayer: %v", err)
	}
	if _, err := Run(context.Background(), net, train, test, Options{
		Method: MethodStructured, PerLayer: map[string]float64{"layers.0.bias": 0.5},
	}); err == nil || !strings.Contains(err.Error(), `PerLayer["layers.0.bias"]`) {
		t.Fatalf("a bias name in PerLayer: %v", err)
	}
}
