package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/taskmap"
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
	if err := planSensitivity(p, net); err != nil {
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
	err = skipRetry(err)
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
	rep, err := recipe.Report(ctx, net, eval, taskmap.SensitivityOptions(&p, nil, w.limits, nil), curves)
	if err != nil {
		return nil, err
	}
	res := taskmap.SensitivityResult(&p, rep)
	res.Run = r.ID
	if res.Plot, err = w.store.Put(ctx, bytes.NewReader(rep.Plot), "."+rep.PlotFormat); err != nil {
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
// images, normalized with the payload's or the model's input transform.
// Errors in the input skip retries and name the field.
func (w *Worker) sensitivityInput(ctx context.Context, uri, dataName string, pre tasks.Preprocess, split string, size int) (*nn.Network, *data.Dataset, error) {
	m, err := w.loadModel(ctx, "model", uri)
	if err != nil {
		return nil, nil, err
	}
	splits, err := w.data.get(ctx, dataName)
	if err != nil {
		return nil, nil, err
	}
	train, test, err := recipe.Prepare(splits, recipe.ModelTransform(taskmap.Transform(pre), m))
	if err != nil {
		return nil, nil, err
	}
	return m.Net, recipe.EvalSet(train, test, split, size), nil
}

// planSensitivity fills in p's defaults for net — every prunable weight
// when Params is empty, the default levels when Levels is — and checks
// that every named parameter exists and the run is within the point limit.
func planSensitivity(p *tasks.SensitivityPayload, net *nn.Network) error {
	params, err := recipe.PlanParams(net, p.Params)
	if err != nil {
		return err
	}
	p.Params, p.Levels = params, p.EffectiveLevels()
	return p.Validate()
}
