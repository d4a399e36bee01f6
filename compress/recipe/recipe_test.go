package recipe

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/runtime"
	"github.com/compressq/compressq/compress/safetensors"
)

const tinyArch = `{"name":"tiny-mlp","input":[1,2,2],"layers":[{"type":"flatten"},{"type":"dense","units":8},{"type":"relu"},{"type":"dense","units":2}]}`

// stated returns the transform a file records.
func stated(t *testing.T, raw []byte) data.Transform {
	t.Helper()
	tr, ok, err := model.ReadInputTransform(raw, safetensors.Limits{})
	if err != nil || !ok {
		t.Fatalf("no transform recorded: %v", err)
	}
	return tr
}

// TestRecipesCarryTheTransform chains the recipes on a tiny set: train
// records the training split's mean/std, and prune, quantize and distill
// pass the transform they used on to their outputs.
func TestRecipesCarryTheTransform(t *testing.T) {
	ctx := context.Background()
	s := tinySplits(64)
	tr, err := Train(ctx, TrainOptions{Arch: json.RawMessage(tinyArch), Data: s, Epochs: 3, BatchSize: 8, Seed: 1, Optim: Optim{LR: 0.1, Schedule: "cosine"}})
	if err != nil {
		t.Fatal(err)
	}
	want := data.Stats(s.Train)
	if got := stated(t, tr.Model); !slices.Equal(got.Mean, want.Mean) || !slices.Equal(got.Std, want.Std) || len(tr.History.Epochs) != 3 {
		t.Fatalf("train recorded %v, want %v (%d epochs)", got, want, len(tr.History.Epochs))
	}
	if s.Train.Images[0] != 0 || !s.Train.Transform.IsIdentity() {
		t.Fatal("Train normalized the caller's splits")
	}
	pr, err := Prune(ctx, PruneOptions{Model: tr.Model, Data: s, Method: "global", Sparsity: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if got := stated(t, pr.Model); !slices.Equal(got.Mean, want.Mean) || pr.Pruned.AccuracyBefore != tr.Accuracy {
		t.Fatalf("prune recorded %v; accuracy before %v, trained %v", got, pr.Pruned.AccuracyBefore, tr.Accuracy)
	}
	checkPruneLatency(t, pr, min(64, s.Test.Len()))
	qr, err := Quantize(ctx, QuantizeOptions{Model: pr.Model, Bits: 8, Granularity: "per-channel", Calibration: "minmax", Data: s})
	if err != nil {
		t.Fatal(err)
	}
	if c := qr.Calibrated; c.PlanBatch != min(64, s.Test.Len()) || c.PlanLatencyFP32 <= 0 || c.PlanLatencyInt8 <= 0 {
		t.Fatalf("quantize latencies through the runtime: batch %d, fp32 %v, int8 %v", c.PlanBatch, c.PlanLatencyFP32, c.PlanLatencyInt8)
	}
	if got := stated(t, qr.Artifact); !slices.Equal(got.Std, want.Std) || qr.Calibrated.AccuracyFP32 != pr.Pruned.AccuracyAfter {
		t.Fatalf("quantize recorded %v; fp32 accuracy %v, pruned %v", got, qr.Calibrated.AccuracyFP32, pr.Pruned.AccuracyAfter)
	}
	// The calibrated artifact stores the integer model: Eval runs it in
	// integers with the stored scales and measures the accuracy Quantize
	// reported for the integer path.
	ev, err := Eval(ctx, EvalOptions{Model: qr.Artifact, Data: s, BatchSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Path != PathInt8 || ev.Accuracy != qr.Calibrated.AccuracyInt8 || ev.Samples != s.Test.Len() {
		t.Fatalf("eval of the quantized artifact: path %s, accuracy %v over %d samples; quantize reported int8 %v", ev.Path, ev.Accuracy, ev.Samples, qr.Calibrated.AccuracyInt8)
	}
	wo, err := Quantize(ctx, QuantizeOptions{Model: tr.Model, Bits: 4, Granularity: "per-tensor"})
	if err != nil {
		t.Fatal(err)
	}
	if got := stated(t, wo.Artifact); !slices.Equal(got.Mean, want.Mean) || wo.WeightOnly == nil {
		t.Fatalf("weight-only quantization recorded %v", got)
	}
	if ev, err := Eval(ctx, EvalOptions{Model: wo.Artifact, Data: s}); err != nil || ev.Path != PathFloat32 {
		t.Fatalf("eval of a weight-only artifact: %+v, %v; want the float32 path", ev, err)
	}
	dr, err := Distill(ctx, DistillOptions{Teacher: tr.Model, Student: json.RawMessage(tinyArch), Temperature: 2, Alpha: 0.5, Epochs: 1, Data: s})
	if err != nil {
		t.Fatal(err)
	}
	if got := stated(t, dr.Model); !slices.Equal(got.Mean, want.Mean) || dr.Distill.TeacherAccuracy != tr.Accuracy {
		t.Fatalf("distill recorded %v; teacher accuracy %v, trained %v", got, dr.Distill.TeacherAccuracy, tr.Accuracy)
	}
	rep, err := Sensitivity(ctx, SensitivityOptions{Model: tr.Model, Data: s, Levels: []float64{0.5, 0.9}, Target: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Baseline != tr.Accuracy || len(rep.Curves) != 2 || rep.Choice == nil || len(rep.Plot) == 0 {
		t.Fatalf("sensitivity baseline %v (trained %v), %d curves, choice %+v", rep.Baseline, tr.Accuracy, len(rep.Curves), rep.Choice)
	}
}

// checkPruneLatency checks that a pruning run timed both networks through
// the runtime's plans, and that every layer of the pruned one that is at
// least 30% zero had the sparse kernels measured.
func checkPruneLatency(t *testing.T, pr *PruneResult, batch int) {
	t.Helper()
	if pr.LatencyBatch != batch || pr.LatencyBefore <= 0 || pr.LatencyAfter <= 0 || len(pr.PlanBefore) == 0 || len(pr.PlanAfter) == 0 {
		t.Fatalf("prune latencies: batch %d (want %d), %v → %v, plans %d and %d layers", pr.LatencyBatch, batch, pr.LatencyBefore, pr.LatencyAfter, len(pr.PlanBefore), len(pr.PlanAfter))
	}
	sparse := 0
	for _, l := range pr.PlanAfter {
		if l.Rows == 0 || l.Sparsity < 0.3 {
			continue
		}
		sparse++
		if _, ok := l.Nanos[runtime.KernelCSR]; !ok || !slices.Contains(runtime.Kernels, l.Kernel) {
			t.Errorf("pruned layer %d (%.0f%% zeros): kernel %q, measured %v", l.Index, 100*l.Sparsity, l.Kernel, l.Nanos)
		}
	}
	if sparse == 0 {
		t.Errorf("no layer of the pruned plan is 30%% zero: %+v", pr.PlanAfter)
	}
}

func TestRecipeInputErrors(t *testing.T) {
	ctx := context.Background()
	s := tinySplits(8)
	raw, _ := tinyModel(t, data.Transform{})
	field := func(err error) string {
		var ie *InputError
		if !errors.As(err, &ie) {
			return "not an InputError: " + err.Error()
		}
		return ie.Field
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"train without data", func() error {
			_, err := Train(ctx, TrainOptions{Arch: json.RawMessage(tinyArch), Epochs: 1})
			return err
		}(), "data"},
		{"train bad arch", func() error {
			_, err := Train(ctx, TrainOptions{Arch: json.RawMessage(`"lenet-9"`), Data: s, Epochs: 1})
			return err
		}(), "arch"},
		{"train bad optimizer", func() error {
			_, err := Train(ctx, TrainOptions{Arch: json.RawMessage(tinyArch), Data: s, Epochs: 1, Optim: Optim{Optimizer: "rmsprop"}})
			return err
		}(), "optimizer"},
		{"train wrong channels", func() error {
			_, err := Train(ctx, TrainOptions{Arch: json.RawMessage(tinyArch), Data: s, Epochs: 1, Transform: data.Transform{Mean: []float64{0, 0, 0}, Std: []float64{1, 1, 1}}})
			return err
		}(), "mean"},
		{"prune bad method", func() error { _, err := Prune(ctx, PruneOptions{Model: raw, Data: s, Method: "random"}); return err }(), "method"},
		{"quantize bad bits", func() error {
			_, err := Quantize(ctx, QuantizeOptions{Model: raw, Bits: 3, Granularity: "per-tensor"})
			return err
		}(), "bits"},
		{"quantize full without data", func() error {
			_, err := Quantize(ctx, QuantizeOptions{Model: raw, Bits: 8, Granularity: "per-channel", Calibration: "minmax"})
			return err
		}(), "data"},
		{"distill bad teacher", func() error {
			_, err := Distill(ctx, DistillOptions{Teacher: []byte("{}"), Student: json.RawMessage(tinyArch), Data: s, Epochs: 1})
			return err
		}(), "teacher"},
		{"sensitivity unknown param", func() error {
			_, err := Sensitivity(ctx, SensitivityOptions{Model: raw, Data: s, Levels: []float64{0.5}, Params: []string{"layers.7.weight"}})
			return err
		}(), "params[0]"},
	} {
		if got := field(tc.err); got != tc.want {
			t.Errorf("%s: field %q (%v), want %q", tc.name, got, tc.err, tc.want)
		}
	}
}
