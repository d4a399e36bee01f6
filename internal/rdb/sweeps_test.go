package rdb

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/compressq/compressq/internal/testwait"
)

// sweepStore returns a SweepStore on a fresh redis-server.
func sweepStore(t *testing.T) *SweepStore {
	t.Helper()
	return NewSweepStore(testClient(t), time.Hour)
}

func TestSweepStore(t *testing.T) {
	ctx := context.Background()
	s := sweepStore(t)
	if ok, err := s.Create(ctx, "sw", []byte(`{"spec":1}`), []byte(`{"state":0}`)); !ok || err != nil {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	if ok, _ := s.Create(ctx, "sw", nil, nil); ok {
		t.Fatal("second Create succeeded")
	}
	// The first result asks for a step; the others find one queued.
	for i, r := range []string{"r1", "r2", "r3"} {
		wake, err := s.PushResult(ctx, "sw", []byte(r))
		if err != nil || wake != (i == 0) {
			t.Fatalf("PushResult(%s) = %v, %v", r, wake, err)
		}
	}
	if n, err := s.TakeWake(ctx, "sw"); n != 3 || err != nil {
		t.Fatalf("TakeWake = %d, %v", n, err)
	}
	sw, err := s.Load(ctx, "sw")
	if err != nil {
		t.Fatal(err)
	}
	if sw.Status != SweepRunning || sw.Version != 0 || len(sw.Inbox) != 3 || string(sw.Snapshot) != `{"state":0}` || len(sw.Log) != 0 {
		t.Fatalf("loaded %+v", sw)
	}
	// A result arriving between load and commit must survive the commit.
	// Once a step took the wake-up, a new result asks for another.
	if wake, err := s.PushResult(ctx, "sw", []byte("r4")); !wake || err != nil {
		t.Fatalf("PushResult after TakeWake = %v, %v", wake, err)
	}
	if err := s.CancelWake(ctx, "sw"); err != nil {
		t.Fatal(err)
	}
	if wake, _ := s.PushResult(ctx, "sw", []byte("r5")); !wake {
		t.Fatal("PushResult after CancelWake did not ask for a step")
	}
	if err := s.c.LRem(ctx, SweepInboxKey("sw"), 1, "r5").Err(); err != nil {
		t.Fatal(err)
	}
	counts := SweepCounts{Trials: 5, Pending: 2, Completed: 2, Failed: 1}
	if err := s.Commit(ctx, "sw", Commit{Version: 0, Entry: []byte("e1"), Consumed: len(sw.Inbox), Counts: counts}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "sw", Commit{Version: 0, Entry: []byte("stale"), Consumed: 1}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale commit: %v", err)
	}
	if err := s.Commit(ctx, "sw", Commit{Version: 1, Entry: []byte("e2")}); err != nil {
		t.Fatal(err)
	}
	sw, _ = s.Load(ctx, "sw")
	if sw.Version != 2 || string(sw.Snapshot) != `{"state":0}` || !slices.Equal(sw.Log, []string{"e1", "e2"}) ||
		!slices.Equal(sw.Inbox, []string{"r4"}) {
		t.Fatalf("after commits %+v", sw)
	}
	// A caller at version 1 gets only the entry after it, and no snapshot;
	// one at the current version gets nothing; one from the future (an
	// expired and recreated sweep) gets everything.
	for have, want := range map[int64][]string{1: {"e2"}, 2: nil, 9: {"e1", "e2"}} {
		sw, err := s.LoadSince(ctx, "sw", have)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sw.Log, want) || (sw.Snapshot != nil) != (have == 9) {
			t.Fatalf("LoadSince(%d): log %q, snapshot %q", have, sw.Log, sw.Snapshot)
		}
	}
	// A snapshot replaces the log.
	if err := s.Commit(ctx, "sw", Commit{Version: 2, Snapshot: []byte(`{"state":3}`), Counts: counts}); err != nil {
		t.Fatal(err)
	}
	if sw, _ = s.Load(ctx, "sw"); sw.Version != 3 || sw.SnapVersion != 3 || string(sw.Snapshot) != `{"state":3}` || len(sw.Log) != 0 {
		t.Fatalf("after snapshot %+v", sw)
	}
	if sw, _ = s.LoadSince(ctx, "sw", 1); sw.Snapshot == nil || len(sw.Log) != 0 {
		t.Fatalf("a caller older than the snapshot got %+v", sw)
	}
	sum, err := s.Summary(ctx, "sw")
	if err != nil || sum.Counts != counts || sum.Version != 3 || len(sum.Inbox) != 1 || sum.Status != SweepRunning {
		t.Fatalf("Summary = %+v, %v", sum, err)
	}
	if ok, _ := s.SetStatus(ctx, "sw", SweepPaused); !ok {
		t.Fatal("pause refused")
	}
	// A commit that finishes the strategy does not override a pause...
	if err := s.Commit(ctx, "sw", Commit{Version: 3, Entry: []byte("e4"), Consumed: 1, Done: true}); err != nil {
		t.Fatal(err)
	}
	if sw, _ = s.Load(ctx, "sw"); sw.Status != SweepPaused || len(sw.Inbox) != 0 {
		t.Fatalf("after done-commit while paused: %+v", sw)
	}
	s.SetStatus(ctx, "sw", SweepRunning)
	if err := s.Commit(ctx, "sw", Commit{Version: 4, Entry: []byte("e5"), Done: true}); err != nil {
		t.Fatal(err)
	}
	if sw, _ = s.Load(ctx, "sw"); sw.Status != SweepDone {
		t.Fatalf("status %q, want done", sw.Status)
	}
	if ok, _ := s.SetStatus(ctx, "sw", SweepRunning); ok {
		t.Fatal("a done sweep was restarted")
	}
	if _, err := s.Load(ctx, "missing"); !errors.Is(err, ErrNoSweep) {
		t.Fatalf("Load(missing) = %v", err)
	}
	if _, err := s.Summary(ctx, "missing"); !errors.Is(err, ErrNoSweep) {
		t.Fatalf("Summary(missing) = %v", err)
	}
	if ids, _ := s.List(ctx, 0, 10); len(ids) != 1 || ids[0] != "sw" {
		t.Fatalf("List = %v", ids)
	}
}

