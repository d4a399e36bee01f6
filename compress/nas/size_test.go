package nas

import (
	"testing"

	"github.com/compressq/compressq/compress/nn"
)

// TestSizeOfGroupedConv checks SizeOf against the built network for grouped
// and depthwise convolutions, whose weights are [O, I/groups, k, k].
func TestSizeOfGroupedConv(t *testing.T) {
	a := nn.Arch{Input: []int{4, 8, 8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Groups: 2},
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Groups: 8, Pad: 1},
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeGlobalAvgPool},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 3},
	}}
	z, err := SizeOf(a)
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	// NumParams also counts BatchNorm's running statistics, which SizeOf
	// leaves out.
	if want := net.NumParams() - 2*8; z.Params != want {
		t.Fatalf("SizeOf %d params, network %d", z.Params, want)
	}
	if want := 8*2*9 + 8*1*9 + 3*8; z.Weights != want {
		t.Fatalf("SizeOf %d weights, want %d", z.Weights, want)
	}
}
