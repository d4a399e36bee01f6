package rdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Job states.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// ErrNoJob is returned for a job id with no state in Redis (never submitted,
// or expired).
var ErrNoJob = errors.New("no such job")

// JobKey is the hash holding one job's state. Its hash tag is the job id,
// so every key of one job lives in one Redis Cluster slot.
func JobKey(id string) string { return tagged(id) + ":job" }

// JobIndexKey is the sorted set of job ids scored by creation time (ms). It
// is a global key, in a slot of its own: no script touches it together
// with a job's keys, and entries older than the state TTL are trimmed.
func JobIndexKey() string { return "compressq:jobs" }

// A job hash keeps step i's result and artifact URI in the fields
// resultField(i) and artifactField(i); the scripts get those names as ARGV,
// the parser reads them by these prefixes.
const (
	resultPrefix   = "result:"
	artifactPrefix = "artifact:"
)

func resultField(step int) string   { return resultPrefix + strconv.Itoa(step) }
func artifactField(step int) string { return artifactPrefix + strconv.Itoa(step) }

// Job is a job's state as stored in Redis.
type Job struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Status  string    `json:"status"`
	Steps   int       `json:"steps"`
	Current int       `json:"current_step"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Error   string    `json:"error,omitempty"`
	// FailedStep is the step a failed job failed at; in JSON it is
	// present exactly when Status is failed, step 0 included.
	FailedStep int               `json:"-"`
	Results    []json.RawMessage `json:"results"`
	Artifacts  []string          `json:"artifacts"`
	Spec       json.RawMessage   `json:"spec,omitempty"`
}

// MarshalJSON writes the job with "failed_step" when it failed.
func (j Job) MarshalJSON() ([]byte, error) {
	type plain Job // no methods: no recursion
	out := struct {
		plain
		FailedStep *int `json:"failed_step,omitempty"`
	}{plain: plain(j)}
	if j.Status == StatusFailed {
		out.FailedStep = &j.FailedStep
	}
	return json.Marshal(out)
}

// skipRetryText is how asynq.SkipRetry reads at the end of an error.
var skipRetryText = ": " + asynq.SkipRetry.Error()

// PlainReason returns a failure reason without the queue library's control
// words (": skip retry for the task"), which mean nothing to a user.
func PlainReason(reason string) string {
	return strings.TrimSpace(strings.ReplaceAll(reason, skipRetryText, ""))
}

// Store reads and writes job state.
type Store struct {
	c   redis.UniversalClient
	ttl time.Duration
}

// NewStore returns a Store on c whose job hashes expire ttl after their last
// change.
func NewStore(c redis.UniversalClient, ttl time.Duration) *Store {
	return &Store{c: c, ttl: ttl}
}

// createJob: KEYS[1]=job hash; ARGV: id, name, steps, spec, now ms, ttl ms.
// Returns {1, now} if created, {0, created ms} if the job already existed.
var createJob = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then
  return {0, tonumber(redis.call("HGET", KEYS[1], "created")) or 0}
end
redis.call("HSET", KEYS[1], "id", ARGV[1], "name", ARGV[2], "status", "pending", "steps", ARGV[3],
  "current", 0, "spec", ARGV[4], "created", ARGV[5], "updated", ARGV[5])
redis.call("PEXPIRE", KEYS[1], ARGV[6])
return {1, tonumber(ARGV[5])}`)

// Create stores a new pending job; it reports false (and changes nothing)
// when a job with this id exists, so a resubmission is idempotent. The job
// index is updated after the job's own key (it lives in another cluster
// slot): a Create that failed in between is completed by its retry.
func (s *Store) Create(ctx context.Context, id, name string, steps int, spec []byte) (bool, error) {
	now := time.Now().UnixMilli()
	v, err := createJob.Run(ctx, s.c, []string{JobKey(id)},
		id, name, steps, spec, now, s.ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("create job %s: %w", id, err)
	}
	if err := addToIndex(ctx, s.c, JobIndexKey(), id, v[1], now, s.ttl); err != nil {
		return false, fmt.Errorf("create job %s: %w", id, err)
	}
	return v[0] == 1, nil
}

// addToIndex adds id to the index key scored by its creation time (unless
// it is there) and trims entries created more than ttl before now.
func addToIndex(ctx context.Context, c redis.UniversalClient, key, id string, created, now int64, ttl time.Duration) error {
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAddNX(ctx, key, redis.Z{Score: float64(created), Member: id})
		p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(now-ttl.Milliseconds(), 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("index %s: %w", key, err)
	}
	return nil
}

// stepStarted: KEYS[1]=job; ARGV: step, now, ttl, result field, artifact
// field. A step that recorded its result returns {result, artifact} and
// changes nothing; a job that already finished, or moved past this step,
// is left alone.
var stepStarted = redis.NewScript(`
local rec = redis.call("HMGET", KEYS[1], ARGV[4], ARGV[5])
if rec[1] then return {rec[1], rec[2] or ""} end
local st = redis.call("HGET", KEYS[1], "status")
if not st then return 0 end
if st == "succeeded" or st == "failed" then return 0 end
if tonumber(redis.call("HGET", KEYS[1], "current")) > tonumber(ARGV[1]) then return 0 end
redis.call("HSET", KEYS[1], "status", "running", "current", ARGV[1], "updated", ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return 1`)

// StepRecord is what a step recorded when it succeeded.
type StepRecord struct {
	Result   []byte
	Artifact string
}

