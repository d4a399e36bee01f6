package prune

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/runtime"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/internal/mnist"
)

// denseBaseline returns the trained dense network for arch: loaded from
// $COMPRESSQ_PRUNE_DENSE_DIR/<arch>.safetensors when that is set (a model
// file written by model.Save after training with the configuration below),
// else trained here with nn's acceptance configuration (seed 1).
func denseBaseline(t *testing.T, arch string, train *data.Dataset) *nn.Network {
	t.Helper()
	if dir := os.Getenv("COMPRESSQ_PRUNE_DENSE_DIR"); dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, arch+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		net, err := model.Load(b, safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: dense baseline loaded from %s", arch, arch+".safetensors")
		return net
	}
	cfg := nn.TrainConfig{Epochs: 30, BatchSize: 64, LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, Schedule: nn.ScheduleCosine, Seed: 1}
	if arch == "lenet-5" {
		cfg = nn.TrainConfig{Epochs: 15, BatchSize: 64, LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4, Schedule: nn.ScheduleCosine, Seed: 1}
	}
	a, err := nn.ArchByName(arch)
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nn.Train(context.Background(), net, train, cfg, nil); err != nil {
		t.Fatal(err)
	}
	return net
}

// TestMNISTPrune is the acceptance run: global magnitude pruning of
// LeNet-300-100 and LeNet-5 to 92.5% sparse weights along the AGP schedule
// during fine-tuning, requiring ≤ 8.3% of all parameters (biases included)
// nonzero and test error ≤ dense + 0.10 pt; and structured pruning of half
// of LeNet-5's conv filters, requiring a smaller saved model. It takes many
// minutes, so it runs only with COMPRESSQ_LONG=1:
//
//	COMPRESSQ_LONG=1 go test ./compress/prune -run TestMNISTPrune -v -timeout 2h
func TestMNISTPrune(t *testing.T) {
	if os.Getenv("COMPRESSQ_LONG") != "1" {
		t.Skip("set COMPRESSQ_LONG=1 to run the MNIST pruning runs")
	}
	train, test, err := mnist.Load(context.Background(), data.UnitRange())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		arch   string
		epochs int
	}{{"lenet-300-100", 20}, {"lenet-5", 8}} {
		t.Run(c.arch, func(t *testing.T) {
			dense := denseBaseline(t, c.arch, train)
			start := time.Now()
			res, err := Run(context.Background(), dense, train, test, Options{
				Method: MethodGlobal, Sparsity: 0.925, Schedule: ScheduleAGP, Steps: 30,
				FineTuneEpochs: c.epochs,
				Train:          nn.TrainConfig{BatchSize: 64, LR: 0.02, Momentum: 0.9, WeightDecay: 1e-4, Schedule: nn.ScheduleCosine, Seed: 1},
			})
			if err != nil {
				t.Fatal(err)
			}
			kept := float64(res.NonzeroAfter) / float64(res.ParamsAfter)
			errBefore, errAfter := 100*(1-res.AccuracyBefore), 100*(1-res.AccuracyAfter)
			t.Logf("%s: dense error %.2f%% → pruned %.2f%%; nonzero params %d → %d of %d (%.2f%% kept, %.1f× fewer); per layer sparsity %v; %v",
				c.arch, errBefore, errAfter, res.NonzeroBefore, res.NonzeroAfter, res.ParamsAfter, 100*kept,
				float64(res.NonzeroBefore)/float64(res.NonzeroAfter), res.PerLayerSparsity, time.Since(start).Round(time.Second))
			if kept > 0.083 {
				t.Errorf("%.2f%% of parameters kept, want ≤ 8.3%%", 100*kept)
			}
			if errAfter > errBefore+0.10+1e-9 {
				t.Errorf("test error %.2f%% > dense %.2f%% + 0.10 pt", errAfter, errBefore)
			}
			if c.arch != "lenet-5" {
				return
			}
			t.Run("structured", func(t *testing.T) { structuredLeNet5(t, dense, train, test) })
		})
	}
}

