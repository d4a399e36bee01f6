package nn

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"gorgonia.org/tensor"
)

func TestBuildDeterministic(t *testing.T) {
	a := mustArch(t, "lenet-5")
	n1, _ := Build(a, 42)
	n2, _ := Build(a, 42)
	n3, _ := Build(a, 43)
	p1, p2, p3 := n1.Params(), n2.Params(), n3.Params()
	var names []string
	for i := range p1 {
		names = append(names, p1[i].Name)
		if !slices.Equal(p1[i].Value.Float32s(), p2[i].Value.Float32s()) {
			t.Errorf("%s differs between builds with the same seed", p1[i].Name)
		}
		if slices.Equal(p1[i].Value.Float32s(), p3[i].Value.Float32s()) {
			t.Errorf("%s equal between seeds 42 and 43", p1[i].Name)
		}
	}
	want := []string{"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
		"layers.5.weight", "layers.5.bias", "layers.7.weight", "layers.7.bias"}
	if !slices.Equal(names, want) {
		t.Errorf("param names %v, want %v", names, want)
	}
	if c, ok := n1.Layers()[2].(*Conv2D); !ok || !slices.Equal(c.W.Shape(), tensor.Shape{50, 20, 5, 5}) {
		t.Errorf("layer 2 is %T, want *Conv2D with OIHW weight [50 20 5 5]", n1.Layers()[2])
	}
	if d, ok := n1.Layers()[5].(*Dense); !ok || !slices.Equal(d.W.Shape(), tensor.Shape{500, 800}) {
		t.Errorf("layer 5 is %T, want *Dense with weight [500 800]", n1.Layers()[5])
	}
}

