package rdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/testwait"
)

// testClient returns an empty Redis for one test: a fresh redis-server,
// unless TestScriptsOnTopologies swapped in a cluster or sentinel client.
var testClient = func(t *testing.T) redis.UniversalClient {
	t.Helper()
	srv := redistest.Start(t)
	c, err := Open(configs.Redis{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newStore(t *testing.T, ttl time.Duration) (*Store, redis.UniversalClient) {
	t.Helper()
	c := testClient(t)
	return NewStore(c, ttl), c
}

func TestJobLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, time.Hour)
	created, err := s.Create(ctx, "j1", "demo", 2, []byte(`{"steps":[]}`))
	if err != nil || !created {
		t.Fatalf("Create = %v, %v", created, err)
	}
	if again, err := s.Create(ctx, "j1", "other", 5, nil); err != nil || again {
		t.Fatalf("second Create = %v, %v; want false, nil", again, err)
	}
	j, err := s.Get(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != StatusPending || j.Steps != 2 || j.Name != "demo" {
		t.Fatalf("new job %+v", j)
	}
	if rec, err := s.StepStarted(ctx, "j1", 0); err != nil || rec != nil {
		t.Fatalf("StepStarted = %+v, %v; want no record", rec, err)
	}
	last, err := s.StepSucceeded(ctx, "j1", 0, []byte(`{"a":1}`), "file:///a")
	if err != nil || last {
		t.Fatalf("step 0: last=%v err=%v", last, err)
	}
	// A retried handler reports step 0 again: harmless, the job stays at step 1.
	if _, err := s.StepSucceeded(ctx, "j1", 0, []byte(`{"a":1}`), "file:///a"); err != nil {
		t.Fatal(err)
	}
	if j, _ = s.Get(ctx, "j1"); j.Current != 1 || j.Status != StatusRunning && j.Status != StatusPending {
		t.Fatalf("after step 0: %+v", j)
	}
	// A late duplicate must not rewind the job; it gets step 0's record.
	if rec, err := s.StepStarted(ctx, "j1", 0); err != nil || rec == nil || string(rec.Result) != `{"a":1}` || rec.Artifact != "file:///a" {
		t.Fatalf("StepStarted of a recorded step = %+v, %v", rec, err)
	}
	if j, _ = s.Get(ctx, "j1"); j.Current != 1 {
		t.Fatalf("StepStarted rewound the job to %d", j.Current)
	}
	last, err = s.StepSucceeded(ctx, "j1", 1, []byte(`{"b":2}`), "file:///b")
	if err != nil || !last {
		t.Fatalf("step 1: last=%v err=%v", last, err)
	}
	if err := s.Failed(ctx, "j1", 1, "too late"); err != nil {
		t.Fatal(err)
	}
	j, _ = s.Get(ctx, "j1")
	if j.Status != StatusSucceeded || j.Error != "" || j.Artifacts[0] != "file:///a" || j.Artifacts[1] != "file:///b" || string(j.Results[1]) != `{"b":2}` {
		t.Fatalf("finished job %+v", j)
	}
}

func TestJobFailure(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, time.Hour)
	if _, err := s.Create(ctx, "j2", "", 3, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Failed(ctx, "j2", 1, "model: bad header"); err != nil {
		t.Fatal(err)
	}
	j, _ := s.Get(ctx, "j2")
	if j.Status != StatusFailed || j.FailedStep != 1 || j.Error != "model: bad header" {
		t.Fatalf("failed job %+v", j)
	}
	if _, err := s.StepSucceeded(ctx, "j2", 1, nil, ""); !errors.Is(err, ErrNoJob) {
		t.Fatalf("StepSucceeded on a failed job: %v", err)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNoJob) {
		t.Fatalf("Get(nope) = %v", err)
	}
}

func TestListDropsExpired(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t, time.Hour)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.Create(ctx, id, id, 1, nil); err != nil {
			t.Fatal(err)
		}
		j, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		// The next job gets a later creation time (ms).
		testwait.Eventually(t, time.Second, func() bool { return time.Now().After(j.Created.Add(time.Millisecond)) },
			"the clock did not pass job %s's creation time %v", id, j.Created)
	}
	c.Del(ctx, JobKey("b")) // as if its TTL ran out
	jobs, err := s.List(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].ID != "c" || jobs[1].ID != "a" {
		t.Fatalf("List = %v", jobs)
	}
	if n := c.ZCard(ctx, JobIndexKey()).Val(); n != 2 {
		t.Fatalf("index still holds %d ids", n)
	}
	if ttl := c.PTTL(ctx, JobKey("a")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("job TTL %v", ttl)
	}
}

func TestOpenRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "http://x", "redis://h:1/notadb"} {
		if _, err := Open(configs.Redis{URL: u}); err == nil {
			t.Errorf("Open(%q) accepted", u)
		}
	}
}

func TestOpenACLUserAndDB(t *testing.T) {
	srv := redistest.Start(t, "--user", "alice", "on", ">s3cret", "~*", "&*", "+@all")
	host := strings.TrimPrefix(srv.URL(), "redis://")
	host = strings.TrimSuffix(host, "/0")
	ctx := context.Background()
	good, err := Open(configs.Redis{URL: "redis://alice:s3cret@" + host + "/3"})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if err := good.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("ACL user alice: %v", err)
	}
	info, err := good.ClientInfo(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if info.DB != 3 {
		t.Fatalf("db %d, want 3", info.DB)
	}
	bad, err := Open(configs.Redis{URL: "redis://alice:wrong@" + host + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestIndexesTrimmedToTTL: the global job and sweep indexes drop ids
// created more than the state TTL ago when a job or sweep is created.
func TestIndexesTrimmedToTTL(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t, time.Hour)
	sw := NewSweepStore(c, time.Hour)
	old := float64(time.Now().Add(-2 * time.Hour).UnixMilli())
	c.ZAdd(ctx, JobIndexKey(), redis.Z{Score: old, Member: "old-job"})
	c.ZAdd(ctx, SweepIndexKey(), redis.Z{Score: old, Member: "old-sweep"})
	if _, err := s.Create(ctx, "new-job", "", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Create(ctx, "new-sweep", []byte("{}"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if ids := c.ZRange(ctx, JobIndexKey(), 0, -1).Val(); len(ids) != 1 || ids[0] != "new-job" {
		t.Errorf("job index %q, want [new-job]", ids)
	}
	if ids := c.ZRange(ctx, SweepIndexKey(), 0, -1).Val(); len(ids) != 1 || ids[0] != "new-sweep" {
		t.Errorf("sweep index %q, want [new-sweep]", ids)
	}
	// A retried Create of an existing job puts it back into the index
	// with its creation time, should the first attempt have failed there.
	c.ZRem(ctx, JobIndexKey(), "new-job")
	if again, err := s.Create(ctx, "new-job", "", 1, nil); err != nil || again {
		t.Fatalf("second Create = %v, %v", again, err)
	}
	j, _ := s.Get(ctx, "new-job")
	if sc := c.ZScore(ctx, JobIndexKey(), "new-job").Val(); int64(sc) != j.Created.UnixMilli() {
		t.Errorf("re-added with score %v, want creation time %d", sc, j.Created.UnixMilli())
	}
}
