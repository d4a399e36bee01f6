package worker

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/distill"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/tasks"
)

// distill handles compress:distill.
func (w *Worker) distill(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.DistillPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	res, uri, err := modelJob(ctx, w, "teacher", p.Teacher, true, p.Data, p.Preprocess, ModelExt,
		func(ctx context.Context, raw []byte, limits model.Limits, train, test *data.Dataset) ([]byte, *tasks.DistillResult, error) {
			return Distill(ctx, p, raw, limits, train, test)
		})
	if err != nil {
		return nil, err
	}
	res.Artifact = uri
	return res, nil
}

// Distill trains the payload's student architecture against the teacher
// model file in raw (Hinton soft targets at the payload's temperature and
// weight) and returns the student's model file and the result (Artifact
// left for the caller). The worker and `compressq distill` both call it.
func Distill(ctx context.Context, p *tasks.DistillPayload, raw []byte, limits model.Limits, train, test *data.Dataset) ([]byte, *tasks.DistillResult, error) {
	teacher, err := model.Load(raw, limits)
	if err != nil {
		return nil, nil, err
	}
	arch, err := ParseArch(p.Student)
	if err != nil {
		return nil, nil, fmt.Errorf("student: %w", err)
	}
	student, err := nn.Build(arch, p.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("student: %w: %w", err, asynq.SkipRetry)
	}
	start := time.Now()
	r, err := distill.Run(ctx, teacher, student, train, test, distill.Options{T: p.Temperature, Alpha: p.Alpha, Epochs: p.Epochs, LR: p.LR, Seed: p.Seed,
		Optimizer: p.Optimizer, Momentum: p.Momentum, WeightDecay: p.WeightDecay, Schedule: p.Schedule})
	if err != nil {
		return nil, nil, fmt.Errorf("distill: %w", err)
	}
	var buf bytes.Buffer
	if err := model.SaveWithTransform(&buf, student, train.Transform); err != nil {
		return nil, nil, err
	}
	res := &tasks.DistillResult{Arch: arch.Name, Params: student.NumParams(),
		StudentAccuracy: r.StudentAccuracy, TeacherAccuracy: r.TeacherAccuracy, Errors: r.Errors, TeacherErrors: r.TeacherErrors,
		Seconds: time.Since(start).Seconds()}
	for _, e := range r.Curve {
		res.Curve = append(res.Curve, tasks.EpochResult{Epoch: e.Epoch, TrainLoss: e.TrainLoss, TestAcc: e.TestAccuracy})
	}
	return buf.Bytes(), res, nil
}
