package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
)

// A sensitivity analysis runs as three task types. compress:sensitivity
// checks the model, data and parameters, stores the run (keyed by its own
// task id) and fans out one compress:sensitivity:point per (parameter,
// sparsity) under fixed task ids, skipping points already recorded, so a
// re-run after a crash enqueues nothing twice. Each point evaluates and
// records its accuracy once (later records of the same point are ignored);
// the record that completes the run enqueues compress:sensitivity:gather
// under a fixed id, and so does any re-run of a point or of the fan-out that
// finds the run complete. The gather builds the report; it carries the job
// headers of the fan-out task, so the job step finishes with the report.

// sensitivity handles compress:sensitivity: validate, store the run, fan out.
func (w *Worker) sensitivity(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.SensitivityPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	run, ok := asynq.GetTaskID(ctx)
	if !ok {
		return nil, errors.New("sensitivity: no task id in the context")
	}
	net, _, err := w.sensitivityInput(ctx, p.Model, p.Data, p.Preprocess, p.Split, p.EvalSize)
	if err != nil {
		return nil, err
	}
	if err := PlanSensitivity(p, net); err != nil {
		return nil, err
	}
	spec, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	job, step, _ := tasks.JobStep(t)
	levels := p.EffectiveLevels()
	total := len(p.Params) * len(levels)
	if _, err := w.sens.Start(ctx, &rdb.SensitivityRun{ID: run, Spec: spec, Points: total, Job: job, Step: step}); err != nil {
		return nil, err
	}
	r, err := w.sens.Get(ctx, run)
	if err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, fmt.Errorf("sensitivity run %s: a point failed: %s: %w", run, r.Error, asynq.SkipRetry)
	}
	queue, _ := asynq.GetQueueName(ctx)
	enqueued := 0
	for _, param := range p.Params {
		for _, s := range levels {
			if _, done := r.Recorded[rdb.PointKey{Param: param, Sparsity: s}]; done {
				continue
			}
			task, err := tasks.New(&tasks.SensitivityPointPayload{V: tasks.Version, Run: run, Model: p.Model, Data: p.Data, Preprocess: p.Preprocess,
				Split: p.Split, EvalSize: p.EvalSize, Param: param, Sparsity: s},
				w.defaults.ChildOptions(tasks.TypeSensitivityPoint, queue, tasks.SensitivityPointTaskID(run, param, s))...)
			if err != nil {
				return nil, err
			}
			switch _, err := w.client.EnqueueContext(ctx, task); {
			case err == nil:
				enqueued++
			case !errors.Is(err, asynq.ErrTaskIDConflict):
				return nil, fmt.Errorf("sensitivity run %s: enqueue %s at %v: %w", run, param, s, err)
			}
		}
	}
	if len(r.Recorded) >= total {
		if err := w.enqueueGather(ctx, r, queue); err != nil {
			return nil, err
		}
	}
	return handedOff{&tasks.SensitivityFanOutResult{Run: run, Points: total, Enqueued: enqueued}}, nil
}

// sensitivityPoint handles compress:sensitivity:point: evaluate one point,
// record it, and start the gather if it was the last one missing.
func (w *Worker) sensitivityPoint(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.SensitivityPointPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	res, err := w.evaluatePoint(ctx, p)
	if err != nil && isFinal(ctx, err) {
		w.failRun(context.WithoutCancel(ctx), p.Run, err)
	}
	return res, err
}

func (w *Worker) evaluatePoint(ctx context.Context, p *tasks.SensitivityPointPayload) (*tasks.SensitivityPointResult, error) {
	net, eval, err := w.sensitivityInput(ctx, p.Model, p.Data, p.Preprocess, p.Split, p.EvalSize)
	if err != nil {
		return nil, err
	}
	pt, err := prune.Sensitivity(ctx, net, p.Param, p.Sparsity, eval)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("param %q: %w: %w", p.Param, err, asynq.SkipRetry)
	}
	_, complete, err := w.sens.Record(ctx, p.Run, rdb.PointKey{Param: p.Param, Sparsity: p.Sparsity}, pt.Accuracy)
	if errors.Is(err, rdb.ErrNoRun) {
		return nil, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if err != nil {
		return nil, err
	}
	if complete {
		r, err := w.sens.Get(ctx, p.Run)
		if err != nil {
			return nil, err
		}
		queue, _ := asynq.GetQueueName(ctx)
		if err := w.enqueueGather(ctx, r, queue); err != nil {
			return nil, err
		}
	}
	return &tasks.SensitivityPointResult{Run: p.Run, Param: p.Param, Sparsity: p.Sparsity, Accuracy: pt.Accuracy, Complete: complete}, nil
}

