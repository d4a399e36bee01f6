package qnn_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/internal/mnist"
	"gorgonia.org/tensor"
)

// mnistLoader returns a loader of MNIST normalized by norm that reads the
// files once per test binary.
func mnistLoader(norm data.Normalization) func() ([2]*data.Dataset, error) {
	return sync.OnceValues(func() ([2]*data.Dataset, error) {
		train, test, err := mnist.Load(context.Background(), norm)
		return [2]*data.Dataset{train, test}, err
	})
}

// mnistUnit holds MNIST with pixels/255, the PyTorch fixtures' input;
// mnistRaw with raw pixel values, the zoo model's.
var mnistUnit, mnistRaw = mnistLoader(data.UnitRange()), mnistLoader(data.RawPixels())

// loadSets returns the sets load gives, skipping the test when MNIST is
// not available.
func loadSets(t testing.TB, load func() ([2]*data.Dataset, error)) (train, test *data.Dataset) {
	t.Helper()
	sets, err := load()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	return sets[0], sets[1]
}

// importONNX imports the ONNX model at path.
func importONNX(t testing.TB, path string) *nn.Network {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	net, err := onnx.Import(b)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

// pytorchNet imports one of the PyTorch-exported ONNX fixtures.
func pytorchNet(t testing.TB, name string) *nn.Network {
	t.Helper()
	return importONNX(t, "../onnx/testdata/pytorch/"+name+".onnx")
}

// TestPyTorchGraphsInt8 quantizes the PyTorch ResNet (residual Adds, a
// stride-2 block with a 1×1 projection shortcut, global average pooling)
// and MobileNet (depthwise 3×3 + ReLU6 + pointwise blocks) fixtures: int8
// per-channel weights, uint8 activations calibrated on 1,000 training
// images (min/max and percentile), raw pixels as input codes. On the
// 10,000 test images it checks, for each method, the integer path within
// 0.1 pt of the fake-quant simulation, and the integer path equal to its
// reference bit for bit on the first 200 test images; and the better
// method within 0.5 pt of float32. Then one short QAT run (100 batches of
// 64 from the worse method's ranges, learning rate 1e-4: fine-tuning the
// BN-folded ResNet at 1e-3 costs about 0.8 pt even in plain float32):
// integer accuracy again within 0.5 pt of float32 and within 0.1 pt of
// fake-quant.
//
//	go test ./compress/qnn -run TestPyTorchGraphsInt8 -v -timeout 30m
func TestPyTorchGraphsInt8(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST and evaluates 10,000 images several times")
	}
	train, test := loadSets(t, mnistUnit)
	ctx := context.Background()
	norm := data.UnitRange()
	for _, name := range []string{"resnet", "mobilenet"} {
		t.Run(name, func(t *testing.T) {
			net := pytorchNet(t, name)
			base, _, err := nn.Evaluate(net, test)
			if err != nil {
				t.Fatal(err)
			}
			p, err := qnn.Prepare(net)
			if err != nil {
				t.Fatal(err)
			}
			obs, err := qnn.Calibrate(ctx, p, train, 1000)
			if err != nil {
				t.Fatal(err)
			}
			best, worst := 0.0, 1.0
			var worstRanges []qnn.Range
			for _, method := range []string{quant.CalibMinMax, quant.CalibPercentile} {
				r, err := qnn.Ranges(obs, method)
				if err != nil {
					t.Fatal(err)
				}
				m, err := qnn.Quantize(p, r, qnn.Options{InputNorm: &norm})
				if err != nil {
					t.Fatal(err)
				}
				if !m.Graph() {
					t.Fatal("not a graph model")
				}
				fake, ints := evaluate(t, m, test)
				t.Logf("%s PTQ %-10s float32 %.4f  fake-quant %.4f  int8 %.4f (%+.2f pt)", name, method, base, fake, ints, 100*(ints-base))
				if d := ints - fake; d > 0.001 || d < -0.001 {
					t.Errorf("%s: int8 %.4f and fake-quant %.4f differ by more than 0.1 pt", method, ints, fake)
				}
				checkRef(t, m, test.Subset(200), method)
				best = max(best, ints)
				if ints < worst {
					worst, worstRanges = ints, r
				}
			}
			if best < base-0.005 {
				t.Errorf("best PTQ int8 accuracy %.4f is more than 0.5 pt below float32 %.4f", best, base)
			}
			q := p.Clone()
			cfg := qnn.QATConfig{Epochs: 1, MaxBatches: 100, LR: 1e-4, Seed: 1}
			if err := qnn.TrainQAT(ctx, q, worstRanges, train, cfg); err != nil {
				t.Fatal(err)
			}
			m, err := qnn.Quantize(q, worstRanges, qnn.Options{InputNorm: &norm})
			if err != nil {
				t.Fatal(err)
			}
			fake, ints := evaluate(t, m, test)
			t.Logf("%s QAT (%d batches of 64, lr %g) from the worse ranges: fake-quant %.4f  int8 %.4f (%+.2f pt; PTQ %.4f)",
				name, cfg.MaxBatches, cfg.LR, fake, ints, 100*(ints-base), worst)
			if d := ints - fake; d > 0.001 || d < -0.001 {
				t.Errorf("QAT: int8 %.4f and fake-quant %.4f differ by more than 0.1 pt", ints, fake)
			}
			if ints < base-0.005 {
				t.Errorf("QAT int8 accuracy %.4f is more than 0.5 pt below float32 %.4f", ints, base)
			}
			checkRef(t, m, test.Subset(200), "QAT")
		})
	}
}