func TestSweepLock(t *testing.T) {
	ctx := context.Background()
	s := sweepStore(t)
	tok, ok, err := s.Lock(ctx, "sw", time.Minute)
	if !ok || err != nil {
		t.Fatalf("Lock = %v, %v", ok, err)
	}
	if _, ok, _ := s.Lock(ctx, "sw", time.Minute); ok {
		t.Fatal("second Lock succeeded while the first is held")
	}
	if err := s.Unlock(ctx, "sw", "not-the-token"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lock(ctx, "sw", time.Minute); ok {
		t.Fatal("a wrong token released the lock")
	}
	if err := s.Unlock(ctx, "sw", tok); err != nil {
		t.Fatal(err)
	}
	tok, ok, _ = s.Lock(ctx, "sw", 50*time.Millisecond)
	if !ok {
		t.Fatal("Lock after Unlock failed")
	}
	testwait.Eventually(t, 10*time.Second, func() bool { return s.c.Exists(ctx, SweepLockKey("sw")).Val() == 0 },
		"the lock's 50ms lease never expired")
	if _, ok, _ := s.Lock(ctx, "sw", time.Minute); !ok {
		t.Fatal("an expired lease still held the lock")
	}
	// The expired holder's Unlock must not release the new holder's lease.
	if err := s.Unlock(ctx, "sw", tok); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lock(ctx, "sw", time.Minute); ok {
		t.Fatal("an expired holder released its successor's lock")
	}
}

// TestSweepStoreUpgrade loads and commits a sweep stored in the layout
// before snapshots and logs: its whole state in one "state" field.
func TestSweepStoreUpgrade(t *testing.T) {
	ctx := context.Background()
	s := sweepStore(t)
	c := s.c
	c.HSet(ctx, SweepKey("old"), "id", "old", "status", "running", "spec", "{}", "state", `{"old":1}`,
		"version", 7, "created", 1, "updated", 2)
	sw, err := s.Load(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if sw.Version != 7 || sw.SnapVersion != 7 || string(sw.Snapshot) != `{"old":1}` || len(sw.Log) != 0 {
		t.Fatalf("old sweep loaded as %+v", sw)
	}
	if sum, err := s.Summary(ctx, "old"); err != nil || sum.Version != 7 || sum.Counts != (SweepCounts{}) {
		t.Fatalf("Summary = %+v, %v", sum, err)
	}
	if err := s.Commit(ctx, "old", Commit{Version: 7, Entry: []byte("e8")}); err != nil {
		t.Fatal(err)
	}
	sw, err = s.Load(ctx, "old")
	if err != nil || sw.Version != 8 || sw.SnapVersion != 7 || string(sw.Snapshot) != `{"old":1}` || !slices.Equal(sw.Log, []string{"e8"}) {
		t.Fatalf("after a commit: %+v, %v", sw, err)
	}
	if n, _ := c.HExists(ctx, SweepKey("old"), "state").Result(); n {
		t.Fatal("the old state field is still there")
	}
}

func TestSweepTrialRuns(t *testing.T) {
	ctx := context.Background()
	s := NewSweepStore(testClient(t), time.Hour)
	for _, r := range []struct {
		trial   string
		attempt int
		run     string
	}{{"t000001", 1, "first"}, {"t000001", 2, "second"}, {"t000002", 1, "other"}, {"t000001", 2, "second again"}} {
		if err := s.PutTrialRun(ctx, "sw", r.trial, r.attempt, []byte(r.run)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.TrialRuns(ctx, "sw", "t000001", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0]) != "first" || string(got[1]) != "second again" || got[2] != nil {
		t.Fatalf("TrialRuns = %q", got)
	}
	if got, err := s.TrialRuns(ctx, "other", "t000001", 1); err != nil || len(got) != 1 || got[0] != nil {
		t.Fatalf("TrialRuns of an unknown sweep = %q, %v", got, err)
	}
	if ttl := s.c.PTTL(ctx, SweepRunsKey("sw")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("runs TTL %v, want the state TTL", ttl)
	}
}
