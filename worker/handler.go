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
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
)

// Func is the shape of a compressq task handler: it returns the task's
// result, which the adapter stores and hands to the job's next step.
type Func func(ctx context.Context, t *asynq.Task) (tasks.Result, error)

// adapt turns f into an asynq handler that writes the result through the
// task's ResultWriter and keeps the job (pipeline) state: step started,
// step succeeded and next step enqueued, or job failed on a final error.
// Every write is idempotent, so a retried run does no harm. Result writes
// that fail are retried, and a retried run reuses a result an earlier run
// finished but could not write (see record), or the result the job
// already recorded for its step.
func (w *Worker) adapt(f Func) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		job, step, inJob := tasks.JobStep(t)
		var rec *rdb.StepRecord
		if inJob {
			var err error
			if rec, err = w.jobs.StepStarted(ctx, job, step); err != nil {
				return err
			}
		}
		done, reused := w.storedResult(ctx, t)
		if !reused && rec != nil {
			// The step's work is done and recorded, and this run repeats
			// it: asynq runs a task again when its move out of active
			// failed after a successful run (as in a Redis failover), once
			// the lease has been recovered. Write the record instead.
			w.log.Info("step already recorded its result; writing it instead of computing again", "type", t.Type(), "job", job, "step", step)
			done, reused = finished{Result: rec.Result, Artifact: rec.Artifact}, true
		}
		if reused {
			w.metrics.ResultsReused.WithLabelValues(t.Type()).Inc()
		} else {
			res, err := f(ctx, t)
			err = skipRetry(err)
			if err != nil {
				if inJob && isFinal(ctx, err) {
					if ferr := w.jobs.Failed(context.WithoutCancel(ctx), job, step, err.Error()); ferr != nil {
						w.log.Error("record job failure", "job", job, "step", step, "error", ferr)
					}
				}
				return err
			}
			w.metrics.Computations.WithLabelValues(t.Type()).Inc()
			b, err := json.Marshal(res)
			if err != nil {
				return fmt.Errorf("encode %s result: %w", t.Type(), err)
			}
			_, handed := res.(handedOff)
			done = finished{Result: b, Artifact: res.OutputArtifact(), HandedOff: handed}
		}
		return w.record(ctx, t, done, reused, func(done finished) error {
			if _, err := t.ResultWriter().Write(done.Result); err != nil {
				return fmt.Errorf("write %s result: %w", t.Type(), err)
			}
			if !inJob || done.HandedOff {
				return nil
			}
			return w.advance(ctx, job, step, done.Result, done.Artifact)
		})
	})
}

// handedOff is the result of a task that hands its job step on to a task
// it enqueued with the same job headers, which finishes the step: adapt
// writes the result but leaves the step running.
type handedOff struct{ tasks.Result }

// MarshalJSON writes the wrapped result.
func (h handedOff) MarshalJSON() ([]byte, error) { return json.Marshal(h.Result) }

// advance records step's success and enqueues the next step under its
// fixed task id: a second enqueue (after a retry) conflicts and is ignored.
func (w *Worker) advance(ctx context.Context, job string, step int, result []byte, artifact string) error {
	last, err := w.jobs.StepSucceeded(ctx, job, step, result, artifact)
	if errors.Is(err, rdb.ErrNoJob) {
		// The job expired or already failed: this task's own result stands,
		// and there is no next step to run.
		w.log.Warn("step finished for a job that is gone or failed", "job", job, "step", step)
		return nil
	}
	if err != nil || last {
		return err
	}
	j, err := w.jobs.Get(ctx, job)
	if err != nil {
		return err
	}
	var spec tasks.JobSpec
	if err := json.Unmarshal(j.Spec, &spec); err != nil {
		return w.failJob(ctx, job, step+1, fmt.Errorf("stored job spec: %w", err))
	}
	next, err := spec.StepTask(job, step+1, artifact, w.defaults)
	if err != nil {
		return w.failJob(ctx, job, step+1, err)
	}
	_, err = w.client.EnqueueContext(ctx, next)
	switch {
	case err == nil, errors.Is(err, asynq.ErrTaskIDConflict):
		return nil
	case errors.Is(err, asynq.ErrDuplicateTask):
		return w.failJob(ctx, job, step+1, fmt.Errorf("an identical task is already queued (options.unique): %w", err))
	}
	return fmt.Errorf("job %s: enqueue step %d: %w", job, step+1, err)
}

// failJob marks the job failed at step for a reason no retry can fix; the
// current task itself succeeded, so it returns nil unless the write fails.
func (w *Worker) failJob(ctx context.Context, job string, step int, reason error) error {
	w.log.Warn("job failed", "job", job, "step", step, "error", reason)
	return w.jobs.Failed(ctx, job, step, reason.Error())
}

// modelJob is what the handlers that turn one model artifact into another
// (quantize, prune, distill) have in common: fetch the input named by the
// payload field, load the data set if the task needs one, run the recipe,
// and store its output. It returns run's result and the stored output's
// URI.
func modelJob[R any](ctx context.Context, w *Worker, field, uri string, needData bool, dataURI, ext string,
	run func(ctx context.Context, raw []byte, splits *data.Splits) ([]byte, R, error)) (R, string, error) {
	var zero R
	raw, err := w.fetch(ctx, field, uri)
	if err != nil {
		return zero, "", err
	}
	var splits *data.Splits
	if needData {
		if splits, err = w.data.get(ctx, dataURI); err != nil {
			return zero, "", err
		}
	}
	out, res, err := run(ctx, raw, splits)
	if err != nil {
		return zero, "", inputError(field, uri, err)
	}
	stored, err := w.store.Put(ctx, bytes.NewReader(out), ext)
	if err != nil {
		return zero, "", fmt.Errorf("store the output of %s %q: %w", field, uri, err)
	}
	return res, stored, nil
}

// skipRetry is where errors that the same input would raise again become
// asynq.SkipRetry, so the task is archived at once with its reason: a
// recipe's *recipe.InputError, a malformed data set or model file, a data
// or artifact URI refused by the store, and a diverged training run.
func skipRetry(err error) error {
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		return err
	}
	var inputErr *recipe.InputError
	switch {
	case errors.Is(err, nn.ErrDiverged):
		return fmt.Errorf("%w (lower the learning rate): %w", err, asynq.SkipRetry)
	case errors.As(err, &inputErr), errors.Is(err, safetensors.ErrFormat), errors.Is(err, safetensors.ErrLimit), datasets.Permanent(err):
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}
