package qnn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// L is shorthand for a layer spec reading the given inputs.
func L(s nn.LayerSpec, inputs ...int) nn.LayerSpec {
	s.Inputs = inputs
	return s
}

var (
	relu  = nn.LayerSpec{Type: nn.TypeReLU}
	relu6 = nn.LayerSpec{Type: nn.TypeClip, Min: 0, Max: 6}
	bn    = nn.LayerSpec{Type: nn.TypeBatchNorm}
	add   = nn.LayerSpec{Type: nn.TypeAdd}
	cat   = nn.LayerSpec{Type: nn.TypeConcat}
)

func conv(filters, k, stride, pad int) nn.LayerSpec {
	return nn.LayerSpec{Type: nn.TypeConv2D, Filters: filters, Kernel: k, Stride: stride, Pad: pad}
}

// graphArchs are odd graphs for the differential tests: residual blocks
// with identity and projection shortcuts and a stride-2 downsample,
// depthwise-separable blocks with ReLU6 (as PyTorch exports it, ReLU then
// Clip), concat branches of different scales, a grouped, a dilated and an
// asymmetrically padded conv, padded ceil-mode max pooling, global pools,
// reshape, standalone activations, a three-input Add, a network-input
// shortcut and a chain that needs the graph path.
func graphArchs() map[string]nn.Arch {
	return map[string]nn.Arch{
		"resnet": {Input: []int{1, 12, 12}, Layers: []nn.LayerSpec{
			conv(8, 3, 1, 1), bn, relu, // 0-2
			conv(8, 3, 1, 1), bn, relu, conv(8, 3, 1, 1), bn, // 3-7
			L(add, 7, 2), relu, // 8, 9
			conv(12, 3, 2, 1), bn, relu, conv(12, 3, 1, 1), bn, // 10-14
			L(conv(12, 1, 2, 0), 9), bn, // 15, 16
			L(add, 14, 16), relu, // 17, 18
			{Type: nn.TypeGlobalAvgPool}, {Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 10},
		}},
		"mobilenet": {Input: []int{3, 11, 10}, Layers: []nn.LayerSpec{
			conv(8, 3, 2, 1), bn, relu, relu6,
			{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pad: 1, Groups: 8}, bn, relu, relu6,
			conv(16, 1, 1, 0), bn, relu6,
			{Type: nn.TypeConv2D, Filters: 16, Kernel: 3, Stride: 2, Pad: 1, Groups: 16}, relu6,
			conv(20, 1, 1, 0),
			{Type: nn.TypeGlobalAvgPool}, {Type: nn.TypeReshape, Shape: nn.Dims{-1}}, {Type: nn.TypeDropout, Rate: 0.2},
			{Type: nn.TypeDense, Units: 7},
		}},
		"inception": {Input: []int{3, 9, 9}, Layers: []nn.LayerSpec{
			conv(6, 3, 1, 1), relu, // 0, 1
			conv(4, 1, 1, 0),             // 2: branch a, no ReLU (signed)
			L(conv(5, 3, 1, 1), 1), relu, // 3, 4: branch b
			L(nn.LayerSpec{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 1, Pad: 1}, 1), // 5: branch c keeps 1's grid
			L(cat, 2, 4, 5, nn.InputNet), // 6: 4+5+6+3 channels
			{Type: nn.TypeMaxPool2D, Kernel: 2, Stride: 2, Pad: 1, CeilMode: true},                                  // 7
			{Type: nn.TypeConv2D, Filters: 6, Kernel: 3, Groups: 3, Pads: nn.Pads{0, 1, 2, 1}}, {Type: nn.TypeReLU}, // 8, 9
			{Type: nn.TypeConv2D, Filters: 6, Kernel: 2, Dilation: 2, Pad: 1}, // 10
			L(add, 10, 9, 9), {Type: nn.TypeClip, Min: -0.5, Max: 1}, // 11, 12
			{Type: nn.TypeGlobalMaxPool}, {Type: nn.TypeFlatten}, {Type: nn.TypeIdentity},
			{Type: nn.TypeDense, Units: 5}, relu, {Type: nn.TypeDense, Units: 3},
		}},
		// Flatten of a multi-pixel activation, a reshape back to an image,
		// a conv as logits and a standalone ReLU after an Add read twice.
		"reshape": {Input: []int{2, 6, 6}, Layers: []nn.LayerSpec{
			conv(3, 3, 1, 0),       // 0: [3 4 4]
			{Type: nn.TypeFlatten}, // 1: [48]
			{Type: nn.TypeReshape, Shape: nn.Dims{6, 2, 4}}, // 2
			{Type: nn.TypeConv2D, Filters: 6, Kernel: 1},    // 3
			L(add, 2, 3), relu, L(cat, 5, 4), // 4, 5, 6
			{Type: nn.TypeConv2D, Filters: 4, Kernel: 2, Stride: 2}, // 7: logits [4 1 2]
		}},
		// Grouped convolutions over channel counts that are multiples of
		// 4 (read in place, spread weights), one with asymmetric padding,
		// and one over 6 channels (padded to 8 in the window images).
		"grouped": {Input: []int{8, 7, 9}, Layers: []nn.LayerSpec{
			{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pad: 1, Groups: 2}, relu, // 0, 1
			{Type: nn.TypeConv2D, Filters: 12, Kernel: 3, Stride: 2, Groups: 4, Pads: nn.Pads{1, 0, 2, 1}}, relu, // 2, 3
			{Type: nn.TypeConv2D, Filters: 6, Kernel: 1}, relu, // 4, 5
			conv(16, 3, 1, 1), // 6
			{Type: nn.TypeGlobalAvgPool}, {Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 5},
		}},
		"chain": {Input: []int{1, 8, 8}, Layers: []nn.LayerSpec{
			{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Groups: 1, Dilation: 2}, relu6,
			{Type: nn.TypeMaxPool2D, Kernel: 2, Pad: 1}, {Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 4},
		}},
	}
}

