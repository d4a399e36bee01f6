package worker

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/tasks"
)

// sleep handles debug:sleep: wait (honouring cancellation), then succeed or
// fail as the payload asks.
func (w *Worker) sleep(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.SleepPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	if d := time.Duration(p.Duration); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
	if p.Fail != "" {
		return nil, errors.New(p.Fail)
	}
	return &tasks.SleepResult{Slept: p.Duration}, nil
}
