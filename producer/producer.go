package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
)

// Producer submits jobs and reports their state.
type Producer struct {
	client   *asynq.Client
	insp     *asynq.Inspector
	jobs     *rdb.Store
	defaults tasks.Defaults
	// SubmitRetry is how long Submit keeps retrying while Redis is
	// unreachable (configs.Jobs.SubmitRetry); zero fails at once.
	SubmitRetry time.Duration
	// CheckArtifact, when set, is asked about every model URI of a job
	// before it is recorded (see StoreChecker): a URI outside the artifact
	// roots or naming no artifact is refused with a FieldError.
	CheckArtifact func(ctx context.Context, uri string) error
	// WaitReplicas, when > 0, makes Submit wait until that many replicas
	// hold the job and its first task (configs.Redis.WaitReplicas), for at
	// most WaitTimeout.
	WaitReplicas int
	WaitTimeout  time.Duration

	rc redis.UniversalClient
}

// New returns a Producer on the Redis client c, which it does not close.
// Job state lives in jobs; d fills in options a job leaves unset.
func New(c redis.UniversalClient, jobs *rdb.Store, d tasks.Defaults) *Producer {
	return &Producer{
		rc:       c,
		client:   asynq.NewClientFromRedisClient(c),
		insp:     asynq.NewInspectorFromRedisClient(c),
		jobs:     jobs,
		defaults: d,
	}
}

// Submit validates spec, records the job and enqueues its first step. It
// returns the job id. Submitting a spec with an ID that already exists
// returns that id and enqueues nothing new. While Redis is unreachable it
// retries, with backoff, for up to p.SubmitRetry.
func (p *Producer) Submit(ctx context.Context, spec *tasks.JobSpec) (string, error) {
	if err := spec.Normalize(); err != nil {
		return "", err
	}
	if err := p.checkArtifacts(ctx, spec); err != nil {
		return "", err
	}
	id := spec.ID
	if id == "" {
		id = uuid.NewString()
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("encode job spec: %w", err)
	}
	deadline := time.Now().Add(p.SubmitRetry)
	var st submitState
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err = p.submit(ctx, id, spec, raw, &st)
		if errors.Is(err, ErrWriteLost) && time.Now().Before(deadline) {
			continue // write it again to the new primary, at once
		}
		if err == nil || !unreachable(err) || time.Now().Add(wait).After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return "", errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
	switch {
	case err == nil:
		return id, nil
	case !st.created:
		return "", err
	case st.queued:
		// Only the wait for replicas failed: the job stands, and a
		// resubmission under its id waits again.
		return id, err
	}
	// The job is recorded but its first step is not queued: mark it failed
	// (which fails too if Redis is still unreachable).
	if ferr := p.jobs.Failed(context.WithoutCancel(ctx), id, 0, err.Error()); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return id, err
}

// submitState is what one Submit call's attempts have done so far.
type submitState struct {
	// created: this call created the job record, so a retry after a lost
	// enqueue enqueues step 0 (once: its task id is fixed) instead of
	// taking the record for someone else's job.
	created bool
	// queued: step 0 is enqueued; only the wait for replicas is left.
	queued bool
}

// submit is one attempt of Submit.
func (p *Producer) submit(ctx context.Context, id string, spec *tasks.JobSpec, raw []byte, st *submitState) error {
	if !st.created {
		ok, err := p.jobs.Create(ctx, id, spec.Name, len(spec.Steps), raw)
		if err != nil {
			return err
		}
		if !ok {
			// An existing job, perhaps this one submitted before when
			// the wait for replicas failed: acknowledged once replicated.
			return p.waitReplicas(ctx, id, spec, st)
		}
		st.created = true
	}
	if !st.queued {
		task, err := spec.StepTask(id, 0, "", p.defaults)
		if err == nil {
			_, err = p.client.EnqueueContext(ctx, task)
		}
		switch {
		case err == nil, errors.Is(err, asynq.ErrTaskIDConflict):
			st.queued = true
		case errors.Is(err, asynq.ErrDuplicateTask):
			return fmt.Errorf("job %s: an identical task is already queued (options.unique): %w", id, err)
		default:
			return fmt.Errorf("job %s: enqueue step 0: %w", id, err)
		}
	}
	return p.waitReplicas(ctx, id, spec, st)
}

