package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/tasks"
)

// nasStep handles nas:step: advance a sweep's strategy.
func (w *Worker) nasStep(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.NASStepPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	retried, _ := asynq.GetRetryCount(ctx)
	rep, err := w.sweeps.Step(ctx, p.Sweep, retried > 0 || p.Force)
	if err != nil {
		return nil, err
	}
	if rep.Rejected != nil {
		w.log.Warn("sweep results rejected", "sweep", p.Sweep, "error", rep.Rejected)
	}
	if rdb.SweepEnded(rep.Status) {
		w.dropCheckpoints(ctx, sweep.CheckpointDir(p.Sweep))
	}
	return &tasks.NASStepResult{Sweep: p.Sweep, Status: rep.Status, Told: rep.Told, Asked: rep.Asked, Pending: rep.Pending, Finished: rep.Finished}, nil
}

// nasEval handles nas:eval: score one trial and report it to its sweep. An
// evaluation that fails is reported as a failed attempt (the strategy
// decides about retrying it); only failures to reach Redis retry the task.
func (w *Worker) nasEval(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.NASEvalPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	var cand nas.Candidate
	if err := json.Unmarshal(p.Candidate, &cand); err != nil {
		return nil, fmt.Errorf("candidate: %w: %w", err, asynq.SkipRetry)
	}
	spec, status, err := w.sweeps.Spec(ctx, p.Sweep)
	if err != nil {
		return nil, err
	}
	res := &tasks.NASEvalResult{Sweep: p.Sweep, Trial: p.Trial, Attempt: p.Attempt}
	if status == rdb.SweepCancelled {
		w.dropCheckpoints(ctx, sweep.CheckpointDir(p.Sweep))
		res.Error = "sweep cancelled"
		return res, nil
	}
	r := nas.Result{ID: p.Trial, Attempt: p.Attempt}
	trial := nas.Trial{ID: p.Trial, Attempt: p.Attempt, Epochs: p.Epochs, Horizon: p.Horizon, From: p.From, Candidate: cand}
	cps := w.trialCheckpoints(p.Sweep, p.Trial, p.From)
	start := time.Now()
	var run nas.TrialRun
	ev, err := w.evaluators.get(ctx, w, p.Sweep, spec)
	ce, checkpointed := ev.(checkpointedEvaluator)
	if checkpointed && err == nil {
		r.Objectives, run, err = ce.EvaluateCheckpointed(ctx, trial, cps)
		res.ResumedFrom, res.Weights = run.ResumedFrom, run.Weights
		if b, merr := json.Marshal(run.Curve); merr == nil && len(run.Curve) > 0 {
			res.Curve = b
		}
		if err == nil && len(run.Artifact) > 0 {
			// A policy trial's compressed model: the front links to it.
			if r.Objectives.Artifact, err = w.store.Put(ctx, bytes.NewReader(run.Artifact), CompressedExt); err != nil {
				return nil, fmt.Errorf("store the trial's artifact: %w", err)
			}
		}
		if run.ResumedFrom > 0 {
			w.metrics.TrialResumes.Inc()
			w.log.Info("trial resumed from checkpoint", "sweep", p.Sweep, "trial", p.Trial, "epoch", run.ResumedFrom)
		}
	} else if err == nil {
		r.Objectives, err = ev.Evaluate(ctx, trial)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, err // cancelled or timed out: the queue retries the attempt
		}
		r.Err = err.Error()
		res.Error = r.Err
	} else if res.Objectives, err = json.Marshal(r.Objectives); err != nil {
		return nil, err
	}
	// The run record is for people (the sweep pages): one that cannot be
	// written costs its learning curve, not the trial.
	if err := w.sweeps.RecordRun(ctx, p.Sweep, sweep.Run{Trial: p.Trial, Attempt: p.Attempt, Curve: run.Curve,
		ResumedFrom: run.ResumedFrom, Weights: run.Weights, Error: r.Err, Seconds: time.Since(start).Seconds(),
		Finished: time.Now().UTC()}); err != nil {
		w.log.Warn("record a trial's run", "sweep", p.Sweep, "trial", p.Trial, "error", err)
	}
	if err := w.sweeps.Report(ctx, p.Sweep, spec.Queue, r); err != nil {
		return nil, err
	}
	switch {
	case !checkpointed:
	case r.Err == "" && p.Horizon > p.Epochs:
		cps.keepFinal(ctx, p.Epochs) // a promotion may continue it
	default:
		w.dropCheckpoints(ctx, sweep.TrialCheckpointDir(p.Sweep, p.Trial))
	}
	if checkpointed && r.Err == "" {
		for _, done := range p.Release { // no trial continues from these any more
			w.dropCheckpoints(ctx, sweep.TrialCheckpointDir(p.Sweep, done))
		}
	}
	return res, nil
}

