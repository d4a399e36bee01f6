package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
)

// Func is the shape of a compressq task handler: it returns the task's
// result, which the adapter stores and hands to the job's next step.
type Func func(ctx context.Context, t *asynq.Task) (tasks.Result, error)

// adapt turns f into an asynq handler that writes the result through the
// task's ResultWriter and keeps the job (pipeline) state: step started,
// step succeeded and next step enqueued, or job failed on a final error.
// Every write is idempotent, so a retried run does no harm.
func (w *Worker) adapt(f Func) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		job, step, inJob := tasks.JobStep(t)
		if inJob {
			if err := w.jobs.StepStarted(ctx, job, step); err != nil {
				return err
			}
		}
		res, err := f(ctx, t)
		if err != nil {
			if inJob && isFinal(ctx, err) {
				if ferr := w.jobs.Failed(context.WithoutCancel(ctx), job, step, err.Error()); ferr != nil {
					w.log.Error("record job failure", "job", job, "step", step, "error", ferr)
				}
			}
			return err
		}
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("encode %s result: %w", t.Type(), err)
		}
		if _, err := t.ResultWriter().Write(b); err != nil {
			return fmt.Errorf("write %s result: %w", t.Type(), err)
		}
		if !inJob {
			return nil
		}
		return w.advance(ctx, job, step, b, res.OutputArtifact())
	})
}

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
