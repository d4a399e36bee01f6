package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
)

// commitAttempts bounds how often Step reloads after losing a
// compare-and-set to a concurrent step before it gives up (and the queue
// retries it).
const commitAttempts = 8

// Controller starts sweeps, advances them and reports on them.
type Controller struct {
	store    *rdb.SweepStore
	client   *asynq.Client
	defaults tasks.Defaults
	cache    strategyCache
}

// strategyCache keeps the decoded strategy of each sweep this process last
// committed, with the version it committed, so that the next step here
// skips decoding the state when nobody else committed since. A step takes
// the strategy out while it works on it, so concurrent steps never share
// one.
type strategyCache struct {
	mu sync.Mutex
	m  map[string]cachedStrategy
}

type cachedStrategy struct {
	version int64
	strat   nas.Strategy
}

// maxCachedStrategies bounds the cache; it is emptied when full.
const maxCachedStrategies = 64

func (c *strategyCache) take(id string, version int64) nas.Strategy {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok {
		return nil
	}
	delete(c.m, id)
	if e.version != version {
		return nil
	}
	return e.strat
}

func (c *strategyCache) put(id string, version int64, s nas.Strategy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedStrategies {
		c.m = map[string]cachedStrategy{}
	}
	if e, ok := c.m[id]; !ok || e.version < version {
		c.m[id] = cachedStrategy{version, s}
	}
}

// New returns a Controller on c, whose sweep state lives for ttl after its
// last change; d gives the retry, retention and timeout options of the
// sweep's tasks.
func New(c redis.UniversalClient, ttl time.Duration, d tasks.Defaults) *Controller {
	return &Controller{store: rdb.NewSweepStore(c, ttl), client: asynq.NewClientFromRedisClient(c), defaults: d}
}

// Close releases the controller's asynq client.
func (c *Controller) Close() error { return c.client.Close() }

// Start records a new sweep and enqueues its first step. A spec with an id
// that exists already is not started again.
func (c *Controller) Start(ctx context.Context, s *Spec) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	id := s.ID
	if id == "" {
		id = uuid.NewString()
		s.ID = id
	}
	strat, err := nas.New(s.Config)
	if err != nil {
		return "", err
	}
	state, err := nas.Save(strat)
	if err != nil {
		return "", err
	}
	spec, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	created, err := c.store.Create(ctx, id, spec, state)
	if err != nil || !created {
		return id, err
	}
	return id, c.enqueueStep(ctx, id, s.Queue, "start", true)
}

// Spec returns a sweep's spec and status.
func (c *Controller) Spec(ctx context.Context, id string) (*Spec, string, error) {
	raw, status, err := c.store.SpecStatus(ctx, id)
	if err != nil {
		return nil, "", err
	}
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, "", fmt.Errorf("sweep %s: stored spec: %w", id, err)
	}
	return &s, status, nil
}

// StepReport says what one step did.
type StepReport struct {
	Status            string
	Told, Asked       int
	Pending, Finished int
	// Rejected holds the strategy's complaints about results it could not
	// use, nil when there were none.
	Rejected error
}

// Step tells the strategy every result in the inbox, asks it for trials up
// to the sweep's concurrency (unless the sweep is paused, cancelled or
// done), commits the new state, and enqueues the new trials. A step that
// finds the inbox empty (another step took its results) returns at once
// unless force is set, as for the first step, a resume, or a retried
// step: force also re-enqueues every pending trial, since a step that died
// after its commit left them unqueued. Steps may run concurrently; the
// compare-and-set commit makes each state change happen once.
func (c *Controller) Step(ctx context.Context, id string, force bool) (*StepReport, error) {
	for range commitAttempts {
		if !force {
			n, err := c.store.InboxLen(ctx, id)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return &StepReport{Status: "idle"}, nil
			}
		}
		sw, err := c.store.LoadMeta(ctx, id)
		if err != nil {
			return nil, err
		}
		var spec Spec
		if err := json.Unmarshal(sw.Spec, &spec); err != nil {
			return nil, fmt.Errorf("sweep %s: stored spec: %w", id, err)
		}
		strat := c.cache.take(id, sw.Version)
		if strat == nil {
			state, version, err := c.store.State(ctx, id)
			if err != nil {
				return nil, err
			}
			if version != sw.Version {
				continue // a step committed in between
			}
			if strat, err = nas.Load(state); err != nil {
				return nil, fmt.Errorf("sweep %s: %w", id, err)
			}
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
		sort.Slice(results, func(i, j int) bool {
			if results[i].ID != results[j].ID {
				return results[i].ID < results[j].ID
			}
			return results[i].Attempt < results[j].Attempt
		})
		// The strategy counts results it no longer waits for as duplicates
		// and rejects results for trials it never asked (an orphan of a lost
		// race); neither may block the sweep.
		rejected := strat.Tell(results...)
		var asked []nas.Trial
		if sw.Status == rdb.SweepRunning {
			if n := spec.Concurrency - strat.Progress().Pending; n > 0 {
				if asked, err = strat.Ask(n); err != nil {
					return nil, fmt.Errorf("sweep %s: %w", id, err)
				}
			}
		}
		state, err := nas.Save(strat)
		if err != nil {
			return nil, err
		}
		p := strat.Progress()
		err = c.store.Commit(ctx, id, sw.Version, state, len(sw.Inbox), p.Done)
		if errors.Is(err, rdb.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c.cache.put(id, sw.Version+1, strat)
		rep := &StepReport{Status: sw.Status, Told: len(results), Asked: len(asked), Pending: p.Pending, Finished: p.Completed + p.Failed, Rejected: rejected}
		if p.Done && sw.Status == rdb.SweepRunning {
			rep.Status = rdb.SweepDone
		}
		if sw.Status != rdb.SweepRunning {
			return rep, nil
		}
		if force {
			asked = asked[:0]
			for _, r := range p.Records {
				if r.Status == nas.StatusPending {
					asked = append(asked, r.Trial)
				}
			}
		}
		for _, t := range asked {
			if err := c.enqueueEval(ctx, id, &spec, t); err != nil {
				return nil, err
			}
		}
		return rep, nil
	}
	return nil, fmt.Errorf("sweep %s: %d concurrent steps in a row: %w", id, commitAttempts, rdb.ErrConflict)
}

// Report records a trial's result and enqueues a step to tell the strategy.
// Reporting the same attempt twice is harmless.
func (c *Controller) Report(ctx context.Context, id, queue string, r nas.Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := c.store.PushResult(ctx, id, b); err != nil {
		return err
	}
	return c.enqueueStep(ctx, id, queue, "trial-"+r.ID+"-a"+strconv.Itoa(r.Attempt), false)
}

// EvalTaskID is the task id of one attempt of a trial.
func EvalTaskID(sweep, trial string, attempt int) string {
	return sweep + "/trial-" + trial + "-a" + strconv.Itoa(attempt)
}

func (c *Controller) enqueueEval(ctx context.Context, id string, spec *Spec, t nas.Trial) error {
	cand, err := json.Marshal(t.Candidate)
	if err != nil {
		return err
	}
	task, err := tasks.New(&tasks.NASEvalPayload{V: tasks.Version, Sweep: id, Trial: t.ID, Attempt: t.Attempt, Candidate: cand, Epochs: max(t.Epochs, 1)},
		c.taskOptions(tasks.TypeNASEval, spec.Queue, EvalTaskID(id, t.ID, t.Attempt))...)
	if err != nil {
		return err
	}
	if _, err := c.client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("sweep %s: enqueue trial %s: %w", id, t.ID, err)
	}
	return nil
}