// randomize gives the batch norms of net non-trivial statistics.
func randomize(t *testing.T, net *nn.Network, r *rand.Rand) {
	t.Helper()
	for _, p := range net.Params() {
		if strings.Contains(p.Name, "running_var") || strings.Contains(p.Name, "gamma") {
			for i := range p.Value.Float32s() {
				p.Value.Float32s()[i] = 0.5 + r.Float32()
			}
		} else if strings.Contains(p.Name, "running_mean") || strings.Contains(p.Name, "beta") {
			for i := range p.Value.Float32s() {
				p.Value.Float32s()[i] = r.Float32() - 0.5
			}
		}
	}
}

// buildPrepared builds a with seed, randomizes its parameters and returns
// it with its prepared (BatchNorm-folded) copy.
func buildPrepared(t *testing.T, a nn.Arch, seed int64, r *rand.Rand) (net, prepared *nn.Network) {
	t.Helper()
	net, err := nn.Build(a, seed)
	if err != nil {
		t.Fatal(err)
	}
	randomize(t, net, r)
	if prepared, err = Prepare(net); err != nil {
		t.Fatal(err)
	}
	return net, prepared
}

// TestGraphForwardMatchesRef compares the fast and reference integer paths
// of graph models bit for bit on random inputs, with calibrated and random
// ranges (one-sided, all-negative), 8- and 4-bit weights, batches of one,
// part of a chunk and several chunks, on one to three threads.
func TestGraphForwardMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for name, a := range graphArchs() {
		t.Run(name, func(t *testing.T) {
			_, p := buildPrepared(t, a, 3, r)
			if chainable(p) {
				t.Fatal("takes the chain path")
			}
			g, err := planGraph(p)
			if err != nil {
				t.Fatal(err)
			}
			// Calibrated ranges first, then random ones.
			per := prod(a.Input)
			calib := make([]float32, 40*per)
			for i := range calib {
				calib[i] = r.Float32()*2 - 0.5
			}
			set := &data.Dataset{Images: calib, Labels: make([]int, 40), N: 40, C: a.Input[0], H: a.Input[1], W: a.Input[2], Classes: 10}
			obs, err := Calibrate(context.Background(), p, set, 0)
			if err != nil {
				t.Fatal(err)
			}
			calibrated, err := Ranges(obs, "minmax")
			if err != nil {
				t.Fatal(err)
			}
			for trial := range 5 {
				ranges := calibrated
				if trial > 0 {
					ranges = randomRanges(r, g.points)
				}
				m, err := Quantize(p, ranges, Options{Threads: 1 + trial%3, WeightBits: 8 - 4*(trial%2)})
				if err != nil {
					t.Fatal(err)
				}
				if !m.Graph() {
					t.Fatal("not a graph model")
				}
				for _, n := range []int{1, 3, 17, 65} {
					checkRandomRef(t, m, r, n, fmt.Sprintf("trial %d", trial))
				}
			}
		})
	}
}