// checkpointedEvaluator is an evaluator that trains (nas.Trainer): it
// saves checkpoints and continues from them.
type checkpointedEvaluator interface {
	EvaluateCheckpointed(ctx context.Context, t nas.Trial, c nas.Checkpoints) (nas.Objectives, nas.TrialRun, error)
}

// delayed is an evaluator that takes at least d per trial.
type delayed struct {
	nas.Evaluator
	d time.Duration
}

func (e delayed) Evaluate(ctx context.Context, t nas.Trial) (nas.Objectives, error) {
	timer := time.NewTimer(e.d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return nas.Objectives{}, ctx.Err()
	case <-timer.C:
	}
	return e.Evaluator.Evaluate(ctx, t)
}

// evaluatorCache keeps each sweep's evaluator (a loaded table, or a trainer
// bound to its data) for the life of the process; it forgets all of them
// when it holds too many.
type evaluatorCache struct {
	mu sync.Mutex
	m  map[string]nas.Evaluator
}

const maxCachedEvaluators = 32

func (c *evaluatorCache) get(ctx context.Context, w *Worker, id string, spec *sweep.Spec) (nas.Evaluator, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev, ok := c.m[id]; ok {
		return ev, nil
	}
	var ev nas.Evaluator
	switch spec.Evaluator.Type {
	case sweep.EvalTable:
		b, err := w.fetch(ctx, "evaluator.table", spec.Evaluator.Table)
		if err != nil {
			return nil, err
		}
		tab, err := nas.ReadTable(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("evaluator.table: %w", err)
		}
		ev = tab
		if d := time.Duration(spec.Evaluator.Delay); d > 0 {
			ev = delayed{tab, d}
		}
	case sweep.EvalTrain:
		splits, err := w.data.get(ctx, spec.Evaluator.Data)
		if err != nil {
			return nil, err
		}
		// Trials train from scratch: the training split's own statistics,
		// as the train task uses by default. A policy search fine-tunes
		// its base model: the model's input transform.
		transform := data.Stats(splits.Train)
		var base *nn.Network
		var baseTransform *data.Transform
		if uri := spec.Evaluator.Model; uri != "" {
			m, err := w.loadModel(ctx, "evaluator.model", uri)
			if err != nil {
				return nil, err
			}
			base, transform = m.Net, recipe.ModelTransform(data.Transform{}, m)
			if m.Stated {
				baseTransform = &m.Transform
			}
		}
		train, test, err := recipe.Prepare(splits, transform)
		if err != nil {
			return nil, fmt.Errorf("evaluator.data: %w: %w", err, asynq.SkipRetry)
		}
		ev = &nas.Trainer{Space: spec.Config.Space, Base: base, BaseTransform: baseTransform, Train: train, Test: test, EpochImages: spec.Evaluator.EpochImages,
			TestEachEpoch: spec.Evaluator.TestEachEpoch, RungTestImages: spec.Evaluator.RungTestImages,
			Config: nn.TrainConfig{BatchSize: spec.Evaluator.BatchSize, LR: spec.Evaluator.LR, Seed: spec.Evaluator.Seed}}
	default:
		return nil, fmt.Errorf("evaluator.type %q: %w", spec.Evaluator.Type, asynq.SkipRetry)
	}
	if c.m == nil || len(c.m) >= maxCachedEvaluators {
		c.m = map[string]nas.Evaluator{}
	}
	c.m[id] = ev
	return ev, nil
}