func (c *Controller) enqueueStep(ctx context.Context, id, queue, why string, force bool) error {
	task, err := tasks.New(&tasks.NASStepPayload{V: tasks.Version, Sweep: id, Force: force},
		c.taskOptions(tasks.TypeNASStep, queue, id+"/step-"+why)...)
	if err != nil {
		return err
	}
	if _, err := c.client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("sweep %s: enqueue step: %w", id, err)
	}
	return nil
}

// taskOptions are the options of a sweep's tasks. Finished tasks are kept
// for the retention period so that their ids keep refusing duplicates.
func (c *Controller) taskOptions(typ, queue, id string) []asynq.Option {
	opts := []asynq.Option{asynq.TaskID(id), asynq.Queue(queue), asynq.MaxRetry(c.defaults.MaxRetry)}
	if c.defaults.Retention > 0 {
		opts = append(opts, asynq.Retention(c.defaults.Retention))
	}
	timeout := c.defaults.Timeout
	if t, ok := c.defaults.Timeouts[typ]; ok {
		timeout = t
	}
	if timeout > 0 {
		opts = append(opts, asynq.Timeout(timeout))
	}
	return opts
}

// Status is a sweep's state for people: its spec, status and every trial.
type Status struct {
	ID       string       `json:"id"`
	Name     string       `json:"name,omitempty"`
	Status   string       `json:"status"`
	Created  time.Time    `json:"created"`
	Updated  time.Time    `json:"updated"`
	Inbox    int          `json:"results_waiting"`
	Progress nas.Progress `json:"progress"`
	Spec     *Spec        `json:"spec"`
}

// Status loads a sweep's committed state.
func (c *Controller) Status(ctx context.Context, id string) (*Status, error) {
	sw, err := c.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	var spec Spec
	if err := json.Unmarshal(sw.Spec, &spec); err != nil {
		return nil, fmt.Errorf("sweep %s: stored spec: %w", id, err)
	}
	strat, err := nas.Load(sw.State)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", id, err)
	}
	return &Status{ID: id, Name: spec.Name, Status: sw.Status, Created: sw.Created, Updated: sw.Updated,
		Inbox: len(sw.Inbox), Progress: strat.Progress(), Spec: &spec}, nil
}

// Pause stops a sweep from starting trials; running ones finish and are
// recorded.
func (c *Controller) Pause(ctx context.Context, id string) error {
	return c.setStatus(ctx, id, rdb.SweepPaused)
}

// Cancel ends a sweep: no further trials start; results still arriving are
// recorded.
func (c *Controller) Cancel(ctx context.Context, id string) error {
	return c.setStatus(ctx, id, rdb.SweepCancelled)
}

// Resume restarts a paused sweep and enqueues a step.
func (c *Controller) Resume(ctx context.Context, id string) error {
	if err := c.setStatus(ctx, id, rdb.SweepRunning); err != nil {
		return err
	}
	spec, _, err := c.Spec(ctx, id)
	if err != nil {
		return err
	}
	return c.enqueueStep(ctx, id, spec.Queue, "resume-"+strconv.FormatInt(time.Now().UnixNano(), 36), true)
}

func (c *Controller) setStatus(ctx context.Context, id, status string) error {
	ok, err := c.store.SetStatus(ctx, id, status)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("sweep %s has finished; it cannot be set %s", id, status)
	}
	return nil
}

// List returns sweep ids, newest first.
func (c *Controller) List(ctx context.Context, offset, limit int) ([]string, error) {
	return c.store.List(ctx, offset, limit)
}
