package onnx

import (
	"context"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/internal/mnist"
	"gorgonia.org/tensor"
)

// floatTolerance is the agreement the float export must reach with
// compressq's forward pass: every logit within 1e-4 of the largest
// magnitude among its sample's logits (float32 summation order differs
// between the two engines).
const floatTolerance = 1e-4

// compareLogits fails t if got and want differ by more than tol relative
// to each sample's largest |want| logit; it returns the worst relative
// difference.
func compareLogits(t *testing.T, what string, got, want []float32, classes int, tol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for s := 0; s < len(want)/classes; s++ {
		row := want[s*classes : (s+1)*classes]
		scale := 0.0
		for _, v := range row {
			scale = max(scale, math.Abs(float64(v)))
		}
		scale = max(scale, 1e-6)
		for j, v := range row {
			d := math.Abs(float64(got[s*classes+j]-v)) / scale
			if d > worst {
				worst = d
			}
			if d > tol || math.IsNaN(float64(got[s*classes+j])) {
				t.Fatalf("%s: sample %d logit %d = %g, want %g (relative difference %.2g > %g)", what, s, j, got[s*classes+j], v, d, tol)
			}
		}
	}
	return worst
}

// forward runs net on the n first images of set and returns the logits.
func forward(t *testing.T, net *nn.Network, x []float32, n int) []float32 {
	t.Helper()
	y, err := net.Forward(tensor.New(tensor.WithShape(append([]int{n}, net.InputShape()...)...), tensor.WithBacking(slices.Clone(x))), false)
	if err != nil {
		t.Fatal(err)
	}
	return y.Float32s()
}

// randomInputs returns n deterministic pseudo-random samples of shape in.
func randomInputs(n int, in []int) []float32 {
	per := 1
	for _, d := range in {
		per *= d
	}
	x := make([]float32, n*per)
	s := uint32(12345)
	for i := range x {
		s = s*1664525 + 1013904223
		x[i] = float32(s>>8)/float32(1<<24)*2 - 0.5
	}
	return x
}

// checkRoundTrip decodes an export, re-imports it and checks the imported
// network computes the same logits as net on x.
func checkRoundTrip(t *testing.T, net *nn.Network, model []byte, x []float32, n int) {
	t.Helper()
	g, err := Decode(model, Limits{})
	if err != nil {
		t.Fatalf("decode the export: %v", err)
	}
	if (g.Opset != ExportOpset && g.Opset != ExportOpsetHardSwish) || len(g.Inputs) != 1 || g.Inputs[0].Name != InputName || g.Inputs[0].Shape[0] != -1 ||
		len(g.Outputs) != 1 || g.Outputs[0].Name != OutputName {
		t.Fatalf("decoded graph: opset %d, inputs %+v, outputs %+v", g.Opset, g.Inputs, g.Outputs)
	}
	back, err := GraphToNetwork(g)
	if err != nil {
		t.Fatalf("re-import: %v", err)
	}
	want := forward(t, net, x, n)
	got := forward(t, back, x, n)
	compareLogits(t, "round trip", got, want, len(want)/n, 1e-6)
}

// checkORT runs model in ONNX Runtime on x and compares with net.
func checkORT(t *testing.T, net *nn.Network, model []byte, x []float32, n int) float64 {
	t.Helper()
	dims := append([]int{n}, net.InputShape()...)
	out := runORT(t, model, map[string]ortTensor{InputName: float32Input(dims, x)}, 1)
	got, ok := out[OutputName]
	if !ok {
		t.Fatalf("ONNX Runtime outputs %v, want %q", out, OutputName)
	}
	want := forward(t, net, x, n)
	return compareLogits(t, "ONNX Runtime", got.float32s(t), want, len(want)/n, floatTolerance)
}