// evaluate returns the fake-quant and integer accuracies of m on set.
func evaluate(t *testing.T, m *qnn.Model, set *data.Dataset) (fake, ints float64) {
	t.Helper()
	f, err := qnn.Evaluate(context.Background(), m, set, qnn.PathFake)
	if err != nil {
		t.Fatal(err)
	}
	i, err := qnn.Evaluate(context.Background(), m, set, qnn.PathInt)
	if err != nil {
		t.Fatal(err)
	}
	return f.Accuracy(), i.Accuracy()
}

// checkRef requires m's integer path to equal its reference path bit for
// bit on set.
func checkRef(t *testing.T, m *qnn.Model, set *data.Dataset, what string) {
	t.Helper()
	x := m.QuantizeInput(set.Images)
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

// BenchmarkResNetInt8 times the PyTorch ResNet fixture at batch 64 on one
// thread: float32 nn.Network.Forward of the BN-folded network against the
// int8 Model.Forward
// (min/max ranges over 256 random images: timing does not depend on the
// values), alternating which runs first, and reports images/s of each and
// their ratio fp32/int8 (above 1: int8 is faster) from the same run:
//
//	go test ./compress/qnn -run XXX -bench ResNetInt8 -cpu 1 -count 5
func BenchmarkResNetInt8(b *testing.B) {
	net := pytorchNet(b, "resnet")
	p, err := qnn.Prepare(net)
	if err != nil {
		b.Fatal(err)
	}
	const n = 64
	x, m := randomInt8Model(b, p)
	xt := tensor.New(tensor.WithShape(n, 1, 28, 28), tensor.WithBacking(x[:n*784]))
	q := m.QuantizeInput(x[:n*784])
	var fp, in time.Duration
	i := 0
	for b.Loop() {
		run := []func(){func() {
			start := time.Now()
			if _, err := p.Forward(xt, false); err != nil {
				b.Fatal(err)
			}
			fp += time.Since(start)
		}, func() {
			start := time.Now()
			if _, err := m.Forward(q); err != nil {
				b.Fatal(err)
			}
			in += time.Since(start)
		}}
		run[i%2]()
		run[1-i%2]()
		i++
	}
	b.ReportMetric(float64(i*n)/fp.Seconds(), "fp32-img/s")
	b.ReportMetric(float64(i*n)/in.Seconds(), "int8-img/s")
	b.ReportMetric(fp.Seconds()/in.Seconds(), "fp32/int8")
}

// randomInt8Model quantizes the prepared p on one thread with min/max
// ranges over 256 random 28×28 images, and returns those images.
func randomInt8Model(b *testing.B, p *nn.Network) ([]float32, *qnn.Model) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 256*784)
	for i := range x {
		x[i] = r.Float32()
	}
	calib := &data.Dataset{Images: x, Labels: make([]int, 256), N: 256, C: 1, H: 28, W: 28, Classes: 10}
	obs, err := qnn.Calibrate(context.Background(), p, calib, 0)
	if err != nil {
		b.Fatal(err)
	}
	ranges, err := qnn.Ranges(obs, quant.CalibMinMax)
	if err != nil {
		b.Fatal(err)
	}
	m, err := qnn.Quantize(p, ranges, qnn.Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	return x, m
}

// BenchmarkMobileNetInt8 times the PyTorch MobileNet fixture's integer
// Model.Forward (depthwise 3×3 + ReLU6 + pointwise blocks; min/max ranges
// over 256 random images) at batch 1 and 64 on one thread:
//
//	go test ./compress/qnn -run XXX -bench MobileNetInt8 -cpu 1 -count 5
func BenchmarkMobileNetInt8(b *testing.B) {
	net := pytorchNet(b, "mobilenet")
	p, err := qnn.Prepare(net)
	if err != nil {
		b.Fatal(err)
	}
	x, m := randomInt8Model(b, p)
	for _, n := range []int{1, 64} {
		q := m.QuantizeInput(x[:n*784])
		logits := make([]int32, n*m.Classes)
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := m.ForwardThreadsTo(logits, q, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/batch")
		})
	}
}
