package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/compressq/compressq/compress/nas"
)

// Run is how one attempt of a trial ran, as its nas:eval recorded it for
// the sweep pages: the learning curve and what the task result says. The
// strategy never sees it; a sweep's runs expire with its state.
type Run struct {
	Trial   string `json:"trial"`
	Attempt int    `json:"attempt"`
	// Curve is the attempt's training epochs (the train evaluator only).
	Curve []nas.Epoch `json:"curve,omitempty"`
	// ResumedFrom and Weights are as in the nas:eval result.
	ResumedFrom int    `json:"resumed_from,omitempty"`
	Weights     string `json:"weights,omitempty"`
	// Error is the failed attempt's message.
	Error string `json:"error,omitempty"`
	// Seconds is the evaluation's wall time; Finished when it ended.
	Seconds  float64   `json:"seconds"`
	Finished time.Time `json:"finished"`
}

// RecordRun stores r under its trial and attempt in sweep id's state,
// replacing an earlier record of the same attempt.
func (c *Controller) RecordRun(ctx context.Context, id string, r Run) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return c.store.PutTrialRun(ctx, id, r.Trial, r.Attempt, b)
}

// Runs returns the records of attempts 1 to attempts of a trial, oldest
// first, leaving out attempts with none.
func (c *Controller) Runs(ctx context.Context, id, trial string, attempts int) ([]Run, error) {
	raw, err := c.store.TrialRuns(ctx, id, trial, attempts)
	if err != nil {
		return nil, err
	}
	var out []Run
	for i, b := range raw {
		if b == nil {
			continue
		}
		var r Run
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("sweep %s: trial %s attempt %d: stored run: %w", id, trial, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
