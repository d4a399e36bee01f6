package qnn_test

// The zoo model comes through compress/onnx, which imports qnn for its int8
// export: this test lives in an external package to avoid an import cycle.

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/internal/mnist"
)

var mnistRaw = sync.OnceValues(func() ([2]*data.Dataset, error) {
	train, test, err := mnist.Load(context.Background(), data.RawPixels())
	return [2]*data.Dataset{train, test}, err
})

// loadRaw returns the MNIST sets with raw pixel values (the zoo model's
// input), skipping the test when MNIST is not available.
func loadRaw(t testing.TB) (train, test *data.Dataset) {
	t.Helper()
	sets, err := mnistRaw()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	return sets[0], sets[1]
}

// zooNet imports the ONNX model-zoo MNIST CNN (98.91% in float32).
func zooNet(t testing.TB) *nn.Network {
	t.Helper()
	b, err := os.ReadFile("../onnx/testdata/mnist-8/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	net, err := onnx.Import(b)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

// TestZooInteger quantizes the zoo CNN with each calibration method
// (1,000 training images) and checks on the 10,000 test images: the
// integer path within 0.1 pt of the fake-quant float simulation, the
// best method within 0.3 pt of float32, and the integer path equal to the
// reference path bit for bit on the first 200 test images.
func TestZooInteger(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST")
	}
	train, test := loadRaw(t)
	net := zooNet(t)
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
		fake, err := qnn.Evaluate(context.Background(), m, test, qnn.PathFake)
		if err != nil {
			t.Fatal(err)
		}
		ints, err := qnn.Evaluate(context.Background(), m, test, qnn.PathInt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("zoo CNN %-10s float32 %.4f  fake-quant %.4f  integer %.4f", method, base, fake.Accuracy(), ints.Accuracy())
		if d := ints.Accuracy() - fake.Accuracy(); d > 0.001 || d < -0.001 {
			t.Errorf("%s: integer %.4f vs fake-quant %.4f differ by more than 0.1 pt", method, ints.Accuracy(), fake.Accuracy())
		}
		best = max(best, ints.Accuracy())
		x := m.QuantizeInput(test.Subset(200).Images)
		got, err := m.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.ForwardRef(x)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: integer path differs from the reference path", method)
		}
	}
	if best < base-0.003 {
		t.Errorf("best int8 accuracy %.4f is more than 0.3 pt below float32 %.4f", best, base)
	}
}
