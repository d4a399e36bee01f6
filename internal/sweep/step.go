package sweep

// The step: tell a sweep's strategy the results in its inbox, ask it for
// trials up to the sweep's concurrency, commit, enqueue the trials.
//
// A sweep's state in Redis is a snapshot of the strategy plus a log with
// one entry per step since (the results told, the number of trials asked
// and their ids). Strategies are deterministic, so replaying the log on the
// snapshot rebuilds the state exactly, and a step costs the same at the
// thousandth trial as at the hundred-thousandth: each process keeps the
// strategy it last stepped and replays only the entries other processes
// committed since, and a new snapshot is written only when the log has
// grown by a quarter of the trials, so rewriting the state costs a bounded
// amount per trial. One process steps a sweep at a time (a lease in
// Redis); the commit is also a compare-and-set on the version, so a step
// whose lease ran out cannot overwrite a newer state.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/rdb"
)

const (
	// lockLease is how long a step holds a sweep before its lease expires
	// (if its process died holding it).
	lockLease = 30 * time.Second
	// stepBudget bounds how long one step keeps stepping while results
	// keep arriving before it hands over to a new step task.
	stepBudget = 2 * time.Second
	// minSnapshotEvery is the fewest steps between two snapshots; beyond
	// it a snapshot is taken when the log holds a quarter as many entries
	// as the strategy has trials.
	minSnapshotEvery = 64
	// enqueueParallel bounds the trial enqueues in flight.
	enqueueParallel = 16
)

// StepReport says what one Step did.
type StepReport struct {
	// Status is the sweep's status after the step, "idle" when there was
	// nothing to tell, or "busy" when another process holds the sweep (it
	// will tell what is waiting).
	Status            string
	Told, Asked       int
	Pending, Finished int
	// Rejected holds the strategy's complaints about results it could not
	// use, nil when there were none.
	Rejected error

	queue string // the sweep's queue, for a follow-up step
}

// entry is one step in a sweep's log.
type entry struct {
	Version int64 `json:"v"`
	// Results were told in this order.
	Results []nas.Result `json:"results,omitempty"`
	// Ask is the number of trials asked for; Asked the id and attempt of
	// each trial the strategy gave, to check a replay against.
	Ask   int      `json:"ask,omitempty"`
	Asked []string `json:"asked,omitempty"`
}

func trialKey(t nas.Trial) string { return t.ID + "/" + strconv.Itoa(t.Attempt) }

// replay applies log entries (versions from+1, from+2, …) to strat.
func replay(id string, strat nas.Strategy, from int64, log []string) error {
	for i, raw := range log {
		var e entry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return fmt.Errorf("sweep %s: log entry %d: %w", id, from+int64(i)+1, err)
		}
		if e.Version != from+int64(i)+1 {
			return fmt.Errorf("sweep %s: log entry %d has version %d", id, from+int64(i)+1, e.Version)
		}
		// The strategy's complaints were logged when the step ran.
		_ = strat.Tell(e.Results...)
		var asked []nas.Trial
		if e.Ask > 0 {
			var err error
			if asked, err = strat.Ask(e.Ask); err != nil {
				return fmt.Errorf("sweep %s: replay of version %d: %w", id, e.Version, err)
			}
		}
		keys := make([]string, len(asked))
		for j, t := range asked {
			keys[j] = trialKey(t)
		}
		if !slices.Equal(keys, e.Asked) {
			return fmt.Errorf("sweep %s: replay of version %d asked %v, the step asked %v", id, e.Version, keys, e.Asked)
		}
	}
	return nil
}

// restore rebuilds the strategy at sw.Version from a full load.
func restore(id string, sw *rdb.Sweep) (nas.Strategy, error) {
	if sw.Snapshot == nil {
		return nil, fmt.Errorf("sweep %s: no snapshot loaded", id)
	}
	strat, err := nas.Load(sw.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", id, err)
	}
	if err := replay(id, strat, sw.SnapVersion, sw.Log); err != nil {
		return nil, err
	}
	return strat, nil
}

// strategyCache keeps, per sweep, the strategy this process last committed
// and its version, so that the next step here replays only what other
// processes committed since. A step takes the strategy out while it works
// on it.
type strategyCache struct {
	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	version int64
	strat   nas.Strategy
	spec    *Spec
}

// maxCachedStrategies bounds the cache; it is emptied when full.
const maxCachedStrategies = 64

func (c *strategyCache) take(id string) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	delete(c.m, id)
	return e, ok
}

func (c *strategyCache) put(id string, e cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedStrategies {
		c.m = map[string]cached{}
	}
	c.m[id] = e
}

