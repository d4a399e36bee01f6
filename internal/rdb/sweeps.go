package rdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sweep states.
const (
	SweepRunning   = "running"
	SweepPaused    = "paused"
	SweepCancelled = "cancelled"
	SweepDone      = "done"
)

// SweepEnded reports whether a sweep of status will ask for no more
// trials: done or cancelled.
func SweepEnded(status string) bool { return status == SweepDone || status == SweepCancelled }

// ErrNoSweep is returned for a sweep id with no state in Redis.
var ErrNoSweep = errors.New("no such sweep")

// ErrConflict is returned by Commit when another step changed the
// sweep since it was loaded.
var ErrConflict = errors.New("sweep changed concurrently")

// SweepKey is the hash holding a sweep's spec, strategy state and status.
// Every key of one sweep has the sweep id as its hash tag.
func SweepKey(id string) string { return tagged(id) + ":sweep" }

// SweepInboxKey is the list of trial results not yet told to the strategy.
func SweepInboxKey(id string) string { return tagged(id) + ":sweep:inbox" }

// SweepIndexKey is the sorted set of sweep ids scored by creation time (ms).
// It is a global key, written outside scripts; entries older than the
// state TTL are trimmed when a sweep is created.
func SweepIndexKey() string { return "compressq:sweeps" }

// SweepLogKey is the list of steps committed since the sweep's last
// snapshot, one JSON entry per version, oldest first.
func SweepLogKey(id string) string { return tagged(id) + ":sweep:log" }

// SweepLockKey is the lease a process holds while it steps a sweep.
func SweepLockKey(id string) string { return tagged(id) + ":sweep:lock" }

// SweepCounts are a sweep's trial counts as of its last commit.
type SweepCounts struct {
	Trials, Pending, Completed, Failed int64
}

// Sweep is a sweep's state as stored in Redis. Its strategy state is a
// snapshot taken at SnapVersion plus the log of the steps committed since,
// one entry per version up to Version: replaying the log on the snapshot
// gives the state at Version.
type Sweep struct {
	ID      string
	Status  string
	Spec    []byte // the sweep spec as submitted (JSON)
	Version int64  // bumped by every commit
	// SnapVersion is the version Snapshot was taken at.
	SnapVersion int64
	// Snapshot is the strategy's saved state at SnapVersion; nil when the
	// caller's own copy was recent enough to need only the log.
	Snapshot []byte
	// Log holds the entries after the version the load started from
	// (SnapVersion, or the caller's own): Log[i] is version from+i+1.
	Log     []string
	Counts  SweepCounts
	Created time.Time
	Updated time.Time
	// Inbox holds the results that arrived since the last commit, oldest
	// first.
	Inbox []string
}

// SweepStore reads and writes sweep state.
type SweepStore struct {
	c   redis.UniversalClient
	ttl time.Duration
}

// NewSweepStore returns a SweepStore on c; sweep state expires ttl after
// its last change.
func NewSweepStore(c redis.UniversalClient, ttl time.Duration) *SweepStore {
	return &SweepStore{c: c, ttl: ttl}
}

// createSweep: KEYS[1]=sweep; ARGV: id, spec, state, now ms, ttl ms.
// Returns {1, now} if created, {0, created ms} if the sweep existed.
var createSweep = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then
  return {0, tonumber(redis.call("HGET", KEYS[1], "created")) or 0}
end
redis.call("HSET", KEYS[1], "id", ARGV[1], "status", "running", "spec", ARGV[2], "snapshot", ARGV[3],
  "version", 0, "snap_version", 0, "created", ARGV[4], "updated", ARGV[4],
  "trials", 0, "pending", 0, "completed", 0, "failed", 0)
redis.call("PEXPIRE", KEYS[1], ARGV[5])
return {1, tonumber(ARGV[4])}`)

// Create stores a new running sweep with its initial strategy state; false
// means the id exists already. The sweep index is updated afterwards (and
// trimmed to the state TTL); a retried Create completes it.
func (s *SweepStore) Create(ctx context.Context, id string, spec, state []byte) (bool, error) {
	now := time.Now().UnixMilli()
	v, err := createSweep.Run(ctx, s.c, []string{SweepKey(id)}, id, spec, state, now, s.ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("create sweep %s: %w", id, err)
	}
	if err := addToIndex(ctx, s.c, SweepIndexKey(), id, v[1], now, s.ttl); err != nil {
		return false, fmt.Errorf("create sweep %s: %w", id, err)
	}
	return v[0] == 1, nil
}

// loadSweep: KEYS[1]=sweep, KEYS[2]=inbox, KEYS[3]=log; ARGV[1]=the
// caller's version (-1 for none). Returns the meta fields, the inbox, the
// snapshot (false when the caller's version is within the log) and the log
// entries after the starting version.
var loadSweep = redis.NewScript(`
local m = redis.call("HMGET", KEYS[1], "status", "spec", "version", "snap_version", "created", "updated",
  "trials", "pending", "completed", "failed")
