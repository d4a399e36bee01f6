package qnn_test

// The zoo model comes through compress/onnx, which imports qnn for its int8
// export: this test lives in an external package to avoid an import cycle.

import (
	"context"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
)

// TestZooInteger quantizes the zoo CNN with each calibration method
// (1,000 training images) and checks on the 10,000 test images: the
// integer path within 0.1 pt of the fake-quant float simulation, the
// best method within 0.3 pt of float32, and the integer path equal to the
// reference path bit for bit on the first 200 test images.
func TestZooInteger(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST")
	}
	train, test := loadSets(t, mnistRaw)
	net := importONNX(t, "../onnx/testdata/mnist-8/model.onnx") // 98.91% in float32
	base, _, err := nn.Evaluate(net, test)
	if err != nil {
		t.Fatal(err)
	}
	norm := data.RawPixels()
	p, err := qnn.Prepare(net)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := qnn.Calibrate(context.Background(), p, train, 1000)
	if err != nil {
		t.Fatal(err)
	}
	best := 0.0
	for _, method := range quant.CalibMethods() {
		r, err := qnn.Ranges(obs, method)
		if err != nil {
			t.Fatal(err)
		}
		m, err := qnn.Quantize(p, r, qnn.Options{InputNorm: &norm})
		if err != nil {
			t.Fatal(err)
		}
		fake, ints := evaluate(t, m, test)
		t.Logf("zoo CNN %-10s float32 %.4f  fake-quant %.4f  integer %.4f", method, base, fake, ints)
		if d := ints - fake; d > 0.001 || d < -0.001 {
			t.Errorf("%s: integer %.4f vs fake-quant %.4f differ by more than 0.1 pt", method, ints, fake)
		}
		best = max(best, ints)
		checkRef(t, m, test.Subset(200), method)
	}
	if best < base-0.003 {
		t.Errorf("best int8 accuracy %.4f is more than 0.3 pt below float32 %.4f", best, base)
	}
}