// TestGraphMatchesFloat checks that the graph models compute the float
// network's function: on calibration-range inputs, the integer logits
// (times LogitScale) stay close to the fake-quant logits and both close to
// the float network's, relative to the spread of the float logits.
func TestGraphMatchesFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for name, a := range graphArchs() {
		t.Run(name, func(t *testing.T) {
			net, p := buildPrepared(t, a, 4, r)
			const n = 64
			per := prod(a.Input)
			images := make([]float32, n*per)
			for i := range images {
				images[i] = r.Float32()
			}
			set := &data.Dataset{Images: images, Labels: make([]int, n), N: n, C: a.Input[0], H: a.Input[1], W: a.Input[2], Classes: 10}
			obs, err := Calibrate(context.Background(), p, set, 0)
			if err != nil {
				t.Fatal(err)
			}
			ranges, err := Ranges(obs, "minmax")
			if err != nil {
				t.Fatal(err)
			}
			m, err := Quantize(p, ranges, Options{})
			if err != nil {
				t.Fatal(err)
			}
			x := tensor.New(tensor.WithShape(append([]int{n}, a.Input...)...), tensor.WithBacking(images))
			want, err := net.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			fake, err := m.FakeQuant(x)
			if err != nil {
				t.Fatal(err)
			}
			ints, err := m.Forward(m.QuantizeInput(images))
			if err != nil {
				t.Fatal(err)
			}
			f, q := want.Float32s(), fake.Float32s()
			lo, hi := slices.Min(f), slices.Max(f)
			var dFake, dInt float64
			for i, v := range f {
				dFake = max(dFake, math.Abs(float64(q[i]-v)))
				dInt = max(dInt, math.Abs(float64(m.LogitScale*float32(ints[i])-q[i])))
			}
			spread := float64(hi - lo)
			t.Logf("logits spread %.3g: max |fake − float| %.3g, max |int − fake| %.3g", spread, dFake, dInt)
			if dFake > 0.05*spread || dInt > 0.02*spread {
				t.Errorf("logits spread %.3g: max |fake − float| %.3g (limit 5%%), max |int − fake| %.3g (limit 2%%)", spread, dFake, dInt)
			}
		})
	}
}

// TestGraphTrainStepGradients checks the graph back-propagation of
// TrainQAT: with the fake quantization replaced by the identity, the
// parameter gradients of trainStep equal those of nn.Network's own
// backward pass.
func TestGraphTrainStepGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, name := range []string{"resnet", "inception", "chain"} {
		t.Run(name, func(t *testing.T) {
			a := graphArchs()[name]
			_, p := buildPrepared(t, a, 5, r)
			g, err := planGraph(p)
			if err != nil {
				t.Fatal(err)
			}
			const n = 5
			x := make([]float32, n*prod(a.Input))
			for i := range x {
				x[i] = r.Float32()
			}
			xt := tensor.New(tensor.WithShape(append([]int{n}, a.Input...)...), tensor.WithBacking(x))
			y := []int{0, 1, 2, 1, 0}
			if err := g.trainStep(xt, y, nn.Pass{Train: true}, func(_ int, v *tensor.Dense) (*tensor.Dense, error) { return v, nil }, make([][]bool, g.points)); err != nil {
				t.Fatal(err)
			}
			var got [][]float32
			for _, pr := range p.Params() {
				got = append(got, slices.Clone(pr.Grad.Float32s()))
			}
			p.ZeroGrad()
			out, err := p.Forward(xt, true)
			if err != nil {
				t.Fatal(err)
			}
			if out.Shape()[1] < 3 {
				t.Fatalf("output %v has fewer than 3 classes", out.Shape())
			}
			_, grad, err := nn.SoftmaxCrossEntropy(out, y)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Backward(grad); err != nil {
				t.Fatal(err)
			}
			for i, pr := range p.Params() {
				for j, v := range pr.Grad.Float32s() {
					if d := math.Abs(float64(v - got[i][j])); d > 1e-5+1e-4*math.Abs(float64(v)) {
						t.Fatalf("%s[%d]: trainStep %g, network %g", pr.Name, j, got[i][j], v)
					}
				}
			}
		})
	}
}