if not m[3] then return false end
local v, have = tonumber(m[3]), tonumber(ARGV[1])
-- A sweep stored before snapshots and logs has its whole state in "state".
local snap = tonumber(m[4]) or v
m[4] = tostring(snap)
for i = 7, 10 do m[i] = m[i] or "0" end
local inbox = redis.call("LRANGE", KEYS[2], 0, -1)
local snapshot = false
local from = have
if have < snap or have > v then
  snapshot = redis.call("HGET", KEYS[1], "snapshot") or redis.call("HGET", KEYS[1], "state")
  from = snap
end
local log = {}
if v > from then log = redis.call("LRANGE", KEYS[3], from - snap, -1) end
return {m, inbox, snapshot, log}`)

// Load reads a sweep's whole state — snapshot, log and inbox — at once.
func (s *SweepStore) Load(ctx context.Context, id string) (*Sweep, error) {
	return s.LoadSince(ctx, id, -1)
}

// LoadSince is Load for a caller that holds the strategy state at version
// have: if that is not older than the snapshot, only the log entries after
// have are returned, and no snapshot.
func (s *SweepStore) LoadSince(ctx context.Context, id string, have int64) (*Sweep, error) {
	v, err := loadSweep.Run(ctx, s.c, []string{SweepKey(id), SweepInboxKey(id), SweepLogKey(id)}, have).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
	}
	if err != nil {
		return nil, fmt.Errorf("load sweep %s: %w", id, err)
	}
	parts, ok := v.([]any)
	if !ok || len(parts) != 4 {
		return nil, fmt.Errorf("load sweep %s: unexpected reply %T", id, v)
	}
	meta, inbox, log := strs(parts[0]), strs(parts[1]), strs(parts[3])
	if len(meta) != 10 {
		return nil, fmt.Errorf("load sweep %s: unexpected reply", id)
	}
	sw := &Sweep{ID: id, Status: meta[0], Spec: []byte(meta[1]), Inbox: inbox, Log: log}
	if snap, ok := parts[2].(string); ok {
		sw.Snapshot = []byte(snap)
	}
	var errs []error
	num := func(i int, f string) int64 {
		n, err := strconv.ParseInt(meta[i], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: field %s: %w", id, f, err))
		}
		return n
	}
	sw.Version, sw.SnapVersion = num(2, "version"), num(3, "snap_version")
	sw.Created, sw.Updated = time.UnixMilli(num(4, "created")).UTC(), time.UnixMilli(num(5, "updated")).UTC()
	sw.Counts = SweepCounts{Trials: num(6, "trials"), Pending: num(7, "pending"), Completed: num(8, "completed"), Failed: num(9, "failed")}
	return sw, errors.Join(errs...)
}

// strs converts a Lua reply array to strings; nil entries become "".
func strs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, len(a))
	for i, x := range a {
		out[i], _ = x.(string)
	}
	return out
}

// Summary returns a sweep's status, version, counts and number of waiting
// results without its state, spec or inbox: cheap to poll.
func (s *SweepStore) Summary(ctx context.Context, id string) (*Sweep, error) {
	fields := []string{"status", "version", "created", "updated", "trials", "pending", "completed", "failed"}
	// Sweeps stored before the counts were kept have none.
	counts := 4
	var h *redis.SliceCmd
	var inbox *redis.IntCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HMGet(ctx, SweepKey(id), fields...)
		inbox = p.LLen(ctx, SweepInboxKey(id))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sweep %s: summary: %w", id, err)
	}
	m := strs(h.Val())
	if h.Val()[1] == nil {
		return nil, fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
	}
	sw := &Sweep{ID: id, Status: m[0], Inbox: make([]string, inbox.Val())}
	var errs []error
	num := func(i int) int64 {
		if i >= counts && m[i] == "" {
			return 0
		}
		n, err := strconv.ParseInt(m[i], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: field %s: %w", id, fields[i], err))
		}
		return n
	}
	sw.Version = num(1)
	sw.Created, sw.Updated = time.UnixMilli(num(2)).UTC(), time.UnixMilli(num(3)).UTC()
	sw.Counts = SweepCounts{Trials: num(4), Pending: num(5), Completed: num(6), Failed: num(7)}
	return sw, errors.Join(errs...)
}

// commitSweep: KEYS[1]=sweep, KEYS[2]=inbox, KEYS[3]=log; ARGV: expected
// version, log entry, results consumed, done (0/1), now, ttl, snapshot (""
// for none), trials, pending, completed, failed.
var commitSweep = redis.NewScript(`
local v = redis.call("HGET", KEYS[1], "version")
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
if redis.call("HEXISTS", KEYS[1], "snap_version") == 0 then
  -- Move a sweep stored before snapshots and logs to them.
  redis.call("HSET", KEYS[1], "snap_version", v, "snapshot", redis.call("HGET", KEYS[1], "state") or "")
  redis.call("HDEL", KEYS[1], "state")
