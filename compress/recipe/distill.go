package recipe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/distill"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/safetensors"
)

// DistillOptions selects a distillation of a teacher model file into a
// student architecture.
type DistillOptions struct {
	// Teacher is the teacher's model file; Limits bound its decoding.
	Teacher []byte
	Limits  safetensors.Limits
	// Student is an architecture name or inline JSON.
	Student json.RawMessage
	// Temperature and Alpha weigh Hinton's soft targets.
	Temperature, Alpha float64
	Epochs             int
	Seed               int64
	Optim
	// Data is the loaded data set; Transform overrides the teacher's input
	// transform (the student inherits the one used).
	Data      *data.Splits
	Transform data.Transform
}

// DistillResult reports a distillation.
type DistillResult struct {
	// Model is the student's model file, recording the input transform.
	Model    []byte
	Arch     string
	Params   int
	Distill  *distill.Result
	Duration time.Duration
}

// Distill trains the student against the teacher's soft targets.
func Distill(ctx context.Context, o DistillOptions) (*DistillResult, error) {
	if o.Data == nil {
		return nil, &InputError{Field: "data", Err: fmt.Errorf("required")}
	}
	teacher, err := LoadModel("teacher", o.Teacher, o.Limits)
	if err != nil {
		return nil, err
	}
	arch, err := ParseArch("student", o.Student)
	if err != nil {
		return nil, err
	}
	student, err := nn.Build(arch, o.Seed)
	if err != nil {
		return nil, inputError("student", err)
	}
	t := ModelTransform(o.Transform, teacher)
	train, test, err := Prepare(o.Data, t)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	r, err := distill.Run(ctx, teacher.Net, student, train, test, distill.Options{T: o.Temperature, Alpha: o.Alpha, Epochs: o.Epochs, LR: o.LR, Seed: o.Seed,
		Optimizer: o.Optimizer, Momentum: o.Momentum, WeightDecay: o.WeightDecay, Schedule: o.Schedule})
	if err != nil {
		return nil, fmt.Errorf("distill: %w", err)
	}
	var buf bytes.Buffer
	if err := model.SaveWithTransform(&buf, student, t); err != nil {
		return nil, err
	}
	return &DistillResult{Model: buf.Bytes(), Arch: arch.Name, Params: student.NumParams(), Distill: r, Duration: time.Since(start)}, nil
}
