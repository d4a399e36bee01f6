package rdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoRun is returned for a sensitivity run with no state in Redis (never
// started, or expired).
var ErrNoRun = errors.New("no such sensitivity run")

// SensitivityKey is the hash holding a sensitivity run's spec, its number of
// points, the job step it belongs to, and its first failure.
// Both keys of a run have the run id as their hash tag.
func SensitivityKey(run string) string { return tagged(run) + ":sensitivity" }

// SensitivityPointsKey is the hash of a run's recorded points: one field per
// (parameter, sparsity), its value the accuracy.
func SensitivityPointsKey(run string) string { return tagged(run) + ":sensitivity:points" }

// PointKey names one point of a sensitivity run.
type PointKey struct {
	Param    string
	Sparsity float64
}

// field is the point's field in SensitivityPointsKey: the parameter and the
// sparsity in its shortest exact decimal form.
func (k PointKey) field() string {
	return k.Param + "@" + strconv.FormatFloat(k.Sparsity, 'g', -1, 64)
}

func parsePointField(f string) (PointKey, error) {
	i := strings.LastIndexByte(f, '@')
	if i < 0 {
		return PointKey{}, fmt.Errorf("point field %q has no @", f)
	}
	s, err := strconv.ParseFloat(f[i+1:], 64)
	if err != nil {
		return PointKey{}, fmt.Errorf("point field %q: %w", f, err)
	}
	return PointKey{Param: f[:i], Sparsity: s}, nil
}

// SensitivityRun is a run's state as stored in Redis.
type SensitivityRun struct {
	ID string
	// Spec is the compress:sensitivity payload (JSON) with its defaults
	// filled in.
	Spec []byte
	// Points is the number of points the run expects.
	Points int
	// Job and Step are the job step the run finishes ("" when it is not
	// part of a job).
	Job  string
	Step int
	// Error is the first reason a point failed for good, if one did.
	Error   string
	Created time.Time
	// Recorded holds the accuracy of every point recorded so far.
	Recorded map[PointKey]float64
}

// SensitivityStore reads and writes sensitivity runs.
type SensitivityStore struct {
	c   redis.UniversalClient
	ttl time.Duration
}

// NewSensitivityStore returns a SensitivityStore on c; a run's keys expire
// ttl after its last change.
func NewSensitivityStore(c redis.UniversalClient, ttl time.Duration) *SensitivityStore {
	return &SensitivityStore{c: c, ttl: ttl}
}

// startRun: KEYS[1]=run, KEYS[2]=points; ARGV: spec, points, job, step,
// now ms, ttl ms. Returns 1 if created, 0 if the run existed (its expiry is
// renewed).
var startRun = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then
  redis.call("HSET", KEYS[1], "spec", ARGV[1], "points", ARGV[2], "job", ARGV[3], "step", ARGV[4], "created", ARGV[5])
  redis.call("PEXPIRE", KEYS[1], ARGV[6])
  return 1
end
redis.call("PEXPIRE", KEYS[1], ARGV[6])
redis.call("PEXPIRE", KEYS[2], ARGV[6])
return 0`)

// Start stores a new run; for a run that exists already (a retried fan-out)
// it changes nothing but the expiry and reports false.
func (s *SensitivityStore) Start(ctx context.Context, r *SensitivityRun) (bool, error) {
	n, err := startRun.Run(ctx, s.c, []string{SensitivityKey(r.ID), SensitivityPointsKey(r.ID)},
		r.Spec, r.Points, r.Job, r.Step, time.Now().UnixMilli(), s.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("start sensitivity run %s: %w", r.ID, err)
	}
	return n == 1, nil
}

// recordPoint: KEYS[1]=run, KEYS[2]=points; ARGV: field, accuracy, ttl ms.
// Returns {-1, 0} for a missing run, else {1 if the point was new (0 if it
// was recorded before, and keeps its first value), 1 if every point of the
// run is now recorded}.
var recordPoint = redis.NewScript(`
local want = redis.call("HGET", KEYS[1], "points")
if not want then return {-1, 0} end
local added = redis.call("HSETNX", KEYS[2], ARGV[1], ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
redis.call("PEXPIRE", KEYS[2], ARGV[3])
local complete = 0
if redis.call("HLEN", KEYS[2]) >= tonumber(want) then complete = 1 end
return {added, complete}`)

// Record stores a point's accuracy unless it was stored before, in one step
// with counting the run's points: complete reports that every point of the
// run is recorded. A repeated Record (a re-run task) changes nothing and
// reports complete as well once the run is.
func (s *SensitivityStore) Record(ctx context.Context, run string, k PointKey, accuracy float64) (added, complete bool, err error) {
	v, err := recordPoint.Run(ctx, s.c, []string{SensitivityKey(run), SensitivityPointsKey(run)},
		k.field(), strconv.FormatFloat(accuracy, 'g', -1, 64), s.ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return false, false, fmt.Errorf("sensitivity run %s: record %s: %w", run, k.field(), err)
	}
	if v[0] < 0 {
		return false, false, fmt.Errorf("sensitivity run %q: %w", run, ErrNoRun)
	}
	return v[0] == 1, v[1] == 1, nil
}

// failRun: KEYS[1]=run; ARGV: reason, ttl ms. The first reason stays.
var failRun = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
redis.call("HSETNX", KEYS[1], "error", ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1`)

// Fail records that a point of the run failed for good.
func (s *SensitivityStore) Fail(ctx context.Context, run, reason string) error {
	if err := failRun.Run(ctx, s.c, []string{SensitivityKey(run)}, reason, s.ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("sensitivity run %s: record failure: %w", run, err)
	}
	return nil
}

// Get returns the run with every point recorded so far, or ErrNoRun.
func (s *SensitivityStore) Get(ctx context.Context, run string) (*SensitivityRun, error) {
	pipe := s.c.Pipeline()
	meta := pipe.HGetAll(ctx, SensitivityKey(run))
	pts := pipe.HGetAll(ctx, SensitivityPointsKey(run))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("get sensitivity run %s: %w", run, err)
	}
	h := meta.Val()
	if len(h) == 0 {
		return nil, fmt.Errorf("sensitivity run %q: %w", run, ErrNoRun)
	}
	r := &SensitivityRun{ID: run, Spec: []byte(h["spec"]), Job: h["job"], Error: h["error"], Recorded: map[PointKey]float64{}}
	var err error
	if r.Points, err = strconv.Atoi(h["points"]); err != nil {
		return nil, fmt.Errorf("sensitivity run %s: field points: %w", run, err)
	}
	if r.Step, err = strconv.Atoi(h["step"]); err != nil {
		return nil, fmt.Errorf("sensitivity run %s: field step: %w", run, err)
	}
	ms, err := strconv.ParseInt(h["created"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("sensitivity run %s: field created: %w", run, err)
	}
	r.Created = time.UnixMilli(ms).UTC()
	for f, v := range pts.Val() {
		k, err := parsePointField(f)
		if err != nil {
			return nil, fmt.Errorf("sensitivity run %s: %w", run, err)
		}
		acc, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("sensitivity run %s: point %s: %w", run, f, err)
		}
		r.Recorded[k] = acc
	}
	return r, nil
}
