// Package taskmap translates between the task contract (package tasks:
// payloads and results) and the queue-free recipes (compress/recipe:
// options and results). The worker's handlers and the CLI's local commands
// both use it, so a payload means the same thing wherever it runs. It holds
// no logic of its own beyond field mapping and the contract's defaults.
package taskmap

import (
	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/runtime"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/tasks"
)

// Transform returns the input transform a payload's mean/std give (the
// zero Transform, meaning the recipe's default, when they are empty).
func Transform(p tasks.Preprocess) data.Transform {
	return data.Transform{Mean: p.Mean, Std: p.Std}
}

func optim(o tasks.Optim, lr float64) recipe.Optim {
	return recipe.Optim{Optimizer: o.Optimizer, LR: lr, Momentum: o.Momentum, WeightDecay: o.WeightDecay, Schedule: o.Schedule}
}

// TrainOptions maps a train payload.
func TrainOptions(p *tasks.TrainPayload, s *data.Splits, progress func(nn.Progress)) recipe.TrainOptions {
	return recipe.TrainOptions{Arch: p.Arch, Data: s, Transform: Transform(p.Preprocess), Epochs: p.Epochs,
		BatchSize: p.BatchSize, Seed: p.Seed, Optim: optim(p.Optim, p.LR), Progress: progress}
}

// TrainResult maps a training run's result (Artifact left for the caller).
func TrainResult(r *recipe.TrainResult) *tasks.TrainResult {
	res := &tasks.TrainResult{Arch: r.Arch, Params: r.Params, Accuracy: r.Accuracy, Loss: r.Loss,
		Seconds: r.Duration.Seconds(), Mean: r.Transform.Mean, Std: r.Transform.Std}
	for _, e := range r.History.Epochs {
		res.Curve = append(res.Curve, tasks.EpochResult{
			Epoch: e.Epoch, LR: e.LR, TrainLoss: e.TrainLoss, TrainAcc: e.TrainAcc,
			TestLoss: e.ValLoss, TestAcc: e.ValAcc, Seconds: e.Duration.Seconds(),
		})
	}
	return res
}

// PruneOptions maps a compress:prune payload.
func PruneOptions(p *tasks.PrunePayload, raw []byte, limits safetensors.Limits, s *data.Splits) recipe.PruneOptions {
	return recipe.PruneOptions{Model: raw, Limits: limits, Data: s, Transform: Transform(p.Preprocess),
		Method: p.Method, Sparsity: p.Sparsity, PerLayer: p.PerLayer, Schedule: p.Schedule,
		FineTuneEpochs: p.FineTuneEpochs, Seed: p.Seed, Optim: optim(p.Optim, p.LR)}
}

// PruneResult maps a pruning run's result (Artifact left for the caller).
func PruneResult(r *recipe.PruneResult) *tasks.PruneResult {
	p := r.Pruned
	return &tasks.PruneResult{
		PerLayerSparsity: p.PerLayerSparsity,
		ParamsBefore:     p.ParamsBefore, ParamsAfter: p.ParamsAfter,
		NonzeroBefore: p.NonzeroBefore, NonzeroAfter: p.NonzeroAfter,
		BytesBefore: r.BytesBefore, BytesAfter: r.BytesAfter,
		AccuracyBefore: p.AccuracyBefore, AccuracyPruned: p.AccuracyPruned, AccuracyAfter: p.AccuracyAfter,
		LatencyBefore: r.LatencyBefore.Seconds(), LatencyAfter: r.LatencyAfter.Seconds(), LatencyBatch: r.LatencyBatch,
		KernelsBefore: runtime.KernelSummary(r.PlanBefore), KernelsAfter: runtime.KernelSummary(r.PlanAfter),
	}
}

// QuantizeOptions maps a compress:quantize payload; s may be nil for
// weight-only quantization.
func QuantizeOptions(p *tasks.QuantizePayload, raw []byte, limits safetensors.Limits, s *data.Splits) recipe.QuantizeOptions {
	return recipe.QuantizeOptions{Model: raw, Limits: limits, Bits: p.Bits, PerLayerBits: p.PerLayerBits, Granularity: p.Granularity, Asymmetric: p.Asymmetric,
		Calibration: p.Calibration, CalibSize: p.CalibSize, QATEpochs: p.QATEpochs, KMeansBits: p.KMeansBits,
		Huffman: p.Huffman, Seed: p.Seed, Data: s, Transform: Transform(p.Preprocess)}
}

// QuantizeResult maps a quantization's result (Artifact left for the
// caller).
func QuantizeResult(r *recipe.QuantizeResult) *tasks.QuantizeResult {
	res := &tasks.QuantizeResult{BytesBefore: r.BytesBefore, BytesAfter: r.BytesAfter}
	if r.BytesAfter > 0 {
		res.Ratio = float64(r.BytesBefore) / float64(r.BytesAfter)
	}
	if w := r.WeightOnly; w != nil {
		for _, tr := range w.Tensors {
			res.Tensors = append(res.Tensors, tasks.TensorError{
				Name: tr.Name, Shape: tr.Shape, Encoding: tr.Encoding,
				MaxAbs: tr.MaxAbsError, MeanAbs: tr.MeanAbsError, Bound: tr.Bound,
			})
		}
	}
	if c := r.Calibrated; c != nil {
		res.AccuracyFP32, res.AccuracyFake, res.AccuracyInt8, res.AccuracyShared = c.AccuracyFP32, c.AccuracyFake, c.AccuracyInt8, c.AccuracyShared
		res.LatencyFP32, res.LatencyInt8 = c.LatencyFP32.Seconds(), c.LatencyInt8.Seconds()
		res.PlanBatch, res.PlanLatencyFP32, res.PlanLatencyInt8 = c.PlanBatch, c.PlanLatencyFP32.Seconds(), c.PlanLatencyInt8.Seconds()
	}
	return res
}

