package nas

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Objectives are what an evaluation measured for one trial.
type Objectives struct {
	// Accuracy is top-1 test accuracy in [0, 1].
	Accuracy float64 `json:"accuracy"`
	// Params is the trainable parameter count; Bytes the stored size of the
	// compressed network.
	Params int `json:"params"`
	Bytes  int `json:"bytes"`
	// LatencyFP32 and LatencyInt8 are measured per-sample inference
	// latencies in seconds (0 when not measured).
	LatencyFP32 float64 `json:"latency_fp32"`
	LatencyInt8 float64 `json:"latency_int8"`
	// MACs is the multiply-accumulates per sample through the Dense and
	// Conv2D layers counting only nonzero weights (0 when not measured).
	MACs int64 `json:"macs,omitempty"`
	// Violation > 0 says the trial broke a measured constraint
	// (max_latency_int8) by that fraction of the limit: the strategies
	// rank it below every feasible trial and the front leaves it out.
	Violation float64 `json:"violation,omitempty"`
	// Artifact is the URI of the compressed model a policy trial wrote
	// (set by the worker that stored TrialRun.Artifact).
	Artifact string `json:"artifact,omitempty"`
	// TestImages, when > 0, says Accuracy was measured on only the first
	// TestImages test images (a lower rung scored on a subset:
	// Trainer.RungTestImages); 0 means on the whole test set.
	TestImages int `json:"test_images,omitempty"`
}

// Trial is one evaluation asked for by a strategy: a candidate trained for
// Epochs (the fidelity). ID names the trial within its sweep; Attempt counts
// from 1 and grows when a failed trial is retried.
//
// Horizon, when set (at least Epochs), makes the trial the first Epochs
// epochs of a Horizon-epoch training run: its learning-rate schedule and
// pruning point are the longer run's. From, when set, names the trial of
// the same run, with fewer epochs, whose final checkpoint this one
// continues from: an ASHA promotion (same candidate: it ends with the
// weights training from the start would give) or a PBT member (its own
// previous trial, or an exploited one's with other hyperparameters).
// Release names trials whose final checkpoints no trial continues from
// once this one has succeeded.
type Trial struct {
	ID        string    `json:"id"`
	Attempt   int       `json:"attempt"`
	Epochs    int       `json:"epochs"`
	Horizon   int       `json:"horizon,omitempty"`
	From      string    `json:"from,omitempty"`
	Release   []string  `json:"release,omitempty"`
	Candidate Candidate `json:"candidate"`
}

// Result reports a trial's outcome to a strategy. A non-empty Err marks a
// failed attempt.
type Result struct {
	ID         string     `json:"id"`
	Attempt    int        `json:"attempt"`
	Objectives Objectives `json:"objectives"`
	Err        string     `json:"err,omitempty"`
}

// Trial statuses in Record.Status.
const (
	StatusPending = "pending" // asked, no result yet
	StatusRetry   = "retry"   // failed, waiting to be asked again
	StatusDone    = "done"    // has objectives
	StatusFailed  = "failed"  // failed MaxAttempts times
)

// Record is a strategy's account of one trial.
type Record struct {
	Trial      Trial       `json:"trial"`
	Status     string      `json:"status"`
	Objectives *Objectives `json:"objectives,omitempty"`
	// Errors holds the message of every failed attempt.
	Errors []string `json:"errors,omitempty"`
}

// Counts is a strategy's progress without its records: cheap enough to
// take at every step of a sweep of any size.
type Counts struct {
	// Done, Pending, Completed and Failed are as in Progress; Trials counts
	// every trial asked.
	Done      bool `json:"done"`
	Pending   int  `json:"pending"`
	Completed int  `json:"completed"`
	Failed    int  `json:"failed"`
	Trials    int  `json:"trials"`
}

