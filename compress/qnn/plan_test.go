package qnn

import (
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
)

// TestPrepareGeneralLayers checks that the conv and pooling features the
// chain path lacks send a network to the graph path, and that layer types
// without an integer form are refused with an error naming the layer.
func TestPrepareGeneralLayers(t *testing.T) {
	in := []int{4, 8, 8}
	tail := []nn.LayerSpec{{Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 2}}
	tests := []struct {
		name  string
		layer nn.LayerSpec
		want  string // "" for a graph model
	}{
		{"grouped", nn.LayerSpec{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Groups: 2}, ""},
		{"depthwise", nn.LayerSpec{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Groups: 4, Pad: 1}, ""},
		{"dilated", nn.LayerSpec{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Dilation: 2}, ""},
		{"asymmetric pads", nn.LayerSpec{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pads: nn.Pads{0, 0, 1, 1}}, ""},
		{"padded maxpool", nn.LayerSpec{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 2, Pad: 1}, ""},
		{"ceil maxpool", nn.LayerSpec{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 2, CeilMode: true}, ""},
		{"global pool", nn.LayerSpec{Type: nn.TypeGlobalAvgPool}, ""},
		{"hardswish", nn.LayerSpec{Type: nn.TypeHardSwish}, "layers[1]: hardswish is not supported"},
		{"avgpool", nn.LayerSpec{Type: nn.TypeAvgPool2D, Kernel: 2}, "layers[1]: avgpool2d is not supported"},
	}
	// The error names the layer's index in the given network, before
	// BatchNorm folding removes layers.
	bn := nn.Arch{Input: in, Layers: []nn.LayerSpec{{Type: nn.TypeConv2D, Filters: 4, Kernel: 1}, {Type: nn.TypeBatchNorm},
		{Type: nn.TypeSigmoid}, {Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 2}}}
	net, err := nn.Build(bn, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(net); err == nil || !strings.Contains(err.Error(), "layers[2]: sigmoid is not supported by integer inference") {
		t.Errorf("Prepare after batchnorm: %v", err)
	}
	// The same for an error of the graph plan.
	bn = nn.Arch{Input: in, Layers: []nn.LayerSpec{{Type: nn.TypeConv2D, Filters: 4, Kernel: 1}, {Type: nn.TypeBatchNorm},
		{Type: nn.TypeAdd, Inputs: []int{nn.InputNet, 1}}, {Type: nn.TypeReLU}}}
	if net, err = nn.Build(bn, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(net); err == nil || !strings.Contains(err.Error(), "layers[2]: the network must end with a dense or conv2d layer") {
		t.Errorf("Prepare after batchnorm: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := nn.Arch{Input: in, Layers: append([]nn.LayerSpec{{Type: nn.TypeConv2D, Filters: 4, Kernel: 1}, tc.layer}, tail...)}
			net, err := nn.Build(a, 1)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Prepare(net)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Prepare: %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if chainable(p) {
				t.Fatal("takes the chain path")
			}
			g, err := planGraph(p)
			if err != nil {
				t.Fatal(err)
			}
			ranges := make([]Range, g.points)
			for i := range ranges {
				ranges[i] = Range{-1, 1}
			}
			m, err := Quantize(p, ranges, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !m.Graph() {
				t.Fatal("not a graph model")
			}
		})
	}
}
