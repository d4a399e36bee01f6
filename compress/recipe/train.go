package recipe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
)

// Optim is the optimizer settings of the recipes that train (zero values:
// the engine's defaults, see nn.TrainConfig).
type Optim struct {
	// Optimizer is sgd or adam.
	Optimizer string
	// LR is the base learning rate.
	LR       float64
	Momentum float64
	// WeightDecay is the L2 penalty.
	WeightDecay float64
	// Schedule is the learning-rate schedule: constant, step or cosine.
	Schedule string
}

// config returns the engine's training configuration for o.
func (o Optim) config(epochs, batch int, seed int64) nn.TrainConfig {
	return nn.TrainConfig{Epochs: epochs, BatchSize: batch, Seed: seed, Optimizer: o.Optimizer, LR: o.LR,
		Momentum: o.Momentum, WeightDecay: o.WeightDecay, Schedule: o.Schedule}
}

// ParseArch reads an architecture given by name ("lenet-5") or as inline
// JSON; errors are *InputError for field.
func ParseArch(field string, raw json.RawMessage) (nn.Arch, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		a, err := nn.ArchByName(name)
		if err != nil {
			return nn.Arch{}, inputError(field, err)
		}
		return a, nil
	}
	var a nn.Arch
	if err := json.Unmarshal(raw, &a); err != nil {
		return nn.Arch{}, inputError(field, err)
	}
	if err := a.Validate(); err != nil {
		return nn.Arch{}, inputError(field, err)
	}
	return a, nil
}

// TrainOptions selects a training run from scratch.
type TrainOptions struct {
	// Arch is the architecture: a name or inline JSON (see ParseArch).
	Arch json.RawMessage
	// Data is the loaded data set; Transform, if set, replaces the training
	// split's own mean and std as the input transform.
	Data      *data.Splits
	Transform data.Transform
	Epochs    int
	// BatchSize 0 means 64.
	BatchSize int
	Seed      int64
	Optim
	// Progress, if set, is called after every batch.
	Progress func(nn.Progress)
}

// TrainResult reports a training run.
type TrainResult struct {
	// Model is the model file (safetensors, with the architecture and the
	// input transform in its metadata).
	Model  []byte
	Arch   string
	Params int
	// Accuracy and Loss are measured on the test split after training.
	Accuracy, Loss float64
	History        nn.History
	Duration       time.Duration
	Transform      data.Transform
}

// Train builds the architecture and trains it on the data set's training
// split, validating on the test split after every epoch.
func Train(ctx context.Context, o TrainOptions) (*TrainResult, error) {
	if o.Data == nil {
		return nil, &InputError{Field: "data", Err: fmt.Errorf("required")}
	}
	if o.Epochs <= 0 {
		return nil, &InputError{Field: "epochs", Err: fmt.Errorf("%d must be > 0", o.Epochs)}
	}
	arch, err := ParseArch("arch", o.Arch)
	if err != nil {
		return nil, err
	}
	tr := TrainTransform(o.Transform, o.Data.Train)
	train, test, err := Prepare(o.Data, tr)
	if err != nil {
		return nil, err
	}
	net, err := nn.Build(arch, o.Seed)
	if err != nil {
		return nil, inputError("arch", err)
	}
	start := time.Now()
	cfg := o.Optim.config(o.Epochs, o.BatchSize, o.Seed)
	cfg.Val = test
	if err := cfg.Validate(); err != nil {
		return nil, inputError("optimizer", err)
	}
	hist, err := nn.Train(ctx, net, train, cfg, o.Progress)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	acc, loss, err := nn.EvaluateContext(ctx, net, test)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	var buf bytes.Buffer
	if err := model.SaveWithTransform(&buf, net, tr); err != nil {
		return nil, err
	}
	return &TrainResult{Model: buf.Bytes(), Arch: arch.Name, Params: net.NumParams(), Accuracy: acc, Loss: loss,
		History: hist, Duration: time.Since(start), Transform: tr}, nil
}