// StepStarted marks step n running. If the step has already recorded its
// result, it changes nothing and returns that record: the run repeats
// finished work.
func (s *Store) StepStarted(ctx context.Context, id string, n int) (*StepRecord, error) {
	v, err := stepStarted.Run(ctx, s.c, []string{JobKey(id)}, n, time.Now().UnixMilli(), s.ttl.Milliseconds(),
		resultField(n), artifactField(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("job %s step %d started: %w", id, n, err)
	}
	rec, ok := v.([]any)
	if !ok {
		return nil, nil
	}
	if len(rec) != 2 {
		return nil, fmt.Errorf("job %s step %d started: the script returned %v", id, n, v)
	}
	result, _ := rec[0].(string)
	artifact, _ := rec[1].(string)
	return &StepRecord{Result: []byte(result), Artifact: artifact}, nil
}

// stepSucceeded: KEYS[1]=job; ARGV: step, result, artifact, now, ttl,
// result field, artifact field.
// Returns -1 for a missing or failed job, 1 when this was the last step,
// 0 otherwise. Repeating it (a retried handler) is harmless.
var stepSucceeded = redis.NewScript(`
local st = redis.call("HGET", KEYS[1], "status")
if not st or st == "failed" then return -1 end
local n = tonumber(ARGV[1])
redis.call("HSET", KEYS[1], ARGV[6], ARGV[2], ARGV[7], ARGV[3], "updated", ARGV[4])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
if n + 1 >= tonumber(redis.call("HGET", KEYS[1], "steps")) then
  redis.call("HSET", KEYS[1], "status", "succeeded", "current", n)
  return 1
end
if tonumber(redis.call("HGET", KEYS[1], "current")) <= n then
  redis.call("HSET", KEYS[1], "current", n + 1)
end
return 0`)

// StepSucceeded records step n's result and artifact and advances the job.
// last reports that the job is now complete.
func (s *Store) StepSucceeded(ctx context.Context, id string, n int, result []byte, artifact string) (last bool, err error) {
	r, err := stepSucceeded.Run(ctx, s.c, []string{JobKey(id)}, n, result, artifact, time.Now().UnixMilli(), s.ttl.Milliseconds(),
		resultField(n), artifactField(n)).Int()
	if err != nil {
		return false, fmt.Errorf("job %s step %d succeeded: %w", id, n, err)
	}
	if r < 0 {
		return false, fmt.Errorf("job %s step %d succeeded: %w (or it already failed)", id, n, ErrNoJob)
	}
	return r == 1, nil
}

// jobFailed: KEYS[1]=job; ARGV: step, reason, now, ttl.
var jobFailed = redis.NewScript(`
local st = redis.call("HGET", KEYS[1], "status")
if not st or st == "succeeded" or st == "failed" then return 0 end
redis.call("HSET", KEYS[1], "status", "failed", "failed_step", ARGV[1], "error", ARGV[2], "updated", ARGV[3])
redis.call("PEXPIRE", KEYS[1], ARGV[4])
return 1`)

// Failed marks the job failed at step n with reason. A job that already
// finished keeps its state.
func (s *Store) Failed(ctx context.Context, id string, n int, reason string) error {
	err := jobFailed.Run(ctx, s.c, []string{JobKey(id)}, n, PlainReason(reason), time.Now().UnixMilli(), s.ttl.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("job %s failed: %w", id, err)
	}
	return nil
}

// Get returns the job's state, or ErrNoJob.
func (s *Store) Get(ctx context.Context, id string) (*Job, error) {
	h, err := s.c.HGetAll(ctx, JobKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", id, err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("job %q: %w", id, ErrNoJob)
	}
	return parseJob(h)
}

func parseJob(h map[string]string) (*Job, error) {
	j := &Job{ID: h["id"], Name: h["name"], Status: h["status"], Error: PlainReason(h["error"]), Spec: json.RawMessage(h["spec"])}
	var err error
	atoi := func(field string) int {
		v, e := strconv.Atoi(h[field])
		if e != nil && h[field] != "" && err == nil {
			err = fmt.Errorf("job %s: field %s: %w", j.ID, field, e)
		}
		return v
	}
	j.Steps, j.Current, j.FailedStep = atoi("steps"), atoi("current"), atoi("failed_step")
	j.Created = time.UnixMilli(int64(atoi("created"))).UTC()
	j.Updated = time.UnixMilli(int64(atoi("updated"))).UTC()
	if err != nil {
		return nil, err
	}
	j.Results = make([]json.RawMessage, j.Steps)
	j.Artifacts = make([]string, j.Steps)
	for k, v := range h {
		var field string
		var dst func(int)
		switch {
		case strings.HasPrefix(k, resultPrefix):
			field, dst = k[len(resultPrefix):], func(i int) { j.Results[i] = json.RawMessage(v) }
		case strings.HasPrefix(k, artifactPrefix):
			field, dst = k[len(artifactPrefix):], func(i int) { j.Artifacts[i] = v }
		default:
			continue
		}
		if i, e := strconv.Atoi(field); e == nil && i >= 0 && i < j.Steps {
			dst(i)
		}
	}
	return j, nil
}

// List returns up to limit jobs, newest first, starting after offset, and
// drops index entries whose state has expired.
func (s *Store) List(ctx context.Context, offset, limit int) ([]*Job, error) {
	ids, err := s.c.ZRevRange(ctx, JobIndexKey(), int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, JobKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	jobs := make([]*Job, 0, len(ids))
	var gone []any
	for i, c := range cmds {
		h := c.Val()
		if len(h) == 0 {
			gone = append(gone, ids[i])
			continue
		}
		j, err := parseJob(h)
		if err != nil {
			return nil, err
		}
		j.Spec = nil
		jobs = append(jobs, j)
	}
	if len(gone) > 0 {
		if err := s.c.ZRem(ctx, JobIndexKey(), gone...).Err(); err != nil {
			return nil, fmt.Errorf("list jobs: drop expired: %w", err)
		}
	}
	return jobs, nil
}
