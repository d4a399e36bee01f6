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
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
)

// ErrInvalidSpec is matched (errors.Is) by the errors of ParseSpec and of
// Start's checks: the spec itself is wrong and cannot be started as it is.
var ErrInvalidSpec = errors.New("invalid sweep spec")

// ErrFinished is matched by the error of Pause, Resume and Cancel on a sweep
// that is done or cancelled: its status no longer changes.
var ErrFinished = errors.New("finished")

// invalidSpec is an error about the spec: it reads as err and matches both
// err and ErrInvalidSpec.
type invalidSpec struct{ err error }

func (e *invalidSpec) Error() string   { return e.err.Error() }
func (e *invalidSpec) Unwrap() []error { return []error{e.err, ErrInvalidSpec} }

func invalid(err error) error {
	if err == nil || errors.Is(err, ErrInvalidSpec) {
		return err
	}
	return &invalidSpec{err}
}

// Controller starts sweeps, advances them and reports on them.
type Controller struct {
	// CheckArtifact and CheckDataSet, when set, are asked about the
	// evaluator's table and data set URIs before a sweep starts, so that a
	// URI outside the artifact roots or naming nothing is refused at once
	// (an error matching ErrInvalidSpec that holds a tasks.FieldError)
	// instead of failing every trial.
	CheckArtifact func(ctx context.Context, uri string) error
	CheckDataSet  func(ctx context.Context, uri string) error
	// ReadArtifact reads an artifact: a policy search's base model and
	// sensitivity report, which Start needs to bind the space to the
	// model (nas.Space.ResolvePolicy). Without it policy searches are
	// refused. ModelLimits bound the model's decoding.
	ReadArtifact func(ctx context.Context, uri string) ([]byte, error)
	ModelLimits  safetensors.Limits

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
// that exists already is not started again. Before anything is recorded it
// checks the spec (Validate), the evaluator's artifact URIs (with
// CheckArtifact and CheckDataSet) and that the strategy finds a first
// candidate the space's constraints allow; errors of those checks match
// ErrInvalidSpec.
func (c *Controller) Start(ctx context.Context, s *Spec) (string, error) {
	if err := s.Validate(); err != nil {
		return "", invalid(err)
	}
	if err := c.checkArtifacts(ctx, s); err != nil {
		return "", err
	}
	if s.Config.Space.Policy != nil {
		if err := c.resolvePolicy(ctx, s); err != nil {
			return "", err
		}
	}
	id := s.ID
	if id == "" {
		id = uuid.NewString()
		s.ID = id
	}
	strat, err := nas.New(s.Config)
	if err != nil {
		return "", invalid(err)
	}
	state, err := nas.Save(strat)
	if err != nil {
		return "", err
	}
	if err := feasible(state, s.Config.Space.Constraints, s.Config.Space.Policy != nil); err != nil {
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

// checkArtifacts asks CheckDataSet or CheckArtifact about the URI the
// spec's evaluator reads and reports a bad one as a FieldError naming its
// field. Errors that are not about the URI (the store did not answer) are
// returned as they are.
func (c *Controller) checkArtifacts(ctx context.Context, s *Spec) error {
	type ref struct {
		field, uri string
		check      func(ctx context.Context, uri string) error
	}
	refs := []ref{{"evaluator.table", s.Evaluator.Table, c.CheckArtifact}}
	if s.Evaluator.Type == EvalTrain {
		refs = []ref{{"evaluator.data", s.Evaluator.Data, c.CheckDataSet}, {"evaluator.model", s.Evaluator.Model, c.CheckArtifact}}
		if p := s.Config.Space.Policy; p != nil {
			refs = append(refs, ref{"space.policy.sensitivity", p.Sensitivity, c.CheckArtifact})
		}
	}
	var errs []error
	for _, r := range refs {
		if r.check == nil || r.uri == "" {
			continue
		}
		if err := artifactError(r.field, r.uri, r.check(ctx, r.uri)); err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// artifactError reports err, a check or read of the artifact at uri, as a
// FieldError naming field when it is about the URI; other errors (the
// store did not answer) are returned as they are.
func artifactError(field, uri string, err error) error {
	if err == nil {
		return nil
	}
	reason, ok := artifact.Problem(uri, err)
	if !ok {
		return fmt.Errorf("%s: read artifact: %w", field, err)
	}
	return invalid(&tasks.FieldError{Field: field, Reason: reason})
}

// resolvePolicy binds a policy search's space to its base model (the
// layers searched, what the rest costs) and, with a sensitivity report,
// derives the seeds: s.Config.Space is replaced by the resolved space,
// which the stored spec then carries to every worker.
func (c *Controller) resolvePolicy(ctx context.Context, s *Spec) error {
	if c.ReadArtifact == nil {
		return invalid(&tasks.FieldError{Field: "evaluator.model",
			Reason: "a policy search reads its base model at start, and the artifact store is not reachable from here"})
	}
	raw, err := c.ReadArtifact(ctx, s.Evaluator.Model)
	if err := artifactError("evaluator.model", s.Evaluator.Model, err); err != nil {
		return err
	}
	m, err := recipe.LoadModel("evaluator.model", raw, c.ModelLimits)
	if err != nil {
		var ie *recipe.InputError
		if errors.As(err, &ie) {
			return invalid(&tasks.FieldError{Field: ie.Field, Reason: ie.Err.Error()})
		}
		return invalid(err)
	}
	space, err := s.Config.Space.ResolvePolicy(m.Net)
	if err != nil {
		return invalid(err)
	}
	if uri := space.Policy.Sensitivity; uri != "" {
		raw, err := c.ReadArtifact(ctx, uri)
		if err := artifactError("space.policy.sensitivity", uri, err); err != nil {
			return err
		}
		var rep tasks.SensitivityResult
		if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Curves) == 0 {
			return invalid(&tasks.FieldError{Field: "space.policy.sensitivity", Reason: "not a sensitivity report (the JSON a compress:sensitivity job stores)"})
		}
		curves := make([]nas.SensitivityCurve, len(rep.Curves))
		for i, cv := range rep.Curves {
			curves[i].Param = cv.Param
			for _, p := range cv.Points {
				curves[i].Points = append(curves[i].Points, prune.Point{Sparsity: p.Sparsity, Accuracy: p.Accuracy})
			}
		}
		if space, err = space.PolicySeeds(curves, rep.Baseline); err != nil {
			return invalid(err)
		}
	}
	s.Config.Space = space
	return nil
}

// maxGridProbe bounds the genomes a grid may have for Start to check that
// it has a feasible one: enumerating more, to find none, could take a
// request minutes (a candidate costs microseconds to build and size).
const maxGridProbe = 1 << 14

// feasible asks a copy of a new sweep's strategy (its saved state) for a
// first trial. Strategies are deterministic under their seed, so the
// sweep's first step would draw the same candidates: a strategy that finds
// none there would end the sweep without a single trial. Every strategy but
// grid gives up after a bounded number of draws; a grid larger than
// maxGridProbe is not checked.
func feasible(state []byte, limits nas.Constraints, policy bool) error {
	probe, err := nas.Load(state)
	if err != nil {
		return err
	}
	if g, ok := probe.(*nas.Grid); ok && g.Size() > maxGridProbe {
		return nil
	}
	trials, err := probe.Ask(1)
	if err != nil {
		return invalid(err)
	}
	if len(trials) > 0 {
		return nil
	}
	if policy {
		return invalid(fmt.Errorf("space.constraints: the strategy finds no candidate within max_bytes %d and max_macs %d (0 is no limit):"+
			" loosen the constraints or widen the space", limits.MaxBytes, limits.MaxMACs))
	}
	if limits.MaxParams > 0 || limits.MaxBytes > 0 {
		return invalid(fmt.Errorf("space.constraints: the strategy finds no candidate within max_params %d and max_bytes %d (0 is no limit)"+
			" whose layers also fit the input: loosen the constraints or change the space", limits.MaxParams, limits.MaxBytes))
	}
	return invalid(errors.New("space: the strategy finds no candidate whose layers fit the input: change the space"))
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
	task, err := tasks.New(&tasks.NASEvalPayload{V: tasks.Version, Sweep: id, Trial: t.ID, Attempt: t.Attempt, Candidate: cand, Epochs: max(t.Epochs, 1),
		Horizon: t.Horizon, From: t.From, Release: t.Release},
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
// recorded. It enqueues a step, so that a worker sees the sweep ended and
// removes its trials' checkpoints even when no trial is running.
func (c *Controller) Cancel(ctx context.Context, id string) error {
	if err := c.setStatus(ctx, id, rdb.SweepCancelled); err != nil {
		return err
	}
	spec, _, err := c.Spec(ctx, id)
	if err != nil {
		return err
	}
	return c.enqueueStep(ctx, id, spec.Queue, "cancel", true)
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
		return fmt.Errorf("sweep %s has %w; it cannot be set %s", id, ErrFinished, status)
	}
	return nil
}

// List returns sweep ids, newest first.
func (c *Controller) List(ctx context.Context, offset, limit int) ([]string, error) {
	return c.store.List(ctx, offset, limit)
}
