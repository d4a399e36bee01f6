package rdb

import (
	"context"
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

// ErrNoSweep is returned for a sweep id with no state in Redis.
var ErrNoSweep = errors.New("no such sweep")

// ErrConflict is returned by CommitSweep when another step changed the
// sweep since it was loaded.
var ErrConflict = errors.New("sweep changed concurrently")

// SweepKey is the hash holding a sweep's spec, strategy state and status.
func SweepKey(id string) string { return "compressq:sweep:" + id }

// SweepInboxKey is the list of trial results not yet told to the strategy.
func SweepInboxKey(id string) string { return "compressq:sweep:" + id + ":inbox" }

// SweepIndexKey is the sorted set of sweep ids scored by creation time (ms).
func SweepIndexKey() string { return "compressq:sweeps" }

// Sweep is a sweep's state as stored in Redis.
type Sweep struct {
	ID      string
	Status  string
	Spec    []byte // the sweep spec as submitted (JSON)
	State   []byte // the strategy's saved state (JSON)
	Version int64  // bumped by every commit
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

var createSweep = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
redis.call("HSET", KEYS[1], "id", ARGV[1], "status", "running", "spec", ARGV[2], "state", ARGV[3],
  "version", 0, "created", ARGV[4], "updated", ARGV[4])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
redis.call("ZADD", KEYS[2], ARGV[4], ARGV[1])
return 1`)

// Create stores a new running sweep; false means the id exists already.
func (s *SweepStore) Create(ctx context.Context, id string, spec, state []byte) (bool, error) {
	now := time.Now().UnixMilli()
	n, err := createSweep.Run(ctx, s.c, []string{SweepKey(id), SweepIndexKey()}, id, spec, state, now, s.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("create sweep %s: %w", id, err)
	}
	return n == 1, nil
}

// Load reads the sweep and its inbox in one transaction.
func (s *SweepStore) Load(ctx context.Context, id string) (*Sweep, error) {
	return s.load(ctx, id, true)
}

// LoadMeta is Load without the strategy state, which is the bulk of a
// sweep; State fetches it when needed.
func (s *SweepStore) LoadMeta(ctx context.Context, id string) (*Sweep, error) {
	return s.load(ctx, id, false)
}

// State returns a sweep's strategy state and the version it belongs to.
func (s *SweepStore) State(ctx context.Context, id string) ([]byte, int64, error) {
	v, err := s.c.HMGet(ctx, SweepKey(id), "state", "version").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("sweep %s: state: %w", id, err)
	}
	state, ok1 := v[0].(string)
	ver, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return nil, 0, fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
	}
	n, err := strconv.ParseInt(ver, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("sweep %s: version: %w", id, err)
	}
	return []byte(state), n, nil
}

var sweepMetaFields = []string{"status", "spec", "version", "created", "updated"}

func (s *SweepStore) load(ctx context.Context, id string, withState bool) (*Sweep, error) {
	fields := sweepMetaFields
	if withState {
		fields = append(fields[:len(fields):len(fields)], "state")
	}
	var h *redis.SliceCmd
	var inbox *redis.StringSliceCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HMGet(ctx, SweepKey(id), fields...)
		inbox = p.LRange(ctx, SweepInboxKey(id), 0, -1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load sweep %s: %w", id, err)
	}
	m := map[string]string{}
	for i, v := range h.Val() {
		if str, ok := v.(string); ok {
			m[fields[i]] = str
		}
	}
	if _, ok := m["version"]; !ok {
		return nil, fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
	}
	sw := &Sweep{ID: id, Status: m["status"], Spec: []byte(m["spec"]), State: []byte(m["state"]), Inbox: inbox.Val()}
	var errs []error
	num := func(f string) int64 {
		v, err := strconv.ParseInt(m[f], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: field %s: %w", id, f, err))
		}
		return v
	}
	sw.Version = num("version")
	sw.Created = time.UnixMilli(num("created")).UTC()
	sw.Updated = time.UnixMilli(num("updated")).UTC()
	return sw, errors.Join(errs...)
}

// commitSweep: KEYS[1]=sweep, KEYS[2]=inbox; ARGV: expected version, new
// state, results consumed, done (0/1), now, ttl.
var commitSweep = redis.NewScript(`
local v = redis.call("HGET", KEYS[1], "version")
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call("HSET", KEYS[1], "state", ARGV[2], "version", tonumber(v) + 1, "updated", ARGV[5])
if ARGV[4] == "1" and redis.call("HGET", KEYS[1], "status") == "running" then
  redis.call("HSET", KEYS[1], "status", "done")
end
if tonumber(ARGV[3]) > 0 then redis.call("LTRIM", KEYS[2], ARGV[3], -1) end
redis.call("PEXPIRE", KEYS[1], ARGV[6])
redis.call("PEXPIRE", KEYS[2], ARGV[6])
return 1`)

// Commit replaces the strategy state of a sweep loaded at version, drops the
// first consumed inbox entries (the ones told to the strategy) and, when
// done, marks a running sweep done — all atomically, and only if no other
// commit happened since the load (else ErrConflict).
func (s *SweepStore) Commit(ctx context.Context, id string, version int64, state []byte, consumed int, done bool) error {
	d := "0"
	if done {
		d = "1"
	}
	r, err := commitSweep.Run(ctx, s.c, []string{SweepKey(id), SweepInboxKey(id)},
		version, state, consumed, d, time.Now().UnixMilli(), s.ttl.Milliseconds()).Int()
	switch {
	case err != nil:
		return fmt.Errorf("commit sweep %s: %w", id, err)
	case r < 0:
		return fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
	case r == 0:
		return fmt.Errorf("sweep %q at version %d: %w", id, version, ErrConflict)
	}
	return nil
}

// PushResult appends a trial result to the sweep's inbox.
func (s *SweepStore) PushResult(ctx context.Context, id string, result []byte) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, SweepInboxKey(id), result)
		p.PExpire(ctx, SweepInboxKey(id), s.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweep %s: push result: %w", id, err)
	}
	return nil
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

// SpecStatus returns a sweep's spec and status without its state or inbox.
func (s *SweepStore) SpecStatus(ctx context.Context, id string) (spec []byte, status string, err error) {
	v, err := s.c.HMGet(ctx, SweepKey(id), "spec", "status").Result()
	if err != nil {
		return nil, "", fmt.Errorf("sweep %s: %w", id, err)
	}
	sp, ok1 := v[0].(string)
	st, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return nil, "", fmt.Errorf("sweep %q: %w", id, ErrNoSweep)
	}
	return []byte(sp), st, nil
}

// InboxLen returns the number of results waiting for a sweep's strategy.
func (s *SweepStore) InboxLen(ctx context.Context, id string) (int64, error) {
	n, err := s.c.LLen(ctx, SweepInboxKey(id)).Result()
	if err != nil {
		return 0, fmt.Errorf("sweep %s: inbox: %w", id, err)
	}
	return n, nil
}
