package taskmap

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/tasks"
)

// TestOptions checks that every payload field reaches the recipe's options.
func TestOptions(t *testing.T) {
	pre := tasks.Preprocess{Mean: []float64{0.5}, Std: []float64{0.25}}
	tr := data.Transform{Mean: []float64{0.5}, Std: []float64{0.25}}
	opt := tasks.Optim{Optimizer: "adam", Momentum: 0.8, WeightDecay: 1e-4, Schedule: "cosine"}
	ropt := recipe.Optim{Optimizer: "adam", LR: 0.05, Momentum: 0.8, WeightDecay: 1e-4, Schedule: "cosine"}
	s := &data.Splits{}
	raw := []byte("model")
	lim := safetensors.Limits{MaxFileBytes: 7}
	arch := json.RawMessage(`"lenet-5"`)

	got := TrainOptions(&tasks.TrainPayload{Arch: arch, Data: "d", Epochs: 3, BatchSize: 32, LR: 0.05, Seed: 9, Preprocess: pre, Optim: opt}, s, nil)
	want := recipe.TrainOptions{Arch: arch, Data: s, Transform: tr, Epochs: 3, BatchSize: 32, Seed: 9, Optim: ropt}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("train:\n got %+v\nwant %+v", got, want)
	}
	per := map[string]float64{"layers.1.weight": 0.9}
	if got, want := PruneOptions(&tasks.PrunePayload{Method: "global", Sparsity: 0.5, PerLayer: per, Schedule: "agp", FineTuneEpochs: 2, LR: 0.05, Seed: 9, Preprocess: pre, Optim: opt}, raw, lim, s),
		(recipe.PruneOptions{Model: raw, Limits: lim, Data: s, Transform: tr, Method: "global", Sparsity: 0.5, PerLayer: per, Schedule: "agp", FineTuneEpochs: 2, Seed: 9, Optim: ropt}); !reflect.DeepEqual(got, want) {
		t.Errorf("prune:\n got %+v\nwant %+v", got, want)
	}
	if got, want := QuantizeOptions(&tasks.QuantizePayload{Bits: 8, Granularity: "per-channel", Asymmetric: true, Calibration: "kl", CalibSize: 500, QATEpochs: 1, KMeansBits: 4, Huffman: true, Seed: 9, Preprocess: pre}, raw, lim, s),
		(recipe.QuantizeOptions{Model: raw, Limits: lim, Bits: 8, Granularity: "per-channel", Asymmetric: true, Calibration: "kl", CalibSize: 500, QATEpochs: 1, KMeansBits: 4, Huffman: true, Seed: 9, Data: s, Transform: tr}); !reflect.DeepEqual(got, want) {
		t.Errorf("quantize:\n got %+v\nwant %+v", got, want)
	}
	if got, want := DistillOptions(&tasks.DistillPayload{Student: arch, Temperature: 4, Alpha: 0.9, Epochs: 2, LR: 0.05, Seed: 9, Preprocess: pre, Optim: opt}, raw, lim, s),
		(recipe.DistillOptions{Teacher: raw, Limits: lim, Student: arch, Temperature: 4, Alpha: 0.9, Epochs: 2, Seed: 9, Optim: ropt, Data: s, Transform: tr}); !reflect.DeepEqual(got, want) {
		t.Errorf("distill:\n got %+v\nwant %+v", got, want)
	}
	if got, want := SensitivityOptions(&tasks.SensitivityPayload{Params: []string{"a"}, Split: "train", EvalSize: 100, Target: 0.8, MaxDrop: 0.02, PlotFormat: "svg", Preprocess: pre}, raw, lim, s),
		(recipe.SensitivityOptions{Model: raw, Limits: lim, Data: s, Transform: tr, Params: []string{"a"}, Levels: tasks.DefaultSensitivityLevels, Split: "train", EvalSize: 100, Target: 0.8, MaxDrop: 0.02, PlotFormat: "svg"}); !reflect.DeepEqual(got, want) {
		t.Errorf("sensitivity:\n got %+v\nwant %+v", got, want)
	}
	if got, want := EvalOptions(&tasks.EvalPayload{BatchSize: 64, Preprocess: pre}, raw, lim, s),
		(recipe.EvalOptions{Model: raw, Limits: lim, Data: s, Transform: tr, BatchSize: 64}); !reflect.DeepEqual(got, want) {
		t.Errorf("eval:\n got %+v\nwant %+v", got, want)
	}
}