// DistillOptions maps a compress:distill payload.
func DistillOptions(p *tasks.DistillPayload, raw []byte, limits safetensors.Limits, s *data.Splits) recipe.DistillOptions {
	return recipe.DistillOptions{Teacher: raw, Limits: limits, Student: p.Student, Temperature: p.Temperature, Alpha: p.Alpha,
		Epochs: p.Epochs, Seed: p.Seed, Optim: optim(p.Optim, p.LR), Data: s, Transform: Transform(p.Preprocess)}
}

// DistillResult maps a distillation's result (Artifact left for the caller).
func DistillResult(r *recipe.DistillResult) *tasks.DistillResult {
	d := r.Distill
	res := &tasks.DistillResult{Arch: r.Arch, Params: r.Params,
		StudentAccuracy: d.StudentAccuracy, TeacherAccuracy: d.TeacherAccuracy, Errors: d.Errors, TeacherErrors: d.TeacherErrors,
		Seconds: r.Duration.Seconds()}
	for _, e := range d.Curve {
		res.Curve = append(res.Curve, tasks.EpochResult{Epoch: e.Epoch, TrainLoss: e.TrainLoss, TestAcc: e.TestAccuracy})
	}
	return res
}

// SensitivityOptions maps a compress:sensitivity payload, filling in the
// contract's default levels.
func SensitivityOptions(p *tasks.SensitivityPayload, raw []byte, limits safetensors.Limits, s *data.Splits) recipe.SensitivityOptions {
	return recipe.SensitivityOptions{Model: raw, Limits: limits, Data: s, Transform: Transform(p.Preprocess),
		Params: p.Params, Levels: p.EffectiveLevels(), Split: p.Split, EvalSize: p.EvalSize,
		Target: p.Target, MaxDrop: p.MaxDrop, PlotFormat: p.PlotFormat}
}

// SensitivityResult maps an analysis' report (Artifact, Plot and Run left
// for the caller).
func SensitivityResult(p *tasks.SensitivityPayload, r *recipe.SensitivityReport) *tasks.SensitivityResult {
	res := &tasks.SensitivityResult{Model: p.Model, Data: p.Data, Split: r.Split, EvalSize: r.EvalSize,
		Baseline: r.Baseline, Target: p.Target, MaxDrop: p.MaxDrop}
	for _, c := range r.Curves {
		tc := tasks.SensitivityCurve{Param: c.Param, Size: c.Size}
		for _, pt := range c.Points {
			tc.Points = append(tc.Points, tasks.SensitivityPoint{Sparsity: pt.Sparsity, Accuracy: pt.Accuracy})
		}
		res.Curves = append(res.Curves, tc)
	}
	if c := r.Choice; c != nil {
		res.Choice = &tasks.SensitivityChoice{PerLayer: c.PerLayer, Sparsity: c.Sparsity, PredictedDrop: c.PredictedDrop, Met: c.Met, Reason: c.Reason}
	}
	return res
}

// EvalOptions maps a compress:eval payload.
func EvalOptions(p *tasks.EvalPayload, raw []byte, limits safetensors.Limits, s *data.Splits) recipe.EvalOptions {
	return recipe.EvalOptions{Model: raw, Limits: limits, Data: s, Transform: Transform(p.Preprocess), BatchSize: p.BatchSize}
}

// EvalResult maps an evaluation's result.
func EvalResult(p *tasks.EvalPayload, r *recipe.EvalResult) *tasks.EvalResult {
	return &tasks.EvalResult{Model: p.Model, Data: p.Data, Samples: r.Samples, Accuracy: r.Accuracy, Loss: r.Loss,
		PerClass: r.PerClass, Classes: r.Classes, LatencyMS: r.LatencyMS, BatchSize: r.BatchSize,
		Mean: r.Transform.Mean, Std: r.Transform.Std, Path: r.Path}
}

// ExportOptions maps an export payload.
func ExportOptions(p *tasks.ExportPayload, raw []byte, limits safetensors.Limits, s *data.Splits) recipe.ExportOptions {
	return recipe.ExportOptions{Model: raw, Limits: limits, Form: p.Form, Data: s, Calibration: p.Calibration,
		CalibSize: p.CalibSize, Transform: Transform(p.Preprocess)}
}

// ExportResult maps an export's result (Artifact left for the caller).
func ExportResult(r *recipe.ExportResult) *tasks.ExportResult {
	return &tasks.ExportResult{Form: r.Form, Source: r.Source, Bytes: int64(len(r.ONNX)), Warnings: r.Warnings}
}
