package qnn

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/internal/mnist"
)

// lenet5Recipe is compress/nn's long acceptance recipe for LeNet-5 (99.31%
// with seed 1 over 15 epochs).
var lenet5Recipe = nn.TrainConfig{Epochs: 15, BatchSize: 64, LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4, Schedule: nn.ScheduleCosine, Seed: 1}

// TestLeNet5MNIST trains LeNet-5 on the full MNIST training set with
// lenet5Recipe (inputs in [0, 1], so raw pixels are the integer model's
// input codes) and checks its int8 versions on the 10,000 test images:
//
//   - PTQ, symmetric per-channel int8 weights, uint8 activations calibrated
//     on 1,000 training images by each method: the best integer accuracy
//     within 0.3 pt of float32;
//   - for every method, the integer path equal to the reference path bit
//     for bit on the first 1,000 test images, and within 0.1 pt of the
//     fake-quant simulation on all of them;
//   - QAT (one epoch on the training set, learning rate 0.001, the ranges
//     of the worst calibration method kept fixed): the integer accuracy
//     within 0.1 pt of float32;
//   - the harder case of 4-bit weight codes (ranges of the best method),
//     where PTQ loses accuracy: QAT within 0.1 pt of float32 again.
//
// It trains for minutes, so it runs only with COMPRESSQ_LONG=1:
//
//	COMPRESSQ_LONG=1 go test ./compress/qnn -run TestLeNet5MNIST -v -timeout 1h
func TestLeNet5MNIST(t *testing.T) {
	if os.Getenv("COMPRESSQ_LONG") != "1" {
		t.Skip("set COMPRESSQ_LONG=1 to train LeNet-5 on MNIST")
	}
	ctx := context.Background()
	norm := data.UnitRange()
	train, test, err := mnist.Load(ctx, norm)
	if err != nil {
		t.Fatal(err)
	}
	a, err := nn.ArchByName("lenet-5")
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(a, lenet5Recipe.Seed)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := nn.Train(ctx, net, train, lenet5Recipe, nil); err != nil {
		t.Fatal(err)
	}
	base, _, err := nn.Evaluate(net, test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lenet-5 float32: %.4f after %d epochs, seed %d (%v)", base, lenet5Recipe.Epochs, lenet5Recipe.Seed, time.Since(start).Round(time.Second))
	if base < 0.990 {
		t.Fatalf("float32 accuracy %.4f < 0.990: not a well-trained model", base)
	}
	checkLeNet5Int8(t, net, train, test, base, norm)
}

// checkLeNet5Int8 runs the PTQ and QAT checks of TestLeNet5MNIST on a
// trained network.
func checkLeNet5Int8(t *testing.T, net *nn.Network, train, test *data.Dataset, base float64, norm data.Normalization) {
	ctx := context.Background()
	p, err := Prepare(net)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := Calibrate(ctx, p, train, 1000)
	if err != nil {
		t.Fatal(err)
	}
	exact := test.Subset(1000)
	best, worst := 0.0, 1.0
	var bestRanges, worstRanges []Range
	var bestMethod, worstMethod string
	for _, method := range quant.CalibMethods() {
		r, err := Ranges(obs, method)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Quantize(p, r, Options{InputNorm: &norm})
		if err != nil {
			t.Fatal(err)
		}
		fake, ints := evaluateBoth(t, m, test)
		t.Logf("PTQ %-10s float32 %.4f  fake-quant %.4f  int8 %.4f (%+.2f pt)", method, base, fake, ints, 100*(ints-base))
		if d := ints - fake; d > 0.001 || d < -0.001 {
			t.Errorf("%s: int8 %.4f and fake-quant %.4f differ by more than 0.1 pt", method, ints, fake)
		}
		checkMatchesRef(t, m, exact.Images, method)
		if ints > best {
			best, bestRanges, bestMethod = ints, r, method
		}
		if ints < worst {
			worst, worstRanges, worstMethod = ints, r, method
		}
	}
	if best < base-0.003 {
		t.Errorf("best PTQ int8 accuracy %.4f is more than 0.3 pt below float32 %.4f", best, base)
	}

	qat := func(ranges []Range, bits int) (ptqAcc, qatAcc float64) {
		t.Helper()
		m, err := Quantize(p, ranges, Options{InputNorm: &norm, WeightBits: bits})
		if err != nil {
			t.Fatal(err)
		}
		_, ptqAcc = evaluateBoth(t, m, test)
		q := p.Clone()
		cfg := QATConfig{Epochs: 1, LR: 0.001, Seed: 1, WeightBits: bits}
		start := time.Now()
		if err := TrainQAT(ctx, q, ranges, train, cfg); err != nil {
			t.Fatal(err)
		}
		if m, err = Quantize(q, ranges, Options{InputNorm: &norm, WeightBits: bits}); err != nil {
			t.Fatal(err)
		}
		fake, ints := evaluateBoth(t, m, test)
		t.Logf("%d-bit weights: PTQ %.4f (%+.2f pt vs float32); QAT %d epoch lr %g seed %d (%v): fake-quant %.4f  integer %.4f (%+.2f pt)",
			bits, ptqAcc, 100*(ptqAcc-base), cfg.Epochs, cfg.LR, cfg.Seed, time.Since(start).Round(time.Second), fake, ints, 100*(ints-base))
		return ptqAcc, ints
	}
	t.Logf("QAT from the %s ranges (the worst PTQ method)", worstMethod)
	if _, ints := qat(worstRanges, 8); ints < base-0.001 {
		t.Errorf("QAT int8 accuracy %.4f is more than 0.1 pt below float32 %.4f", ints, base)
	}
	// The harder case: 4-bit weights, where PTQ loses accuracy.
	t.Logf("QAT from the %s ranges (the best PTQ method)", bestMethod)
	ptq4, qat4 := qat(bestRanges, 4)
	if qat4 < base-0.001 {
		t.Errorf("QAT accuracy with 4-bit weights %.4f is more than 0.1 pt below float32 %.4f (PTQ %.4f)", qat4, base, ptq4)
	}
}

// evaluateBoth returns the fake-quant and integer accuracies of m on set.
func evaluateBoth(t *testing.T, m *Model, set *data.Dataset) (fake, ints float64) {
	t.Helper()
	f, err := Evaluate(context.Background(), m, set, PathFake)
	if err != nil {
		t.Fatal(err)
	}
	i, err := Evaluate(context.Background(), m, set, PathInt)
	if err != nil {
		t.Fatal(err)
	}
	return f.Accuracy(), i.Accuracy()
}