// structuredLeNet5 removes half the filters of both conv layers of LeNet-5
// (20 → 10, 50 → 25) by L1 norm, fine-tunes one epoch, and compares the
// saved model sizes, parameter counts and inference latency (the runtime's
// plans, batch 64, one thread, median of 21 runs, both networks timed in
// this run).
func structuredLeNet5(t *testing.T, dense *nn.Network, train, test *data.Dataset) {
	res, err := Run(context.Background(), dense, train, test, Options{
		Method: MethodStructured, PerLayer: map[string]float64{"layers.0.weight": 0.5, "layers.2.weight": 0.5},
		FineTuneEpochs: 1,
		Train:          nn.TrainConfig{BatchSize: 64, LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4, Schedule: nn.ScheduleCosine, Seed: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	var before, after bytes.Buffer
	if err := model.Save(&before, dense); err != nil {
		t.Fatal(err)
	}
	if err := model.Save(&after, res.Network); err != nil {
		t.Fatal(err)
	}
	latBefore, _, err := runtime.PlanLatency(context.Background(), dense, test, 64, 21, 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	latAfter, _, err := runtime.PlanLatency(context.Background(), res.Network, test, 64, 21, 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	a := res.Network.Arch()
	t.Logf("structured lenet-5: filters %d/%d → %d/%d; params %d → %d; saved %d → %d bytes; error %.2f%% → %.2f%% (%.2f%% before fine-tuning); latency batch 64 %v → %v (%.2f×)",
		20, 50, a.Layers[0].Filters, a.Layers[2].Filters, res.ParamsBefore, res.ParamsAfter, before.Len(), after.Len(),
		100*(1-res.AccuracyBefore), 100*(1-res.AccuracyAfter), 100*(1-res.AccuracyPruned),
		latBefore, latAfter, float64(latBefore)/float64(latAfter))
	if a.Layers[0].Filters != 10 || a.Layers[2].Filters != 25 {
		t.Errorf("filters %d, %d, want 10, 25", a.Layers[0].Filters, a.Layers[2].Filters)
	}
	if after.Len() >= before.Len() || res.ParamsAfter >= res.ParamsBefore {
		t.Errorf("saved model %d bytes (%d params), not below %d (%d)", after.Len(), res.ParamsAfter, before.Len(), res.ParamsBefore)
	}
}

// TestMNISTSensitivity computes LeNet-300-100's per-layer sensitivity
// curves on the last 2,000 training images (not the test set) and chooses
// per-layer sparsities for a 92.5% global target from them. When trained
// here the baseline never sees those images; a baseline loaded from
// COMPRESSQ_PRUNE_DENSE_DIR was trained on all 60,000, so its curves measure
// loss of fit rather than held-out accuracy. With COMPRESSQ_LONG=1 only:
//
//	COMPRESSQ_LONG=1 go test ./compress/prune -run TestMNISTSensitivity -v
func TestMNISTSensitivity(t *testing.T) {
	if os.Getenv("COMPRESSQ_LONG") != "1" {
		t.Skip("set COMPRESSQ_LONG=1 to run the MNIST sensitivity analysis")
	}
	train, _, err := mnist.Load(context.Background(), data.UnitRange())
	if err != nil {
		t.Fatal(err)
	}
	fit, held := train.Split(train.Len() - 2000)
	dense := denseBaseline(t, "lenet-300-100", fit)
	base, _, err := nn.Evaluate(dense, held)
	if err != nil {
		t.Fatal(err)
	}
	names := Weights(dense)
	sps := []float64{0.5, 0.7, 0.8, 0.9, 0.95, 0.98}
	curves, err := Curves(context.Background(), dense, names, sps, held)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{}
	for _, n := range names {
		p, _ := dense.Param(n)
		sizes[n] = p.Value.Len()
		t.Logf("%s (%d weights): %v", n, sizes[n], curves[n])
	}
	choice, err := Choose(curves, sizes, base, 0.925)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out accuracy %.4f; chosen sparsities for 92.5%%: %v", base, choice)
	total, pruned := 0.0, 0.0
	for n, s := range choice {
		total += float64(sizes[n])
		pruned += s * float64(sizes[n])
	}
	if pruned/total < 0.925-1e-9 {
		t.Errorf("chosen sparsities give %.4f < 0.925", pruned/total)
	}
}
