package qnn

import (
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
)

// TestPrepareRejectsGeneralLayers checks that the conv and pooling
// features and the layer types the integer path does not implement are
// refused with an error naming the layer, instead of computing with the
// plain-conv or unpadded-pool assumptions.
func TestPrepareRejectsGeneralLayers(t *testing.T) {
	in := []int{4, 8, 8}
	tail := []nn.LayerSpec{{Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 2}}
	tests := []struct {
		name  string
		layer nn.LayerSpec
		want  string
	}{
		{"grouped", nn.LayerSpec{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Groups: 2}, "layers[1]: grouped conv2d is not supported by integer inference"},
		{"depthwise", nn.LayerSpec{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Groups: 4, Pad: 1}, "layers[1]: grouped conv2d is not supported"},
		{"dilated", nn.LayerSpec{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Dilation: 2}, "layers[1]: dilated conv2d is not supported"},
		{"asymmetric pads", nn.LayerSpec{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pads: nn.Pads{0, 0, 1, 1}},
			"layers[1]: asymmetrically padded conv2d is not supported"},
		{"padded maxpool", nn.LayerSpec{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 2, Pad: 1}, "layers[1]: padded maxpool2d is not supported"},
		{"ceil maxpool", nn.LayerSpec{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 2, CeilMode: true}, "layers[1]: ceil-mode maxpool2d is not supported"},
		{"global pool", nn.LayerSpec{Type: nn.TypeGlobalAvgPool}, "layers[1]: globalavgpool is not supported by integer inference"},
		{"hardswish", nn.LayerSpec{Type: nn.TypeHardSwish}, "layers[1]: hardswish is not supported"},
	}
	// The error names the layer's index in the given network, before
	// BatchNorm folding removes layers.
	bn := nn.Arch{Input: in, Layers: []nn.LayerSpec{{Type: nn.TypeConv2D, Filters: 4, Kernel: 1}, {Type: nn.TypeBatchNorm},
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Dilation: 2}, {Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 2}}}
	net, err := nn.Build(bn, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(net); err == nil || !strings.Contains(err.Error(), "layers[2]: dilated conv2d is not supported") {
		t.Errorf("Prepare after batchnorm: %v", err)
	}
	bn.Layers[2] = nn.LayerSpec{Type: nn.TypeSigmoid}
	if net, err = nn.Build(bn, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(net); err == nil || !strings.Contains(err.Error(), "layers[2]: sigmoid is not supported by integer inference") {
		t.Errorf("Prepare after batchnorm: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := nn.Arch{Input: in, Layers: append([]nn.LayerSpec{{Type: nn.TypeConv2D, Filters: 4, Kernel: 1}, tc.layer}, tail...)}
			net, err := nn.Build(a, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Prepare(net); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Prepare: %v, want %q", err, tc.want)
			}
		})
	}
}