func TestForwardShapeErrors(t *testing.T) {
	net, err := Build(mustArch(t, "lenet-5"), 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		x    *tensor.Dense
		want string
	}{
		{"wrong spatial", zeros(2, 1, 27, 28), "network input shape [2 1 27 28], want [N [1 28 28]]"},
		{"missing batch", zeros(1, 28, 28), "network input shape"},
		{"float64", tensor.New(tensor.WithShape(1, 1, 28, 28), tensor.Of(tensor.Float64)), "dtype float64, want float32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := net.Forward(tc.x, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	layerTests := []struct {
		name  string
		layer Layer
		x     *tensor.Dense
		want  string
	}{
		{"dense", NewDense(4, 2, newRand(0, 0)), zeros(3, 5), "dense: input shape [3 5], want [N [4]]"},
		{"conv channels", NewConv2D(2, 2, 3, 1, 0, newRand(0, 0)), zeros(1, 3, 5, 5), "conv2d: input shape [1 3 5 5], want [N 2 H W]"},
		{"conv too small", NewConv2D(1, 2, 3, 1, 0, newRand(0, 0)), zeros(1, 1, 2, 2), "does not fit"},
		{"pool 2d", &MaxPool2D{Kernel: 2, Stride: 2}, zeros(3, 4), "want [N C H W]"},
		{"batchnorm", NewBatchNorm(3, 0, 0), zeros(2, 4), "batchnorm: input shape [2 4]"},
	}
	for _, tc := range layerTests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.layer.Forward(tc.x, Pass{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := net.Backward(zeros(1, 10)); err == nil {
		t.Fatal("Backward without a training forward succeeded")
	}
	if _, err := net.Forward(zeros(2, 1, 28, 28), true); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Backward(zeros(3, 10)); err == nil || !strings.Contains(err.Error(), "gradient shape") {
		t.Fatalf("Backward with a wrong gradient shape: %v", err)
	}
}

func TestFoldBatchNorm(t *testing.T) {
	a := Arch{Input: []int{2, 8, 8}, Layers: []LayerSpec{
		{Type: TypeConv2D, Filters: 4, Kernel: 3, Pad: 1},
		{Type: TypeBatchNorm},
		{Type: TypeReLU},
		{Type: TypeMaxPool2D, Kernel: 2},
		{Type: TypeFlatten},
		{Type: TypeDense, Units: 6},
		{Type: TypeBatchNorm, Eps: 1e-3},
		{Type: TypeReLU},
		{Type: TypeBatchNorm},
		{Type: TypeDense, Units: 3},
	}}
	net, err := Build(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	randomBatchNorms(net, r)
	x := randTensor(r, 5, 2, 8, 8)
	want, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	folded, err := net.FoldBatchNorm()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, l := range folded.Layers() {
		types = append(types, l.Spec().Type)
	}
	if wantTypes := []string{"conv2d", "relu", "maxpool2d", "flatten", "dense", "relu", "batchnorm", "dense"}; !slices.Equal(types, wantTypes) {
		t.Fatalf("folded layers %v, want %v", types, wantTypes)
	}
	checkFoldedOutputs(t, folded, x, want)
	if _, ok := folded.Param("layers.6.running_var"); !ok {
		t.Error("kept batchnorm not renamed to its new index 6")
	}
}

func TestMaskSurvivesTraining(t *testing.T) {
	net, err := Build(MLP([]int{6}, []int{5}, 3), 1)
	if err != nil {
		t.Fatal(err)
	}
	mask := zeros(5, 6)
	for i := range mask.Float32s() {
		if i%3 == 0 {
			mask.Float32s()[i] = 1
		}
	}
	if err := net.SetMask("layers.0.weight", mask); err != nil {
		t.Fatal(err)
	}
	if err := net.SetMask("layers.0.weight", zeros(6, 5)); err == nil {
		t.Error("mask of the wrong shape accepted")
	}
	if err := net.SetMask("layers.9.weight", mask); err == nil {
		t.Error("mask for a missing parameter accepted")
	}
	set := synthetic(t, 64, []int{6}, 3, 1)
	for _, opt := range []Optimizer{&SGD{LearningRate: 0.1, Momentum: 0.9}, &Adam{LearningRate: 0.01}} {
		if _, err := Train(context.Background(), net, set, TrainConfig{Epochs: 2, BatchSize: 8, Opt: opt}, nil); err != nil {
			t.Fatal(err)
		}
		p, _ := net.Param("layers.0.weight")
		for i, v := range p.Value.Float32s() {
			if (mask.Float32s()[i] == 0) != (v == 0) {
				t.Fatalf("%T: weight %d = %v with mask %v", opt, i, v, mask.Float32s()[i])
			}
		}
	}
}

// synthetic returns a learnable random classification set: the label is the
// argmax of a fixed random linear map of the features.
func synthetic(t *testing.T, n int, shape []int, classes int, seed uint64) *data.Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	f := prod(shape)
	proj := make([]float64, f*classes)
	for i := range proj {
		proj[i] = r.NormFloat64()
	}
	d := &data.Dataset{Name: "synthetic", N: n, C: 1, H: 1, W: f, Classes: classes,
		Images: make([]float32, n*f), Labels: make([]int, n)}
	if len(shape) == 3 {
		d.C, d.H, d.W = shape[0], shape[1], shape[2]
	}
	if len(shape) == 1 {
		d.C, d.H, d.W = f, 1, 1
	}
	for i := 0; i < n; i++ {
		x := d.Images[i*f : (i+1)*f]
		best, bi := math.Inf(-1), 0
		for j := range x {
			x[j] = float32(r.NormFloat64())
		}
		for c := 0; c < classes; c++ {
			var s float64
			for j, v := range x {
				s += float64(v) * proj[c*f+j]
			}
			if s > best {
				best, bi = s, c
			}
		}
		d.Labels[i] = bi
	}
	return d
}

func TestTrainDeterministicAndLearns(t *testing.T) {
	a := CNN(CNNConfig{Input: []int{1, 6, 6}, Filters: []int{8}, BatchNorm: true, Hidden: []int{32}, Dropout: 0.1, Classes: 3})
	set := synthetic(t, 300, []int{1, 6, 6}, 3, 2)
	train, val := set.Split(240)
	run := func(seed int64) (History, []Param) {
		net, err := Build(a, 7)
		if err != nil {
			t.Fatal(err)
		}
		var reports int
		h, err := Train(context.Background(), net, train, TrainConfig{
			Epochs: 12, BatchSize: 16, LR: 0.05, Schedule: ScheduleCosine, Seed: seed, Val: val,
		}, func(Progress) { reports++ })
		if err != nil {
			t.Fatal(err)
		}
		if want := 12 * (15 + 1); reports != want {
			t.Errorf("%d progress reports, want %d", reports, want)
		}
		return h, net.Params()
	}
	h1, p1 := run(11)
	h2, p2 := run(11)
	_, p3 := run(12)
	for i := range p1 {
		if !slices.Equal(p1[i].Value.Float32s(), p2[i].Value.Float32s()) {
			t.Fatalf("%s differs between runs with the same seed", p1[i].Name)
		}
	}
	if slices.Equal(p1[0].Value.Float32s(), p3[0].Value.Float32s()) {
		t.Error("different seeds gave identical weights")
	}
	for i := range h1.Epochs {
		e1, e2 := h1.Epochs[i], h2.Epochs[i]
		if e1.TrainLoss != e2.TrainLoss || e1.ValAcc != e2.ValAcc || e1.ValLoss != e2.ValLoss {
			t.Errorf("epoch %d differs between runs with the same seed: %+v vs %+v", i+1, e1, e2)
		}
	}
	// The labels are a linear function of the pixels, which max pooling
	// partly hides, so the small CNN fits the training set better than it
	// generalizes; check that it fits and beats chance (1/3) on held-out data.
	first, last := h1.Epochs[0], h1.Epochs[len(h1.Epochs)-1]
	if !(last.TrainLoss < 0.7*first.TrainLoss) || last.ValAcc < 0.45 {
		t.Errorf("did not learn: epoch 1 loss %.3f, epoch %d loss %.3f val acc %.3f", first.TrainLoss, last.Epoch, last.TrainLoss, last.ValAcc)
	}
	if last.LR > 0.05*0.01 {
		t.Errorf("cosine schedule ended at lr %g", last.LR)
	}
}

func TestTrainCancelAndConfig(t *testing.T) {
	net, err := Build(MLP([]int{4}, []int{3}, 2), 1)
	if err != nil {
		t.Fatal(err)
	}
	set := synthetic(t, 100, []int{4}, 2, 3)
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	_, err = Train(ctx, net, set, TrainConfig{Epochs: 5, BatchSize: 10}, func(p Progress) {
		batches++
		if batches == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || batches != 3 {
		t.Fatalf("err = %v after %d batches, want context.Canceled after 3", err, batches)
	}
	err = TrainConfig{Epochs: -1, Optimizer: "rmsprop", Schedule: "linear", Momentum: 1}.Validate()
	for _, w := range []string{"Epochs", "Optimizer", "Schedule", "Momentum"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate error %v lacks %s", err, w)
		}
	}
	if _, err := Train(context.Background(), net, synthetic(t, 10, []int{5}, 2, 1), TrainConfig{}, nil); err == nil {
		t.Error("training on mismatched samples succeeded")
	}
}

func TestEarlyStopRestoreBest(t *testing.T) {
	net, err := Build(MLP([]int{8}, []int{8}, 3), 1)
	if err != nil {
		t.Fatal(err)
	}
	set := synthetic(t, 200, []int{8}, 3, 4)
	train, val := set.Split(150)
	// A huge learning rate makes validation accuracy stall quickly.
	h, err := Train(context.Background(), net, train, TrainConfig{Epochs: 30, LR: 5, Patience: 2, RestoreBest: true, Val: val}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !h.EarlyStopped || len(h.Epochs) >= 30 || len(h.Epochs) != h.BestEpoch+2 {
		t.Fatalf("early stop: %d epochs, best %d, stopped %v", len(h.Epochs), h.BestEpoch, h.EarlyStopped)
	}
	acc, _, err := Evaluate(net, val)
	if err != nil {
		t.Fatal(err)
	}
	if acc != h.Epochs[h.BestEpoch-1].ValAcc {
		t.Fatalf("restored accuracy %v, best epoch had %v", acc, h.Epochs[h.BestEpoch-1].ValAcc)
	}
}

func TestConcurrentInference(t *testing.T) {
	a := CNN(CNNConfig{Input: []int{1, 8, 8}, Filters: []int{4}, BatchNorm: true, Hidden: []int{8}, Dropout: 0.5, Classes: 3})
	net, err := Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(rand.New(rand.NewPCG(1, 1)), 20, 1, 8, 8)
	want, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 5 {
				y, err := net.Forward(x, false)
				if err != nil {
					errs <- err
					return
				}
				if !slices.Equal(y.Float32s(), want.Float32s()) {
					errs <- errors.New("concurrent inference changed the output")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestTrainIndependentOfGOMAXPROCS trains on shapes large enough for the
// parallel GEMM and conv paths with one and with several threads and
// requires bit-identical weights.
func TestTrainIndependentOfGOMAXPROCS(t *testing.T) {
	a := Arch{Input: []int{1, 28, 28}, Layers: []LayerSpec{
		{Type: TypeConv2D, Filters: 6, Kernel: 5},
		{Type: TypeMaxPool2D, Kernel: 2},
		{Type: TypeFlatten},
		{Type: TypeDense, Units: 300},
		{Type: TypeReLU},
		{Type: TypeDense, Units: 10},
	}}
	set := synthetic(t, 256, []int{1, 28, 28}, 10, 5)
	run := func(procs int) []Param {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		net, err := Build(a, 3)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Train(context.Background(), net, set, TrainConfig{Epochs: 1, BatchSize: 128, LR: 0.01, Seed: 3}, nil); err != nil {
			t.Fatal(err)
		}
		return net.Params()
	}
	one, four := run(1), run(4)
	for i := range one {
		if !slices.Equal(one[i].Value.Float32s(), four[i].Value.Float32s()) {
			t.Errorf("%s differs between GOMAXPROCS 1 and 4", one[i].Name)
		}
	}
}

func TestNewNetwork(t *testing.T) {
	a := CNN(CNNConfig{Input: []int{1, 8, 8}, Filters: []int{3}, BatchNorm: true, Hidden: []int{5}, Classes: 2})
	src, err := Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(rand.New(rand.NewPCG(1, 1)), 2, 1, 8, 8)
	want, _ := src.Forward(x, false)
	net, err := NewNetwork(a, src.Layers(), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := net.Forward(x, false)
	if !slices.Equal(got.Float32s(), want.Float32s()) {
		t.Fatal("reassembled network computes something else")
	}
	layers := src.Layers()
	layers[0] = NewConv2D(1, 4, 3, 1, 1, newRand(0, 0))
	if _, err := NewNetwork(a, layers, 0); err == nil || !strings.Contains(err.Error(), "layers[0]") {
		t.Fatalf("mismatched conv accepted: %v", err)
	}
	layers = src.Layers()
	layers[5] = NewDense(10, 5, newRand(0, 0)) // flatten gives 3*4*4 = 48 inputs
	if _, err := NewNetwork(a, layers, 0); err == nil || !strings.Contains(err.Error(), "layers[5]: dense 5x10") {
		t.Fatalf("dense of the wrong input size accepted: %v", err)
	}
	if _, err := NewNetwork(a, src.Layers()[:3], 0); err == nil {
		t.Fatal("too few layers accepted")
	}
}

// TestTrainStopsOnDivergence: a learning rate far too high drives the loss
// to Inf or NaN, and Train says so instead of training on garbage.
func TestTrainStopsOnDivergence(t *testing.T) {
	set := synthetic(t, 256, []int{20}, 4, 3)
	for i := range set.Images {
		set.Images[i] *= 1e3
	}
	net, err := Build(MLP([]int{20}, []int{32}, 4), 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Train(context.Background(), net, set, TrainConfig{Epochs: 5, LR: 1e6, Seed: 1}, nil)
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("Train at lr 1e6 returned %v, want ErrDiverged", err)
	}
}

// randomBatchNorms gives every BatchNorm of net non-trivial statistics and
// affine parameters, so folding them is tested on more than the identity.
func randomBatchNorms(net *Network, r *rand.Rand) {
	for _, l := range net.Layers() {
		if bn, ok := l.(*BatchNorm); ok {
			uniform(r, bn.Gamma.Float32s(), 2)
			uniform(r, bn.Beta.Float32s(), 1)
			uniform(r, bn.RunningMean.Float32s(), 1)
			for i := range bn.RunningVar.Float32s() {
				bn.RunningVar.Float32s()[i] = float32(0.1 + r.Float64())
			}
		}
	}
}

// checkFoldedOutputs requires folded's inference output on x to equal want,
// the unfolded network's, within 1e-4·(1+|want|).
func checkFoldedOutputs(t *testing.T, folded *Network, x, want *tensor.Dense) {
	t.Helper()
	got, err := folded.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range want.Float32s() {
		if g := got.Float32s()[i]; math.Abs(float64(g-v)) > 1e-4*(1+math.Abs(float64(v))) {
			t.Fatalf("output %d: folded %v, original %v", i, g, v)
		}
	}
}
