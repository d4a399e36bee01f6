package model

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/safetensors"
)

// generalArch uses grouped, depthwise, dilated and asymmetrically padded
// convolutions, padded pooling and the activation, global pooling and
// reshape layers.
func generalArch() nn.Arch {
	return nn.Arch{Input: []int{4, 9, 9}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Groups: 2, Stride: 2, Pads: nn.Pads{0, 0, 1, 1}},
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeClip, Max: 6},
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Groups: 8, Dilation: 2, Pad: 2},
		{Type: nn.TypeHardSwish},
		{Type: nn.TypeAvgPool2D, Kernel: 3, Stride: 2, Pad: 1, CeilMode: true, CountIncludePad: true},
		{Type: nn.TypeLeakyReLU, Alpha: 0.1},
		{Type: nn.TypeGlobalMaxPool},
		{Type: nn.TypeReshape, Shape: nn.Dims{-1}},
		{Type: nn.TypeDense, Units: 3},
		{Type: nn.TypeSoftmax},
	}}
}

// TestSaveLoadGeneralLayers round-trips a network of the general layers
// through Save and Load: same architecture JSON, bit-identical outputs, and
// a parameter count (grouped weights [O, I/G, k, k]) the size bound accepts.
func TestSaveLoadGeneralLayers(t *testing.T) {
	net, err := nn.Build(generalArch(), 7)
	if err != nil {
		t.Fatal(err)
	}
	perturbRunningStats(t, net)
	n, err := archParamCount(generalArch())
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(net.NumParams()); n != want {
		t.Fatalf("archParamCount = %d, the built network has %d", n, want)
	}
	var buf bytes.Buffer
	if err := Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	got, err := Load(buf.Bytes(), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(net.Arch())
	b, _ := json.Marshal(got.Arch())
	if string(a) != string(b) {
		t.Fatalf("arch changed: %s → %s", a, b)
	}
	x := randomInput(3, 2, 4, 9, 9)
	ya, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	yb, err := got.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range ya.Float32s() {
		if math.Float32bits(v) != math.Float32bits(yb.Float32s()[i]) {
			t.Fatalf("output %d: %v vs %v after reload", i, v, yb.Float32s()[i])
		}
	}
}