// TestExportFloatSeedWeights exports seed-weight networks of every layer
// type (and a structurally pruned one), decodes and re-imports each,
// checks it with the ONNX checker and runs it in ONNX Runtime.
func TestExportFloatSeedWeights(t *testing.T) {
	lenet5, _ := nn.ArchByName("lenet-5")
	mlp, _ := nn.ArchByName("lenet-300-100")
	cnn := nn.CNN(nn.CNNConfig{Input: []int{3, 16, 16}, Filters: []int{8, 12}, BatchNorm: true, Hidden: []int{32}, Dropout: 0.25, Classes: 5})
	avg := nn.Arch{Name: "avg", Input: []int{2, 12, 12}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Stride: 2, Pad: 1},
		{Type: nn.TypeAvgPool2D, Kernel: 2},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeDense, Units: 6},
		{Type: nn.TypeDropout, Rate: 0.1},
	}}
	cases := []struct {
		name   string
		arch   nn.Arch
		shrink bool
	}{
		{"lenet-5", lenet5, false},
		{"lenet-300-100", mlp, false},
		{"lenet-5 structured", lenet5, true},
		{"cnn batchnorm dropout", cnn, false},
		{"avgpool batchnorm last dropout", avg, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			net, err := nn.Build(tc.arch, 7)
			if err != nil {
				t.Fatal(err)
			}
			setBatchNormStats(net)
			if tc.shrink {
				if net, err = prune.Structured(net, map[int]float64{0: 0.5, 2: 0.3, 5: 0.6}, prune.NormL1); err != nil {
					t.Fatal(err)
				}
				if got := net.Layers()[0].(*nn.Conv2D).OutC; got != 10 {
					t.Fatalf("structured pruning kept %d filters, want 10", got)
				}
			}
			model, err := ExportNetwork(net, ExportOptions{ProducerVersion: "test"})
			if err != nil {
				t.Fatal(err)
			}
			const n = 7
			x := randomInputs(n, net.InputShape())
			checkRoundTrip(t, net, model, x, n)
			checkONNX(t, model)
			worst := checkORT(t, net, model, x, n)
			t.Logf("%d bytes; ONNX Runtime worst relative logit difference %.2g", len(model), worst)
		})
	}
}

// setBatchNormStats gives every BatchNorm non-trivial parameters and
// running statistics, so the export of all four is exercised.
func setBatchNormStats(net *nn.Network) {
	for _, l := range net.Layers() {
		bn, ok := l.(*nn.BatchNorm)
		if !ok {
			continue
		}
		for i := range bn.Features {
			f := float32(i)
			bn.Gamma.Float32s()[i] = 0.5 + 0.1*f
			bn.Beta.Float32s()[i] = 0.2 - 0.05*f
			bn.RunningMean.Float32s()[i] = 0.1 * f
			bn.RunningVar.Float32s()[i] = 0.5 + 0.2*f
		}
	}
}

// TestExportMetadata checks the producer and preprocessing metadata and
// the bad-input errors.
func TestExportMetadata(t *testing.T) {
	a, _ := nn.ArchByName("lenet-300-100")
	net, err := nn.Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	pre := Preprocessing{PixelScale: 1.0 / 255, Mean: []float32{0.1307}, Std: []float32{0.3081}}
	model, err := ExportNetwork(net, ExportOptions{ProducerVersion: "v1.2.3", Preprocessing: &pre})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := Metadata(model)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{MetaProducer: "compressq", MetaVersion: "v1.2.3", MetaForm: "float", MetaLayout: "NCHW",
		"producer_name": "compressq", "producer_version": "v1.2.3"}
	for k, v := range want {
		if meta[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], v)
		}
	}
	for k, v := range map[string]float64{MetaPixelScale: 1.0 / 255, MetaMean: 0.1307, MetaStd: 0.3081} {
		got, err := strconv.ParseFloat(meta[k], 64)
		if err != nil || math.Abs(got-v) > 1e-6 {
			t.Errorf("metadata %s = %q, want %g", k, meta[k], v)
		}
	}
	if meta[MetaPreprocess] == "" {
		t.Errorf("metadata %s missing", MetaPreprocess)
	}
	bad := Preprocessing{PixelScale: 1, Mean: []float32{0, 0}, Std: []float32{0}}
	if _, err := ExportNetwork(net, ExportOptions{Preprocessing: &bad}); err == nil {
		t.Error("export with 2 means for 1 channel and std 0: no error")
	} else {
		t.Logf("bad preprocessing: %v", err)
	}
}

