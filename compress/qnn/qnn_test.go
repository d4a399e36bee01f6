package qnn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/compressq/compressq/compress/fixed"
	"github.com/compressq/compressq/compress/nn"
	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind (Forward runs
// its workers on goroutines).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checkMatchesRef requires m's integer path to equal its reference path bit
// for bit on images (normalized floats, as a data set holds them).
func checkMatchesRef(t *testing.T, m *Model, images []float32, what string) {
	t.Helper()
	x := m.QuantizeInput(images)
	got, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.ForwardRef(x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: integer path differs from the reference path", what)
	}
}

// checkRandomRef requires m's fast integer path to equal its reference
// path bit for bit on a batch of n random input codes.
func checkRandomRef(t *testing.T, m *Model, r *rand.Rand, n int, what string) {
	t.Helper()
	x := make([]uint8, n*prod(m.Input))
	for i := range x {
		x[i] = uint8(r.UintN(256))
	}
	checkCodesRef(t, m, x, what)
}

// checkCodesRef requires m's fast integer path to equal its reference path
// bit for bit on the input codes x.
func checkCodesRef(t testing.TB, m *Model, x []uint8, what string) {
	t.Helper()
	n := len(x) / max(1, prod(m.Input))
	got, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.ForwardRef(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n*m.Classes || !slices.Equal(got, want) {
		t.Fatalf("%s batch %d: fast %v\nref %v", what, n, got[:min(len(got), 20)], want[:min(len(want), 20)])
	}
}

// TestForwardMatchesRef compares the fast and reference integer paths on
// random inputs through networks with odd shapes: stride, padding, a conv
// output as logits, standalone ReLU, dropout, fused and standalone pools,
// multi-channel inputs, and random calibration ranges including one-sided
// and all-negative ones; 8- and 4-bit weights; batches of one, a part of a
// chunk and several chunks on one to three threads.
func TestForwardMatchesRef(t *testing.T) {
	archs := []nn.Arch{
		{Input: []int{3, 11, 9}, Layers: []nn.LayerSpec{
			{Type: nn.TypeConv2D, Filters: 5, Kernel: 3, Stride: 2, Pad: 1}, {Type: nn.TypeReLU},
			{Type: nn.TypeConv2D, Filters: 7, Kernel: 2}, {Type: nn.TypeMaxPool2D, Kernel: 2}, {Type: nn.TypeReLU},
			{Type: nn.TypeFlatten}, {Type: nn.TypeDropout, Rate: 0.5}, {Type: nn.TypeDense, Units: 33}, {Type: nn.TypeReLU},
			{Type: nn.TypeDense, Units: 10},
		}},
		{Input: []int{2, 6, 6}, Layers: []nn.LayerSpec{
			{Type: nn.TypeConv2D, Filters: 4, Kernel: 5, Pad: 2}, {Type: nn.TypeBatchNorm}, {Type: nn.TypeReLU},
			{Type: nn.TypeConv2D, Filters: 3, Kernel: 6},
		}},
		nn.MLP([]int{37}, []int{19}, 4),
		// A pool on the input and one after another (not fused), an
		// overlapping pool, a 1×1 conv with more than two panels of outputs.
		{Input: []int{2, 17, 15}, Layers: []nn.LayerSpec{
			{Type: nn.TypeMaxPool2D, Kernel: 2},
			{Type: nn.TypeConv2D, Filters: 3, Kernel: 3, Pad: 1}, {Type: nn.TypeReLU},
			{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 2},
			{Type: nn.TypeConv2D, Filters: 65, Kernel: 1},
			{Type: nn.TypeMaxPool2D, Kernel: 2}, {Type: nn.TypeMaxPool2D, Kernel: 1},
			{Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 17}, {Type: nn.TypeDense, Units: 3},
		}},
		// A conv whose GEMM calls cover fewer images than a chunk, a conv
		// as logits after a pool.
		{Input: []int{1, 14, 13}, Layers: []nn.LayerSpec{
			{Type: nn.TypeConv2D, Filters: 23, Kernel: 3},
			{Type: nn.TypeMaxPool2D, Kernel: 2},
			{Type: nn.TypeConv2D, Filters: 4, Kernel: 3},
		}},
	}
	r := rand.New(rand.NewPCG(11, 12))
	for ai, a := range archs {
		net, err := nn.Build(a, int64(ai))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Prepare(net)
		if err != nil {
			t.Fatal(err)
		}
		_, points, err := plan(p)
		if err != nil {
			t.Fatal(err)
		}
		for trial := 0; trial < 5; trial++ {
			ranges := randomRanges(r, points)
			m, err := Quantize(p, ranges, Options{Threads: 1 + trial%3, WeightBits: 4 + 4*(trial%2)})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 3, 17, 65} {
				checkRandomRef(t, m, r, n, fmt.Sprintf("arch %d trial %d", ai, trial))
			}
		}
	}
}

func TestQuantizeRejectsWeightBits(t *testing.T) {
	net, err := nn.Build(nn.MLP([]int{3}, nil, 2), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, bits := range []int{0, 4, 8} {
		if _, err := Quantize(net, []Range{{-1, 1}, {-1, 1}}, Options{WeightBits: bits}); err != nil {
			t.Errorf("weight bits %d: %v", bits, err)
		}
	}
	for _, bits := range []int{-1, 1, 3, 16} {
		if _, err := Quantize(net, []Range{{-1, 1}, {-1, 1}}, Options{WeightBits: bits}); err == nil {
			t.Errorf("weight bits %d accepted", bits)
		}
	}
}

func TestPrepareRejects(t *testing.T) {
	for _, a := range []nn.Arch{
		{Input: []int{1, 4, 4}, Layers: []nn.LayerSpec{{Type: nn.TypeAvgPool2D, Kernel: 2}, {Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 2}}},
		{Input: []int{4}, Layers: []nn.LayerSpec{{Type: nn.TypeDense, Units: 2}, {Type: nn.TypeReLU}}},
		{Input: []int{1, 4, 4}, Layers: []nn.LayerSpec{{Type: nn.TypeFlatten}}},
		{Input: []int{4}, Layers: []nn.LayerSpec{{Type: nn.TypeDense, Units: 4}, {Type: nn.TypeSigmoid}, {Type: nn.TypeAdd, Inputs: []int{nn.InputNet, 1}}, {Type: nn.TypeDense, Units: 2}}},
		{Input: []int{4}, Layers: []nn.LayerSpec{{Type: nn.TypeDense, Units: 4}, {Type: nn.TypeAdd, Inputs: []int{nn.InputNet, 0}}}},
		{Input: []int{1, 4, 4}, Layers: []nn.LayerSpec{{Type: nn.TypeConv2D, Filters: 2, Kernel: 3}, {Type: nn.TypeTanh}, {Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 2}}},
	} {
		net, err := nn.Build(a, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Prepare(net); err == nil {
			t.Errorf("%+v accepted", a.Layers)
		}
	}
}

// TestNoWrap checks the bound that allows pooling int32 accumulators before
// requantizing.
func TestNoWrap(t *testing.T) {
	for _, c := range []struct {
		k    int
		bias int32
		want bool
	}{
		{500, 1 << 30, true},
		{32896, 1 << 30, true}, // 32896·255·128 + 2³⁰ = 2³¹ − 16384
		{32897, 1 << 30, false},
		{65793, 0, true},
		{65794, 0, false},
	} {
		l := &Layer{Bias: []int32{-c.bias}, packed: fixed.PackBT(make([]int8, c.k), 1, c.k, c.k)}
		if got := l.noWrap(); got != c.want {
			t.Errorf("K %d, bias %d: noWrap %v, want %v", c.k, -c.bias, got, c.want)
		}
	}
}