// waitReplicas waits, when p.WaitReplicas asks for it, until replicas hold
// the job's state and its first task. The job's keys and the queue may
// live on different shards.
//
// A primary that fails over between the job's writes and the wait takes
// them with it, and the replicas then acknowledge the new primary's
// writes: so the wait also checks, on the connection it waits on, that
// the job and its task are there, and when one is not it resets st for the
// next attempt to write it again and returns ErrWriteLost. The task may
// also be missing because a worker has already run it (asynq deletes a
// finished task unless it is retained); the job's state tells which.
func (p *Producer) waitReplicas(ctx context.Context, id string, spec *tasks.JobSpec, st *submitState) error {
	if p.WaitReplicas <= 0 {
		return nil
	}
	jobKey := rdb.JobKey(id)
	taskKey := rdb.AsynqTaskKey(spec.StepQueue(0, p.defaults), tasks.StepTaskID(id, 0))
	missing, err := rdb.WaitReplicas(ctx, p.rc, p.WaitReplicas, p.WaitTimeout, jobKey, taskKey)
	if err != nil {
		return err
	}
	for _, key := range missing {
		if key == jobKey {
			st.created, st.queued = false, false
			return fmt.Errorf("job %s: its record: %w", id, ErrWriteLost)
		}
		j, err := p.jobs.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("job %s: state of a job whose task is gone: %w", id, err)
		}
		if j.Status == rdb.StatusPending && j.Current == 0 {
			// Not started: the enqueue was lost, not run.
			st.created, st.queued = true, false
			return fmt.Errorf("job %s: its step 0 task: %w", id, ErrWriteLost)
		}
	}
	return nil
}

// ErrWriteLost means that a submission's writes went to a Redis primary
// that failed over before they reached a replica; Submit writes them again.
var ErrWriteLost = errors.New("lost in a failover before it was replicated")

// unreachable reports whether err means Redis could not be reached (or is
// still loading its data after a restart), as opposed to a refusal.
func unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "LOADING")
}

// transientReplies are the starts of Redis error replies, and go-redis
// messages, that mean the deployment is between states (a failover, a
// restart, a cluster resharding) rather than that the request is wrong.
var transientReplies = []string{
	"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS",
	"redis: all sentinels", "redis: connection pool timeout", "redis: client is closed",
}

// Unavailable reports whether err means Redis is unavailable for now —
// unreachable, failing over, loading, or slower than the request's
// deadline — so that the request may succeed when retried later.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if unreachable(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rdb.ErrNotReplicated) || errors.Is(err, ErrWriteLost) {
		return true
	}
	msg := err.Error()
	for _, r := range transientReplies {
		if strings.Contains(msg, r) {
			return true
		}
	}
	return false
}

// Status is a job's state plus the live queue state of its current step.
type Status struct {
	*rdb.Job
	Task *TaskState `json:"task,omitempty"`
}

// MarshalJSON writes the job's fields (see rdb.Job.MarshalJSON) and "task".
func (s Status) MarshalJSON() ([]byte, error) {
	if s.Job == nil {
		return json.Marshal(struct {
			Task *TaskState `json:"task,omitempty"`
		}{s.Task})
	}
	job, err := json.Marshal(s.Job)
	if err != nil || s.Task == nil {
		return job, err
	}
	task, err := json.Marshal(s.Task)
	if err != nil {
		return nil, err
	}
	// job is a JSON object: put "task" before its closing brace.
	out := append(job[:len(job)-1:len(job)-1], `,"task":`...)
	out = append(out, task...)
	return append(out, '}'), nil
}

// TaskState is what the queue knows of one step's task.
type TaskState struct {
	ID       string `json:"id"`
	Queue    string `json:"queue"`
	State    string `json:"state"`
	Retried  int    `json:"retried"`
	MaxRetry int    `json:"max_retry"`
	LastErr  string `json:"last_error,omitempty"`
}

// Status returns the job's state. For an unfinished job it also asks the
// queue about the current step: a step whose task was archived (retries
// exhausted, or its worker died on the last attempt) makes the job failed.
func (p *Producer) Status(ctx context.Context, id string) (*Status, error) {
	j, err := p.jobs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	st := &Status{Job: j}
	if j.Status == rdb.StatusSucceeded || j.Status == rdb.StatusFailed {
		return st, nil
	}
	var spec tasks.JobSpec
	if err := json.Unmarshal(j.Spec, &spec); err != nil {
		return nil, fmt.Errorf("job %s: stored spec: %w", id, err)
	}
	info, err := p.insp.GetTaskInfo(spec.StepQueue(j.Current, p.defaults), tasks.StepTaskID(id, j.Current))
	if err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			return st, nil
		}
		return nil, fmt.Errorf("job %s: task state: %w", id, err)
	}
	st.Task = &TaskState{ID: info.ID, Queue: info.Queue, State: info.State.String(), Retried: info.Retried, MaxRetry: info.MaxRetry, LastErr: info.LastErr}
	st.Task.LastErr = rdb.PlainReason(info.LastErr)
	if info.State == asynq.TaskStateArchived {
		reason := "step failed for good: " + rdb.PlainReason(info.LastErr)
		if err := p.jobs.Failed(ctx, id, j.Current, reason); err != nil {
			return nil, err
		}
		st.Job.Status, st.Job.Error, st.Job.FailedStep = rdb.StatusFailed, reason, j.Current
	}
	return st, nil
}

// List returns jobs newest first.
func (p *Producer) List(ctx context.Context, offset, limit int) ([]*rdb.Job, error) {
	return p.jobs.List(ctx, offset, limit)
}

// Close releases the producer's asynq client and inspector; the Redis
// client passed to New stays open.
func (p *Producer) Close() error {
	return errors.Join(p.client.Close(), p.insp.Close())
}