var mnistUnit = sync.OnceValues(func() ([2]*data.Dataset, error) {
	train, test, err := mnist.Load(context.Background(), data.UnitRange())
	return [2]*data.Dataset{train, test}, err
})

// mnistUnitRange returns MNIST with pixels in [0, 1], loaded once per
// test binary; it skips the test when MNIST is not available.
func mnistUnitRange(t testing.TB) (train, test *data.Dataset) {
	t.Helper()
	sets, err := mnistUnit()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	return sets[0], sets[1]
}

// trainedNets caches briefly trained networks by architecture name.
var trainedNets = struct {
	sync.Mutex
	m map[string]*nn.Network
}{m: map[string]*nn.Network{}}

// trainImages is how many MNIST training images trained uses per
// architecture: all of them for the fast LeNet-300-100, a third for
// LeNet-5, whose epoch costs about ten times as much.
var trainImages = map[string]int{"lenet-300-100": 60000, "lenet-5": 20000}

// trained returns the named architecture trained for one epoch on the
// first trainImages[name] MNIST training images ([0, 1] pixels), shared by
// the tests of one binary.
func trained(t *testing.T, name string) *nn.Network {
	t.Helper()
	train, _ := mnistUnitRange(t)
	trainedNets.Lock()
	defer trainedNets.Unlock()
	if net, ok := trainedNets.m[name]; ok {
		return net
	}
	a, err := nn.ArchByName(name)
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := nn.TrainConfig{Epochs: 1, BatchSize: 64, LR: 0.05, Momentum: 0.9, Seed: 1}
	if _, err := nn.Train(context.Background(), net, train.Subset(trainImages[name]), cfg, nil); err != nil {
		t.Fatal(err)
	}
	trainedNets.m[name] = net
	return net
}

// TestExportTrainedLeNetORT exports briefly trained LeNet-5 and
// LeNet-300-100 and compares ONNX Runtime's logits with compressq's on
// 1,000 MNIST test images.
func TestExportTrainedLeNetORT(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST")
	}
	_, test := mnistUnitRange(t)
	for _, name := range []string{"lenet-5", "lenet-300-100"} {
		t.Run(name, func(t *testing.T) {
			net := trained(t, name)
			acc, _, err := nn.Evaluate(net, test)
			if err != nil {
				t.Fatal(err)
			}
			pre := PreprocessingFromNormalization(data.UnitRange())
			model, err := ExportNetwork(net, ExportOptions{Preprocessing: &pre})
			if err != nil {
				t.Fatal(err)
			}
			checkONNX(t, model)
			sub := test.Subset(1000)
			worst := checkORT(t, net, model, sub.Images, sub.Len())
			t.Logf("%s trained 1 epoch on %d images: accuracy %.4f; ONNX Runtime on 1,000 test images: worst relative logit difference %.2g (tolerance %g)",
				name, trainImages[name], acc, worst, floatTolerance)
		})
	}
}

// TestExportZooModelORT imports the ONNX zoo MNIST model, exports it again
// and compares ONNX Runtime's logits on the export with compressq's on
// 1,000 test images (raw 0..255 pixels, as the zoo model expects).
func TestExportZooModelORT(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the MNIST test set")
	}
	net, err := Import(readTestdata(t, "mnist-8/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	model, err := ExportNetwork(net, ExportOptions{Preprocessing: &Preprocessing{PixelScale: 1, Mean: []float32{0}, Std: []float32{1}}})
	if err != nil {
		t.Fatal(err)
	}
	sub := mnistRawTest(t).Subset(1000)
	checkRoundTrip(t, net, model, sub.Images[:10*784], 10)
	checkONNX(t, model)
	worst := checkORT(t, net, model, sub.Images, sub.Len())
	t.Logf("zoo mnist-8 re-exported (%d bytes): ONNX Runtime on 1,000 test images: worst relative logit difference %.2g", len(model), worst)
}
