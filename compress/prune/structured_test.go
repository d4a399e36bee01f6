package prune

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// TestStructuredGeneralConv prunes a dilated, asymmetrically padded conv
// feeding another through padded pooling and checks the smaller network
// computes what the original does with the removed channels' outgoing
// weights zeroed.
func TestStructuredGeneralConv(t *testing.T) {
	a := nn.Arch{Input: []int{2, 9, 8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 6, Kernel: 3, Dilation: 2, Pads: nn.Pads{1, 2, 2, 1}},
		{Type: nn.TypeHardSwish},
		{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 2, Pad: 1, CeilMode: true},
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Stride: 2, Pads: nn.Pads{0, 1, 1, 0}},
		{Type: nn.TypeGlobalAvgPool},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 3},
	}}
	net := build(t, a)
	keep := []int{0, 2, 5}
	small, err := Shrink(net, map[int][]int{0: keep})
	if err != nil {
		t.Fatal(err)
	}
	if got := small.Arch().Layers[0]; got.Filters != 3 || got.Dilation != 2 || got.Pads != a.Layers[0].Pads {
		t.Fatalf("shrunk layer 0: %+v", got)
	}
	ref := net.Clone()
	c3 := ref.Layers()[3].(*nn.Conv2D)
	w := c3.W.Float32s()
	for o := range c3.OutC {
		for c := range c3.InC {
			if c != 0 && c != 2 && c != 5 {
				clear(w[(o*c3.InC+c)*9 : (o*c3.InC+c+1)*9])
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, 4*2*9*8)
	for i := range xs {
		xs[i] = r.Float32()*2 - 1
	}
	x := tensor.New(tensor.WithShape(4, 2, 9, 8), tensor.WithBacking(xs))
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
			t.Fatalf("output %d: %g, want %g", i, got.Float32s()[i], v)
		}
	}
}

// TestStructuredRejects checks that the layers Shrink cannot remap are
// refused with an error naming them.
func TestStructuredRejects(t *testing.T) {
	grouped := nn.Arch{Input: []int{2, 6, 6}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3},
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Groups: 2},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 2},
	}}
	reshaped := nn.Arch{Input: []int{8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeDense, Units: 6},
		{Type: nn.TypeReshape, Shape: nn.Dims{3, 2}},
		{Type: nn.TypeReshape, Shape: nn.Dims{-1}},
		{Type: nn.TypeDense, Units: 2},
	}}
	tiedGrouped := nn.Arch{Input: []int{2, 6, 6}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 1},
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 1, Groups: 2},
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 1, Inputs: []int{0}},
		{Type: nn.TypeAdd, Inputs: []int{1, 2}},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 2},
	}}
	for _, tc := range []struct {
		arch   nn.Arch
		remove map[int]float64
		want   string
	}{
		{tiedGrouped, map[int]float64{2: 0.5}, "prune: layer 1: a grouped conv2d whose channels are tied to other layers'"},
		{grouped, map[int]float64{0: 0.5}, "prune: layer 1: the input channels of a grouped conv2d cannot be removed"},
		{reshaped, map[int]float64{0: 0.5}, "prune: layer 1: a reshape that splits channels across its output channels is not supported"},
	} {
		if _, err := Structured(build(t, tc.arch), tc.remove, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Structured(%v): %v, want %q", tc.remove, err, tc.want)
		}
	}
	// Shrink keeps a grouped conv's groups equal.
	if _, err := Shrink(build(t, grouped), map[int][]int{1: {0, 1, 3}}); err == nil || !strings.Contains(err.Error(), "must keep as many filters in each group") {
		t.Errorf("Shrink with unequal groups: %v", err)
	}
	if small, err := Shrink(build(t, grouped), map[int][]int{1: {1, 3}}); err != nil || small.Arch().Layers[1].Filters != 2 || small.Arch().Layers[1].Groups != 2 {
		t.Errorf("Shrink keeping one filter per group: %v", err)
	}
	// A reshape with no pruned layer before it is fine.
	if _, err := Structured(build(t, reshaped), map[int]float64{}, ""); err != nil {
		t.Errorf("nothing pruned: %v", err)
	}
}
