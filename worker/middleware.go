package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/metrics"
	"github.com/compressq/compressq/tasks"
)

// Outcomes of one task run, as counted in compressq_tasks_total.
const (
	OutcomeSuccess  = "success"
	OutcomeRetry    = "retry"
	OutcomeArchived = "archived"
	OutcomeCanceled = "canceled"
)

// outcome classifies the error a handler returned.
func outcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, asynq.RevokeTask):
		return OutcomeCanceled
	case isFinal(ctx, err):
		return OutcomeArchived
	}
	return OutcomeRetry
}

// isFinal reports whether asynq will archive the task instead of retrying
// it: the error says skip retry, or the retries are used up.
func isFinal(ctx context.Context, err error) bool {
	if errors.Is(err, asynq.SkipRetry) {
		return true
	}
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && retried >= maxRetry
}

// withMetrics counts outcomes, durations, queue waits and in-flight tasks
// by type.
func withMetrics(m *metrics.Metrics) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			queue, _ := asynq.GetQueueName(ctx)
			m.TaskStarted(t.Type())
			start := time.Now()
			if due, ok := tasks.Due(t); ok {
				if retried, _ := asynq.GetRetryCount(ctx); retried == 0 {
					m.TaskWaited(t.Type(), start.Sub(due))
				}
			}
			err := next.ProcessTask(ctx, t)
			m.TaskFinished(t.Type(), queue, outcome(ctx, err), time.Since(start))
			return err
		})
	}
}

// withLogging logs the end of every task run with its id, type, queue,
// job step, attempt, duration and error.
func withLogging(log *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			start := time.Now()
			err := next.ProcessTask(ctx, t)
			level := slog.LevelInfo
			if err != nil {
				level = slog.LevelWarn
			}
			if !log.Enabled(ctx, level) {
				return err
			}
			id, _ := asynq.GetTaskID(ctx)
			queue, _ := asynq.GetQueueName(ctx)
			retried, _ := asynq.GetRetryCount(ctx)
			attrs := []any{"task_id", id, "type", t.Type(), "queue", queue, "attempt", retried + 1, "duration", time.Since(start)}
			if job, step, ok := tasks.JobStep(t); ok {
				attrs = append(attrs, "job", job, "step", step)
			}
			if err != nil {
				attrs = append(attrs, "outcome", outcome(ctx, err), "error", err.Error())
				log.Log(ctx, level, "task failed", attrs...)
			} else {
				log.Log(ctx, level, "task done", attrs...)
			}
			return err
		})
	}
}

// withRecover turns a handler panic into an error (logged with its stack),
// so the metrics and logging around it see a failed run.
func withRecover(log *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("task panicked", "type", t.Type(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					err = fmt.Errorf("panic in %s handler: %v", t.Type(), r)
				}
			}()
			return next.ProcessTask(ctx, t)
		})
	}
}

// withTimeout bounds each run by the configured timeout of its type; asynq's
// own per-task timeout or deadline still applies when shorter.
func withTimeout(timeoutFor func(string) time.Duration) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			if d := timeoutFor(t.Type()); d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			return next.ProcessTask(ctx, t)
		})
	}
}