end
local nv = tonumber(v) + 1
redis.call("HSET", KEYS[1], "version", nv, "updated", ARGV[5],
  "trials", ARGV[8], "pending", ARGV[9], "completed", ARGV[10], "failed", ARGV[11])
if ARGV[7] ~= "" then
  redis.call("HSET", KEYS[1], "snapshot", ARGV[7], "snap_version", nv)
  redis.call("DEL", KEYS[3])
else
  redis.call("RPUSH", KEYS[3], ARGV[2])
  redis.call("PEXPIRE", KEYS[3], ARGV[6])
end
if ARGV[4] == "1" and redis.call("HGET", KEYS[1], "status") == "running" then
  redis.call("HSET", KEYS[1], "status", "done")
end
if tonumber(ARGV[3]) > 0 then redis.call("LTRIM", KEYS[2], ARGV[3], -1) end
redis.call("PEXPIRE", KEYS[1], ARGV[6])
redis.call("PEXPIRE", KEYS[2], ARGV[6])
return 1`)

// Commit records one step of a sweep loaded at Version.
type Commit struct {
	Version int64
	// Entry is the step's log entry; Snapshot, if set, is the whole state
	// after the step instead, and replaces the snapshot and the log.
	Entry, Snapshot []byte
	// Consumed is the number of inbox entries the step told the strategy.
	Consumed int
	// Done marks a running sweep done.
	Done   bool
	Counts SweepCounts
}

// Commit appends a step to a sweep's log (or stores a new snapshot), drops
// the consumed inbox entries, updates the counts and, when done, marks a
// running sweep done — all atomically, and only if no other commit happened
// since the load at c.Version (else ErrConflict).
func (s *SweepStore) Commit(ctx context.Context, id string, c Commit) error {
	d := "0"
	if c.Done {
		d = "1"
	}
	r, err := commitSweep.Run(ctx, s.c, []string{SweepKey(id), SweepInboxKey(id), SweepLogKey(id)},
		c.Version, c.Entry, c.Consumed, d, time.Now().UnixMilli(), s.ttl.Milliseconds(), c.Snapshot,
		c.Counts.Trials, c.Counts.Pending, c.Counts.Completed, c.Counts.Failed).Int()
	switch {
	case err != nil:
		return fmt.Errorf("commit sweep %s: %w", id, err)
	case r < 0:
		return fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
	case r == 0:
		return fmt.Errorf("sweep %q at version %d: %w", id, c.Version, ErrConflict)
	}
	return nil
}

// Lock takes the lease on stepping a sweep for ttl, returning the token
// that releases it, or ok=false while another holder's lease runs.
func (s *SweepStore) Lock(ctx context.Context, id string, ttl time.Duration) (token string, ok bool, err error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, err
	}
	token = hex.EncodeToString(b[:])
	ok, err = s.c.SetNX(ctx, SweepLockKey(id), token, ttl).Result()
	if err != nil {
		return "", false, fmt.Errorf("sweep %s: lock: %w", id, err)
	}
	return token, ok, nil
}

var unlockSweep = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

// Unlock releases a lease taken by Lock, unless it expired and another
// holder took it since.
func (s *SweepStore) Unlock(ctx context.Context, id, token string) error {
	if err := unlockSweep.Run(ctx, s.c, []string{SweepLockKey(id)}, token).Err(); err != nil {
		return fmt.Errorf("sweep %s: unlock: %w", id, err)
	}
	return nil
}

// SweepWakeKey is set while a step task is queued for the sweep and has
// not yet looked at the inbox, so that results arriving meanwhile do not
// queue more.
func SweepWakeKey(id string) string { return tagged(id) + ":sweep:wake" }

// wakeTTL bounds how long a lost wake-up (a step enqueue that failed after
// the key was set) can hold back the next one.
const wakeTTL = 10 * time.Second

// pushResult: KEYS[1]=inbox, KEYS[2]=wake; ARGV: result, ttl, wake ttl.
var pushResult = redis.NewScript(`
redis.call("RPUSH", KEYS[1], ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[2])
if redis.call("SET", KEYS[2], "1", "NX", "PX", ARGV[3]) then return 1 end
return 0`)

// PushResult appends a trial result to the sweep's inbox. wake says that no
// step is queued that will see it: the caller must queue one (or call
// CancelWake if it cannot).
func (s *SweepStore) PushResult(ctx context.Context, id string, result []byte) (wake bool, err error) {
	n, err := pushResult.Run(ctx, s.c, []string{SweepInboxKey(id), SweepWakeKey(id)}, result, s.ttl.Milliseconds(), wakeTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("sweep %s: push result: %w", id, err)
	}
	return n == 1, nil
}

// CancelWake clears the wake-up mark PushResult set, for a caller that
// failed to queue the step.
func (s *SweepStore) CancelWake(ctx context.Context, id string) error {
	return s.c.Del(ctx, SweepWakeKey(id)).Err()
}

// TakeWake clears the wake-up mark, so that results arriving from now on
// queue a new step, and returns the number of results waiting.
func (s *SweepStore) TakeWake(ctx context.Context, id string) (int64, error) {
	var n *redis.IntCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, SweepWakeKey(id))
		n = p.LLen(ctx, SweepInboxKey(id))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep %s: inbox: %w", id, err)
	}
	return n.Val(), nil
}

var setSweepStatus = redis.NewScript(`
local st = redis.call("HGET", KEYS[1], "status")
if not st then return -1 end
if st == "done" or st == "cancelled" then return 0 end
redis.call("HSET", KEYS[1], "status", ARGV[1], "updated", ARGV[2])
return 1`)

// SetStatus moves a sweep that is still running or paused to status
// (running, paused or cancelled). It reports false for a finished sweep.
func (s *SweepStore) SetStatus(ctx context.Context, id, status string) (bool, error) {
	r, err := setSweepStatus.Run(ctx, s.c, []string{SweepKey(id)}, status, time.Now().UnixMilli()).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("sweep %s: set status: %w", id, err)
	case r < 0:
		return false, fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
	}
	return r == 1, nil
}

// List returns sweep ids newest first.
func (s *SweepStore) List(ctx context.Context, offset, limit int) ([]string, error) {
	ids, err := s.c.ZRevRange(ctx, SweepIndexKey(), int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("list sweeps: %w", err)
	}
	return ids, nil
}

// SpecStatus returns a sweep's status and creation time (Unix ms), and
// its spec if withSpec, without its state or inbox.
func (s *SweepStore) SpecStatus(ctx context.Context, id string, withSpec bool) (spec []byte, status string, created int64, err error) {
	fields := []string{"status", "created"}
	if withSpec {
		fields = append(fields, "spec")
	}
	v, err := s.c.HMGet(ctx, SweepKey(id), fields...).Result()
	if err != nil {
		return nil, "", 0, fmt.Errorf("sweep %s: %w", id, err)
	}
	st, ok1 := v[0].(string)
	cr, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return nil, "", 0, fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
	}
	if created, err = strconv.ParseInt(cr, 10, 64); err != nil {
		return nil, "", 0, fmt.Errorf("sweep %s: field created: %w", id, err)
	}
	if withSpec {
		sp, ok := v[2].(string)
		if !ok {
			return nil, "", 0, fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
		}
		spec = []byte(sp)
	}
	return spec, st, created, nil
}

// SweepRunsKey is the hash of how a sweep's trial attempts ran, one field
// per attempt ("<trial>/a<attempt>", see PutTrialRun), written by the
// nas:eval handler for the sweep pages. Nothing that steps the sweep reads
// it.
func SweepRunsKey(id string) string { return tagged(id) + ":sweep:runs" }

func runField(trial string, attempt int) string { return trial + "/a" + strconv.Itoa(attempt) }

// PutTrialRun stores the record of one attempt of a trial (opaque bytes,
// JSON in practice), replacing an earlier record of the same attempt, and
// keeps the hash for the state TTL from now.
func (s *SweepStore) PutTrialRun(ctx context.Context, id, trial string, attempt int, run []byte) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, SweepRunsKey(id), runField(trial, attempt), run)
		p.PExpire(ctx, SweepRunsKey(id), s.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweep %s: trial %s attempt %d: store run: %w", id, trial, attempt, err)
	}
	return nil
}

// TrialRuns returns the records PutTrialRun stored for attempts 1 to
// attempts of a trial: element i is attempt i+1's, nil where none was
// stored.
func (s *SweepStore) TrialRuns(ctx context.Context, id, trial string, attempts int) ([][]byte, error) {
	if attempts < 1 {
		return nil, nil
	}
	fields := make([]string, attempts)
	for i := range fields {
		fields[i] = runField(trial, i+1)
	}
	v, err := s.c.HMGet(ctx, SweepRunsKey(id), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("sweep %s: trial %s: runs: %w", id, trial, err)
	}
	out := make([][]byte, len(v))
	for i, x := range v {
		if str, ok := x.(string); ok {
			out[i] = []byte(str)
		}
	}
	return out, nil
}
