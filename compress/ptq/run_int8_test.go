package ptq

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/safetensors"
)

// randomSet returns n random 8×8 one-channel images with random labels
// of 4 classes, pixels scaled to [0, 1].
func randomSet(t *testing.T, n int, seed uint64) *data.Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 9))
	px, labels := make([]byte, n*64), make([]byte, n)
	for i := range px {
		px[i] = byte(r.IntN(256))
	}
	for i := range labels {
		labels[i] = byte(r.IntN(4))
	}
	d, err := data.NewDataset("random", &data.IDX{Dims: []int{n, 8, 8}, Data: px}, &data.IDX{Dims: []int{n}, Data: labels}, data.UnitRange(), 4)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRunWritesIntegerModel checks that the full recipe without k-means
// stores the integer-only model it built: qnn.Load reads the artifact back
// without calibration, and its integer logits equal Result.Model's bit for
// bit, so its accuracy is AccuracyInt8.
func TestRunWritesIntegerModel(t *testing.T) {
	a := nn.Arch{Input: []int{1, 8, 8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 1}, {Type: nn.TypeBatchNorm}, {Type: nn.TypeReLU},
		{Type: nn.TypeMaxPool2D, Kernel: 2}, {Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 4},
	}}
	net, err := nn.Build(a, 2)
	if err != nil {
		t.Fatal(err)
	}
	calib, test := randomSet(t, 64, 1), randomSet(t, 40, 2)
	norm := data.UnitRange()
	res, err := Run(context.Background(), net, calib, test, RunOptions{InputNorm: &norm, Transform: data.Transform{Mean: []float64{0}, Std: []float64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	back, err := qnn.Load(res.Artifact, safetensors.Limits{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := res.Model.QuantizeInput(test.Images)
	want, err := res.Model.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := back.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("the artifact's integer model differs from the one Run built")
	}
	ev, err := qnn.Evaluate(context.Background(), back, test, qnn.PathInt)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Accuracy() != res.AccuracyInt8 {
		t.Fatalf("reloaded integer accuracy %v, Run reported %v", ev.Accuracy(), res.AccuracyInt8)
	}
}
