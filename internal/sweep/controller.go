package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Controller starts sweeps, advances them and reports on them.
type Controller struct {
	store    *rdb.SweepStore
	client   *asynq.Client
	defaults tasks.Defaults
	cache    strategyCache
	specs    struct {
		mu sync.Mutex
		m  map[string]cachedSpec
	}
	// snapshotEvery is the fewest steps between two snapshots.
	snapshotEvery int64
}

type cachedSpec struct {
	created int64
	spec    *Spec
}

// New returns a Controller on c, whose sweep state lives for ttl after its
// last change; d gives the retry, retention and timeout options of the
// sweep's tasks.
func New(c redis.UniversalClient, ttl time.Duration, d tasks.Defaults) *Controller {
	return &Controller{store: rdb.NewSweepStore(c, ttl), client: asynq.NewClientFromRedisClient(c), defaults: d,
		snapshotEvery: minSnapshotEvery}
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

// Spec returns a sweep's spec and status. The spec is shared with later
// calls: do not modify it.
func (c *Controller) Spec(ctx context.Context, id string) (*Spec, string, error) {
	// A spec never changes, so this process keeps it once read; the
	// creation time tells a sweep from an expired one of the same id.
	c.specs.mu.Lock()
	e, ok := c.specs.m[id]
	c.specs.mu.Unlock()
	raw, status, created, err := c.store.SpecStatus(ctx, id, !ok)
	if err == nil && ok && created != e.created {
		raw, status, created, err = c.store.SpecStatus(ctx, id, true)
		ok = false
	}
	if err != nil {
		return nil, "", err
	}
	if ok {
		return e.spec, status, nil
	}
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, "", fmt.Errorf("sweep %s: stored spec: %w", id, err)
	}
	c.specs.mu.Lock()
	if c.specs.m == nil || len(c.specs.m) >= maxCachedStrategies {
		c.specs.m = map[string]cachedSpec{}
	}
	c.specs.m[id] = cachedSpec{created, &s}
	c.specs.mu.Unlock()
	return &s, status, nil
}

// Report records a trial's result and, unless a step is queued already that
// will see it, enqueues one. Reporting the same attempt twice is harmless.
func (c *Controller) Report(ctx context.Context, id, queue string, r nas.Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	wake, err := c.store.PushResult(ctx, id, b)
	if err != nil || !wake {
		return err
	}
	if err := c.enqueueStep(ctx, id, queue, "trial-"+r.ID+"-a"+strconv.Itoa(r.Attempt), false); err != nil {
		return errors.Join(err, c.store.CancelWake(context.WithoutCancel(ctx), id))
	}
	return nil
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
		c.defaults.ChildOptions(tasks.TypeNASEval, spec.Queue, EvalTaskID(id, t.ID, t.Attempt))...)
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
		c.defaults.ChildOptions(tasks.TypeNASStep, queue, id+"/step-"+why)...)
	if err != nil {
		return err
	}
	if _, err := c.client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("sweep %s: enqueue step: %w", id, err)
	}
	return nil
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

// Status loads a sweep's committed state: its snapshot with the log
// replayed on it. It costs time in proportion to the trials; Summary does
// not.
func (c *Controller) Status(ctx context.Context, id string) (*Status, error) {
	sw, err := c.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	var spec Spec
	if err := json.Unmarshal(sw.Spec, &spec); err != nil {
		return nil, fmt.Errorf("sweep %s: stored spec: %w", id, err)
	}
	strat, err := restore(id, sw)
	if err != nil {
		return nil, err
	}
	return &Status{ID: id, Name: spec.Name, Status: sw.Status, Created: sw.Created, Updated: sw.Updated,
		Inbox: len(sw.Inbox), Progress: strat.Progress(), Spec: &spec}, nil
}

// Summary is a sweep's status and trial counts as of its last commit,
// without its records: cheap to poll at any size.
type Summary struct {
	ID      string     `json:"id"`
	Status  string     `json:"status"`
	Created time.Time  `json:"created"`
	Updated time.Time  `json:"updated"`
	Inbox   int        `json:"results_waiting"`
	Counts  nas.Counts `json:"counts"`
}

// Summary loads a sweep's status and counts.
func (c *Controller) Summary(ctx context.Context, id string) (*Summary, error) {
	sw, err := c.store.Summary(ctx, id)
	if err != nil {
		return nil, err
	}
	n := sw.Counts
	return &Summary{ID: id, Status: sw.Status, Created: sw.Created, Updated: sw.Updated, Inbox: len(sw.Inbox),
		Counts: nas.Counts{Done: sw.Status == rdb.SweepDone, Trials: int(n.Trials), Pending: int(n.Pending),
			Completed: int(n.Completed), Failed: int(n.Failed)}}, nil
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