// failRun records that a point failed for good and fails the job the run
// belongs to, whose gather can now never run.
func (w *Worker) failRun(ctx context.Context, run string, reason error) {
	if err := w.sens.Fail(ctx, run, reason.Error()); err != nil {
		w.log.Error("record sensitivity failure", "run", run, "error", err)
		return
	}
	r, err := w.sens.Get(ctx, run)
	if err != nil || r.Job == "" {
		return
	}
	if err := w.jobs.Failed(ctx, r.Job, r.Step, "sensitivity point: "+reason.Error()); err != nil {
		w.log.Error("record job failure", "job", r.Job, "step", r.Step, "error", err)
	}
}

// enqueueGather enqueues the gather of a complete run under its fixed id,
// with the run's job headers.
func (w *Worker) enqueueGather(ctx context.Context, r *rdb.SensitivityRun, queue string) error {
	p := &tasks.SensitivityGatherPayload{V: tasks.Version, Run: r.ID}
	opts := w.defaults.ChildOptions(tasks.TypeSensitivityGather, queue, tasks.SensitivityGatherTaskID(r.ID))
	var task *asynq.Task
	var err error
	if r.Job != "" {
		task, err = tasks.NewInJob(p, r.Job, r.Step, opts...)
	} else {
		task, err = tasks.New(p, opts...)
	}
	if err != nil {
		return err
	}
	if _, err := w.client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("sensitivity run %s: enqueue gather: %w", r.ID, err)
	}
	return nil
}