// Progress summarises a strategy's trials.
type Progress struct {
	// Done says the strategy will ask for nothing more and nothing is
	// outstanding.
	Done bool `json:"done"`
	// Pending counts trials asked and not yet answered (retries included),
	// Completed those with objectives, Failed those out of attempts.
	Pending   int `json:"pending"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	// Records are all trials in the order they were first asked.
	Records []Record `json:"records"`
}

// DefaultMaxAttempts is the attempts a trial gets when Config.MaxAttempts
// is 0.
const DefaultMaxAttempts = 3

// Book is the trial ledger shared by the strategies: every trial asked, its
// status and result, the queue of failed trials to retry, and the random
// generator. It is part of each strategy's saved state.
type Book struct {
	Space       Space    `json:"space"`
	MaxTrials   int      `json:"max_trials"`
	MaxAttempts int      `json:"max_attempts"`
	Epochs      int      `json:"epochs"`
	RNG         rng      `json:"rng"`
	Records     []Record `json:"records"`
	Retry       []int    `json:"retry"`
	// Exhausted says the space has no new feasible candidate left.
	Exhausted bool `json:"exhausted"`
	// Duplicates counts results ignored as repeated or stale.
	Duplicates int `json:"duplicates"`

	// index maps hash@epochs to a record; rebuilt from Records when nil.
	index map[string]int
	// tally counts the records by status once tallied; built from Records
	// at first use.
	tally   Counts
	tallied bool
}

func key(hash string, epochs int) string { return hash + "@" + strconv.Itoa(epochs) }

func trialID(i int) string { return fmt.Sprintf("t%06d", i) }

// TrialIndex returns the number of trial id t<number>: its record's index
// in the strategy's book, its position in the order asked.
func TrialIndex(id string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "t"))
	if err != nil || !strings.HasPrefix(id, "t") {
		return 0, fmt.Errorf("trial id %q: want t<number>", id)
	}
	return n, nil
}

// issue records a new trial of c at epochs and returns it.
func (b *Book) issue(c Candidate, epochs int) Trial {
	asked := epochs
	if e := c.Training().Epochs; e > 0 {
		epochs = e
	}
	t := Trial{ID: trialID(len(b.Records)), Attempt: 1, Epochs: epochs, Candidate: c}
	b.Records = append(b.Records, Record{Trial: t, Status: StatusPending})
	b.tally.Pending++
	b.tally.Trials++
	if b.index != nil {
		b.index[key(c.Hash, epochs)] = len(b.Records) - 1
		// A point that sets its own epochs has them in its hash: it is
		// known under the budget it was asked at too.
		b.index[key(c.Hash, asked)] = len(b.Records) - 1
	}
	return t
}

// issueCut issues c at epochs as the cut of a run of horizon epochs that
// continues trial from (none: "") and releases the trials in release (see
// Trial).
func (b *Book) issueCut(c Candidate, epochs, horizon int, from string, release []string) Trial {
	b.issue(c, epochs)
	r := &b.Records[len(b.Records)-1]
	r.Trial.Horizon, r.Trial.From, r.Trial.Release = horizon, from, release
	return r.Trial
}

// retries re-asks up to n failed trials, oldest first.
func (b *Book) retries(n int) []Trial {
	var out []Trial
	for len(out) < n && len(b.Retry) > 0 {
		i := b.Retry[0]
		b.Retry = b.Retry[1:]
		r := &b.Records[i]
		r.Trial.Attempt++
		r.Status = StatusPending
		out = append(out, r.Trial)
	}
	return out
}

// ask returns up to n trials: failed ones re-asked first, then new
// candidates from next, each issued at the book's epochs, until the budget
// is spent or next finds no feasible candidate (which exhausts the book).
func (b *Book) ask(n int, next func() (Candidate, error)) ([]Trial, error) {
	out := b.retries(n)
	for len(out) < n && !b.Exhausted && b.evaluations() < b.MaxTrials {
		c, err := next()
		if errors.Is(err, ErrNoFeasible) {
			b.Exhausted = true
			break
		}
		if err != nil {
			return out, err
		}
		out = append(out, b.issue(c, b.Epochs))
	}
	return out, nil
}

// evaluations counts distinct trials asked.
func (b *Book) evaluations() int { return len(b.Records) }

// known reports whether a trial of hash at epochs was already asked.
func (b *Book) known(hash string, epochs int) (int, bool) {
	if b.index == nil {
		b.index = make(map[string]int, len(b.Records))
		for i, r := range b.Records {
			b.index[key(r.Trial.Candidate.Hash, r.Trial.Epochs)] = i
			if r.Trial.Candidate.Training().Epochs > 0 {
				b.index[key(r.Trial.Candidate.Hash, b.Epochs)] = i
			}
		}
	}
	i, ok := b.index[key(hash, epochs)]
	return i, ok
}

// tell applies one result. It returns the record index and its new status,
// or ok=false for a stale or repeated result, which is counted and ignored.
func (b *Book) tell(res Result) (idx int, status string, ok bool, err error) {
	i, err := TrialIndex(res.ID)
	if err != nil {
		return 0, "", false, err
	}
	if i < 0 || i >= len(b.Records) {
		return 0, "", false, fmt.Errorf("result for unknown trial %q", res.ID)
	}
	r := &b.Records[i]
	if r.Status != StatusPending || res.Attempt != r.Trial.Attempt {
		b.Duplicates++
		return i, r.Status, false, nil
	}
	if res.Err != "" {
		r.Errors = append(r.Errors, res.Err)
		if r.Trial.Attempt < b.MaxAttempts {
			r.Status = StatusRetry
			b.Retry = append(b.Retry, i)
		} else {
			r.Status = StatusFailed
			b.count(-1, 0, 1)
		}
		return i, r.Status, true, nil
	}
	o := res.Objectives
	r.Objectives = &o
	r.Status = StatusDone
	b.count(-1, 1, 0)
	return i, StatusDone, true, nil
}

// count adjusts the tally (rebuilt from scratch at first use anyway).
func (b *Book) count(pending, completed, failed int) {
	b.tally.Pending += pending
	b.tally.Completed += completed
	b.tally.Failed += failed
}

// counts summarises the book without copying it; finished is the
// strategy's own judgement that it will ask for nothing more, consulted only
// when no trial is pending.
func (b *Book) counts(finished func() bool) Counts {
	if !b.tallied {
		b.tally, b.tallied = Counts{Trials: len(b.Records)}, true
		for _, r := range b.Records {
			switch r.Status {
			case StatusPending, StatusRetry:
				b.tally.Pending++
			case StatusDone:
				b.tally.Completed++
			case StatusFailed:
				b.tally.Failed++
			}
		}
	}
	c := b.tally
	c.Done = c.Pending == 0 && finished()
	return c
}

// progress summarises the book with a copy of every record.
func (b *Book) progress(finished func() bool) Progress {
	c := b.counts(finished)
	return Progress{Done: c.Done, Pending: c.Pending, Completed: c.Completed, Failed: c.Failed,
		Records: append([]Record(nil), b.Records...)}
}

// settled reports whether record i has a final status.
func (b *Book) settled(i int) bool {
	s := b.Records[i].Status
	return s == StatusDone || s == StatusFailed
}

// accuracy returns record i's accuracy (−1 when it has none).
func (b *Book) accuracy(i int) float64 {
	if o := b.Records[i].Objectives; o != nil {
		return o.Accuracy
	}
	return -1
}
