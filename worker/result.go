package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/internal/artifact"
)

// Keeping finished work. A handler's computation can take hours; the
// writes that record its result (the task's ResultWriter, the job state,
// the next step's enqueue) take milliseconds but need Redis. When Redis
// does not answer at that moment, record retries the writes with backoff
// for as long as the task's context and resultWriteBudget allow, so a
// short outage costs the wait and not the computation. Before the first
// retry it checkpoints the result in the artifact store (which does not
// need Redis) under a key derived from the task, so that a later run of
// the same task (asynq's retry, or another worker's once the lease has
// expired) writes the stored result instead of computing again.

// resultWriteBudget bounds how long one run retries its result writes;
// after it the run fails and asynq's retry takes over from the checkpoint.
const resultWriteBudget = 2 * time.Minute

// Backoff between result write attempts.
const (
	resultWriteFirstDelay = 50 * time.Millisecond
	resultWriteMaxDelay   = time.Second
)

// finished is a computation's result as record writes it and as a
// checkpoint stores it.
type finished struct {
	Result    json.RawMessage `json:"result"`
	Artifact  string          `json:"artifact,omitempty"`
	HandedOff bool            `json:"handed_off,omitempty"`
}

// checkpointKey is the artifact store key of t's checkpoint: a digest of
// the task id (stable across retries; for a job step, the deterministic
// job/step id), type and payload, so a checkpoint is never taken for a
// different task that reuses the id.
func checkpointKey(ctx context.Context, t *asynq.Task) (string, bool) {
	id, ok := asynq.GetTaskID(ctx)
	if !ok {
		return "", false
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(id), []byte(t.Type()), t.Payload()} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return "results/" + hex.EncodeToString(h.Sum(nil)) + ".json", true
}

// storedResult returns the checkpoint an earlier run of t left, if this
// run is a retry and there is one.
func (w *Worker) storedResult(ctx context.Context, t *asynq.Task) (finished, bool) {
	var done finished
	if n, _ := asynq.GetRetryCount(ctx); n == 0 {
		return done, false // a first run has no predecessor
	}
	key, ok := checkpointKey(ctx, t)
	if !ok {
		return done, false
	}
	b, err := w.store.GetNamed(ctx, key)
	if err != nil {
		if !errors.Is(err, artifact.ErrNotFound) {
			w.log.Warn("read result checkpoint; computing again", "type", t.Type(), "error", err)
		}
		return done, false
	}
	if err := json.Unmarshal(b, &done); err != nil || len(done.Result) == 0 {
		w.log.Warn("result checkpoint unreadable; computing again", "type", t.Type(), "key", key, "error", err)
		return done, false
	}
	return done, true
}

// record writes done through write, retrying failures with backoff until
// ctx ends or resultWriteBudget has passed; before the first retry it
// checkpoints done. A checkpoint (this run's or one it reused) is deleted
// once the writes succeed.
func (w *Worker) record(ctx context.Context, t *asynq.Task, done finished, reused bool, write func(finished) error) error {
	err := write(done)
	if err == nil {
		if reused {
			w.dropCheckpoint(ctx, t)
		}
		return nil
	}
	checkpointed := reused
	if !checkpointed {
		checkpointed = w.checkpoint(ctx, t, done)
	}
	deadline := time.Now().Add(resultWriteBudget)
	delay := resultWriteFirstDelay
	for attempt := 2; ; attempt++ {
		if time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("result writes still failing after %v (the result is kept for the next attempt: %t): %w", resultWriteBudget, checkpointed, err)
		}
		w.metrics.ResultWriteRetries.WithLabelValues(t.Type()).Inc()
		if attempt == 2 {
			w.log.Warn("result write failed; retrying", "type", t.Type(), "checkpointed", checkpointed, "error", err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (while retrying result writes; the result is kept for the next attempt: %t, last error: %v)", ctx.Err(), checkpointed, err)
		case <-timer.C:
		}
		if err = write(done); err == nil {
			w.log.Info("result written after retries", "type", t.Type(), "attempts", attempt)
			if checkpointed {
				w.dropCheckpoint(ctx, t)
			}
			return nil
		}
		delay = min(2*delay, resultWriteMaxDelay)
	}
}

// checkpointTimeout bounds the write of a result checkpoint.
const checkpointTimeout = 30 * time.Second

// checkpoint stores done for later runs of t and reports whether it did.
// The write outlives ctx (within checkpointTimeout): the first result
// write to a Redis that does not answer can take the task's last seconds,
// and the checkpoint is what keeps the finished work then.
func (w *Worker) checkpoint(ctx context.Context, t *asynq.Task, done finished) bool {
	key, ok := checkpointKey(ctx, t)
	if !ok {
		return false
	}
	b, err := json.Marshal(done)
	if err == nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkpointTimeout)
		_, err = w.store.PutNamed(wctx, key, b)
		cancel()
	}
	if err != nil {
		w.log.Warn("checkpoint a finished result", "type", t.Type(), "error", err)
		return false
	}
	return true
}

// dropCheckpoint deletes t's checkpoint once its result is written; a
// leftover is harmless (a later run of the same task would write the same
// result), so failures are only logged.
func (w *Worker) dropCheckpoint(ctx context.Context, t *asynq.Task) {
	key, ok := checkpointKey(ctx, t)
	if !ok {
		return
	}
	if err := w.store.DeleteNamed(context.WithoutCancel(ctx), key); err != nil {
		w.log.Warn("delete a result checkpoint", "type", t.Type(), "key", key, "error", err)
	}
}