// Step tells the strategy every result in the inbox, asks it for trials up
// to the sweep's concurrency (unless the sweep is paused, cancelled or
// done), commits, and enqueues the new trials; it repeats while results keep
// arriving, up to a time budget. A step that finds the inbox empty returns
// at once unless force is set, as for the first step, a resume, or a
// retried step: force also re-enqueues every pending trial, since a step
// that died after its commit left them unqueued. While another process
// holds the sweep a step returns "busy" (that process looks at the inbox
// again after releasing it), except a forced one, which waits its turn.
func (c *Controller) Step(ctx context.Context, id string, force bool) (*StepReport, error) {
	rep := &StepReport{Status: "idle"}
	start := time.Now()
	for {
		n, err := c.store.TakeWake(ctx, id)
		if err != nil {
			return nil, err
		}
		if !force {
			if n == 0 {
				return rep, nil
			}
			if time.Since(start) > stepBudget {
				// Hand over, so one task does not hold a busy sweep forever.
				return rep, c.enqueueStep(ctx, id, rep.queue, "cont-"+strconv.FormatInt(time.Now().UnixNano(), 36), false)
			}
		}
		token, err := c.lock(ctx, id, force)
		if err != nil {
			return nil, err
		}
		if token == "" {
			if rep.Status == "idle" {
				rep.Status = "busy"
			}
			return rep, nil
		}
		r, err := c.stepOnce(ctx, id, force)
		if uerr := c.store.Unlock(context.WithoutCancel(ctx), id, token); err == nil {
			err = uerr
		}
		if err != nil {
			return nil, err
		}
		rep.Status, rep.Pending, rep.Finished, rep.queue = r.Status, r.Pending, r.Finished, r.queue
		rep.Told += r.Told
		rep.Asked += r.Asked
		rep.Rejected = errors.Join(rep.Rejected, r.Rejected)
		force = false
	}
}

// lock takes the sweep's lease; "" means another process holds it. A
// forced step waits for it, polling, up to a lease's length.
func (c *Controller) lock(ctx context.Context, id string, wait bool) (string, error) {
	deadline := time.Now().Add(lockLease + time.Second)
	for {
		token, ok, err := c.store.Lock(ctx, id, lockLease)
		if err != nil || ok {
			return token, err
		}
		if !wait {
			return "", nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("sweep %s: held by another step for over %v: %w", id, lockLease, rdb.ErrConflict)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stepOnce is one step, under the lease.
func (c *Controller) stepOnce(ctx context.Context, id string, force bool) (*StepReport, error) {
	have := int64(-1)
	e, ok := c.cache.take(id)
	if ok {
		have = e.version
	}
	sw, err := c.store.LoadSince(ctx, id, have)
	if err != nil {
		return nil, err
	}
	spec, strat := e.spec, e.strat
	if spec == nil {
		spec = new(Spec)
		if err := json.Unmarshal(sw.Spec, spec); err != nil {
			return nil, fmt.Errorf("sweep %s: stored spec: %w", id, err)
		}
	}
	if sw.Snapshot != nil {
		strat, err = restore(id, sw)
	} else if err = replay(id, strat, have, sw.Log); err != nil {
		// The cached copy is no good (a bug, or a state rewritten under
		// it): start again from the snapshot.
		if sw, err = c.store.Load(ctx, id); err == nil {
			strat, err = restore(id, sw)
		}
	}
	if err != nil {
		return nil, err
	}
	results := make([]nas.Result, 0, len(sw.Inbox))
	for _, raw := range sw.Inbox {
		var r nas.Result
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, fmt.Errorf("sweep %s: inbox entry %.80q: %w", id, raw, err)
		}
		results = append(results, r)
	}
	// Told in a fixed order, the same inbox gives the same state.
	slices.SortFunc(results, func(a, b nas.Result) int {
		if a.ID != b.ID {
			return strings.Compare(a.ID, b.ID)
		}
		return a.Attempt - b.Attempt
	})
	// The strategy counts results it no longer waits for as duplicates and
	// rejects results for trials it never asked; neither may block the
	// sweep.
	rejected := strat.Tell(results...)
	ent := entry{Version: sw.Version + 1, Results: results}
	if sw.Status == rdb.SweepRunning {
		ent.Ask = max(0, spec.Concurrency-strat.Counts().Pending)
	}
	var asked []nas.Trial
	if ent.Ask > 0 {
		if asked, err = strat.Ask(ent.Ask); err != nil {
			return nil, fmt.Errorf("sweep %s: %w", id, err)
		}
	}
	for _, t := range asked {
		ent.Asked = append(ent.Asked, trialKey(t))
	}
	cnt := strat.Counts()
	commit := rdb.Commit{Version: sw.Version, Consumed: len(sw.Inbox), Done: cnt.Done,
		Counts: rdb.SweepCounts{Trials: int64(cnt.Trials), Pending: int64(cnt.Pending), Completed: int64(cnt.Completed), Failed: int64(cnt.Failed)}}
	if steps := sw.Version + 1 - sw.SnapVersion; steps >= max(c.snapshotEvery, int64(cnt.Trials/4)) {
		commit.Snapshot, err = nas.Save(strat)
	} else {
		commit.Entry, err = json.Marshal(ent)
	}
	if err != nil {
		return nil, err
	}
	if err := c.store.Commit(ctx, id, commit); err != nil {
		return nil, err // the strategy is dropped with its uncommitted changes
	}
	c.cache.put(id, cached{version: sw.Version + 1, strat: strat, spec: spec})
	rep := &StepReport{Status: sw.Status, Told: len(results), Asked: len(asked), Pending: cnt.Pending,
		Finished: cnt.Completed + cnt.Failed, Rejected: rejected, queue: spec.Queue}
	if sw.Status != rdb.SweepRunning {
		return rep, nil
	}
	if cnt.Done {
		rep.Status = rdb.SweepDone
	}
	if force {
		asked = asked[:0]
		for _, r := range strat.Progress().Records {
			if r.Status == nas.StatusPending {
				asked = append(asked, r.Trial)
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(enqueueParallel)
	for _, t := range asked {
		g.Go(func() error { return c.enqueueEval(gctx, id, spec, t) })
	}
	return rep, g.Wait()
}