// sensitivityGather handles compress:sensitivity:gather: the report of a
// complete run, stored as JSON and as a plot.
func (w *Worker) sensitivityGather(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	g, err := tasks.DecodeAs[*tasks.SensitivityGatherPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	r, err := w.sens.Get(ctx, g.Run)
	if errors.Is(err, rdb.ErrNoRun) {
		return nil, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, fmt.Errorf("sensitivity run %s: a point failed: %s: %w", r.ID, r.Error, asynq.SkipRetry)
	}
	var p tasks.SensitivityPayload
	if err := json.Unmarshal(r.Spec, &p); err != nil {
		return nil, fmt.Errorf("sensitivity run %s: stored spec: %v: %w", r.ID, err, asynq.SkipRetry)
	}
	curves := map[string][]prune.Point{}
	for _, param := range p.Params {
		for _, s := range p.EffectiveLevels() {
			acc, ok := r.Recorded[rdb.PointKey{Param: param, Sparsity: s}]
			if !ok {
				return nil, fmt.Errorf("sensitivity run %s: point %s at %v not recorded (%d of %d are)", r.ID, param, s, len(r.Recorded), r.Points)
			}
			curves[param] = append(curves[param], prune.Point{Sparsity: s, Accuracy: acc})
		}
	}
	net, eval, err := w.sensitivityInput(ctx, p.Model, p.Data, p.Preprocess, p.Split, p.EvalSize)
	if err != nil {
		return nil, err
	}
	res, plot, err := SensitivityReport(ctx, &p, net, eval, curves)
	if err != nil {
		return nil, err
	}
	res.Run = r.ID
	if res.Plot, err = w.store.Put(ctx, bytes.NewReader(plot), "."+plotFormat(&p)); err != nil {
		return nil, fmt.Errorf("store the sensitivity plot: %w", err)
	}
	report, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	if res.Artifact, err = w.store.Put(ctx, bytes.NewReader(report), ".json"); err != nil {
		return nil, fmt.Errorf("store the sensitivity report: %w", err)
	}
	return res, nil
}

// sensitivityInput fetches and loads the model and selects the evaluation
// images. Errors in the input skip retries and name the field.
func (w *Worker) sensitivityInput(ctx context.Context, uri, dataName string, pre tasks.Preprocess, split string, size int) (*nn.Network, *data.Dataset, error) {
	raw, err := w.fetch(ctx, "model", uri)
	if err != nil {
		return nil, nil, err
	}
	net, err := model.Load(raw, w.limits)
	if err != nil {
		return nil, nil, inputError("model", uri, err)
	}
	train, test, err := w.modelData(ctx, "model", uri, raw, dataName, pre)
	if err != nil {
		return nil, nil, err
	}
	return net, EvalSet(train, test, split, size), nil
}

// EvalSet returns the images a sensitivity analysis measures accuracy on:
// the first size images of test, or with split "train" the last size
// images of train; size 0 means the whole split.
func EvalSet(train, test *data.Dataset, split string, size int) *data.Dataset {
	if split == tasks.SplitTrain {
		if size <= 0 || size >= train.Len() {
			return train
		}
		_, tail := train.Split(train.Len() - size)
		return tail
	}
	return test.Subset(size)
}

// PlanSensitivity fills in p's defaults for net — every prunable weight
// when Params is empty, the default levels when Levels is — and checks
// that every named parameter exists, naming the field when one does not.
func PlanSensitivity(p *tasks.SensitivityPayload, net *nn.Network) error {
	if len(p.Params) == 0 {
		p.Params = prune.Weights(net)
		if len(p.Params) == 0 {
			return &tasks.FieldError{Field: "model", Reason: "has no Dense or Conv2D weight to analyse"}
		}
	}
	p.Levels = p.EffectiveLevels()
	var errs []error
	for i, name := range p.Params {
		if _, ok := net.Param(name); !ok {
			errs = append(errs, &tasks.FieldError{Field: "params[" + strconv.Itoa(i) + "]", Reason: fmt.Sprintf("the model has no parameter %q (its weights: %v)", name, prune.Weights(net))})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return p.Validate()
}

// SensitivityReport builds the report of a sensitivity analysis from its
// curves (one per p.Params, points in p.Levels order): the unpruned
// accuracy on eval, each parameter's size, the per-layer choice when p has a
// target, and the plot in p's format. Artifact, Plot and Run are left for
// the caller. The gather task and `compressq sensitivity --local` both call
// it.
func SensitivityReport(ctx context.Context, p *tasks.SensitivityPayload, net *nn.Network, eval *data.Dataset, curves map[string][]prune.Point) (*tasks.SensitivityResult, []byte, error) {
	base, _, err := nn.EvaluateContext(ctx, net, eval)
	if err != nil {
		return nil, nil, fmt.Errorf("sensitivity baseline: %w", err)
	}
	split := p.Split
	if split == "" {
		split = tasks.SplitTest
	}
	res := &tasks.SensitivityResult{Model: p.Model, Data: p.Data, Split: split, EvalSize: eval.Len(),
		Baseline: base, Target: p.Target, MaxDrop: p.MaxDrop}
	sizes := map[string]int{}
	for _, name := range p.Params {
		prm, ok := net.Param(name)
		if !ok {
			return nil, nil, fmt.Errorf("params: the model has no parameter %q: %w", name, asynq.SkipRetry)
		}
		sizes[name] = prm.Value.Len()
		c := tasks.SensitivityCurve{Param: name, Size: sizes[name]}
		for _, pt := range curves[name] {
			c.Points = append(c.Points, tasks.SensitivityPoint{Sparsity: pt.Sparsity, Accuracy: pt.Accuracy})
		}
		res.Curves = append(res.Curves, c)
	}
	var chosen map[string]float64
	if p.Target > 0 {
		res.Choice = choose(curves, sizes, base, p.Target, p.MaxDrop)
		chosen = res.Choice.PerLayer
	}
	var plot bytes.Buffer
	if err := prune.PlotCurves(&plot, p.Params, curves, base, chosen, plotFormat(p)); err != nil {
		return nil, nil, fmt.Errorf("sensitivity plot: %w", err)
	}
	return res, plot.Bytes(), nil
}

// choose runs prune.Choose and judges its answer against maxDrop.
func choose(curves map[string][]prune.Point, sizes map[string]int, base, target, maxDrop float64) *tasks.SensitivityChoice {
	per, err := prune.Choose(curves, sizes, base, target)
	if err != nil {
		return &tasks.SensitivityChoice{Reason: err.Error()}
	}
	c := &tasks.SensitivityChoice{PerLayer: per, Met: true}
	total, pruned := 0, 0.0
	for name, s := range per {
		total += sizes[name]
		pruned += s * float64(sizes[name])
		if d := base - prune.Interpolate(curves[name], base, s); d > c.PredictedDrop {
			c.PredictedDrop = d
		}
	}
	c.Sparsity = pruned / float64(total)
	if maxDrop > 0 && c.PredictedDrop > maxDrop {
		c.Met = false
		c.Reason = fmt.Sprintf("the curves predict an accuracy drop of %.4f at target %v, more than max_drop %v", c.PredictedDrop, target, maxDrop)
	}
	return c
}

func plotFormat(p *tasks.SensitivityPayload) string {
	if p.PlotFormat == "" {
		return "png"
	}
	return p.PlotFormat
}

// Sensitivity runs a compress:sensitivity payload in one process: every
// point in turn (prune.Curves), then the report. It fills in p's defaults.
// The report's Artifact and Plot are left for the caller, who gets the plot
// bytes. `compressq sensitivity --local` calls it.
func Sensitivity(ctx context.Context, p *tasks.SensitivityPayload, raw []byte, limits model.Limits, train, test *data.Dataset) (*tasks.SensitivityResult, []byte, error) {
	net, err := model.Load(raw, limits)
	if err != nil {
		return nil, nil, err
	}
	if err := PlanSensitivity(p, net); err != nil {
		return nil, nil, err
	}
	eval := EvalSet(train, test, p.Split, p.EvalSize)
	curves, err := prune.Curves(ctx, net, p.Params, p.Levels, eval)
	if err != nil {
		return nil, nil, err
	}
	return SensitivityReport(ctx, p, net, eval, curves)
}
