package rdb

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/redistest"
)

func TestSweepStore(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	c, err := Open(configs.Redis{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := NewSweepStore(c, time.Hour)
	if ok, err := s.Create(ctx, "sw", []byte(`{"spec":1}`), []byte(`{"state":0}`)); !ok || err != nil {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	if ok, _ := s.Create(ctx, "sw", nil, nil); ok {
		t.Fatal("second Create succeeded")
	}
	for _, r := range []string{"r1", "r2", "r3"} {
		if err := s.PushResult(ctx, "sw", []byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	sw, err := s.Load(ctx, "sw")
	if err != nil {
		t.Fatal(err)
	}
	if sw.Status != SweepRunning || sw.Version != 0 || len(sw.Inbox) != 3 || string(sw.State) != `{"state":0}` {
		t.Fatalf("loaded %+v", sw)
	}
	// A result arriving between load and commit must survive the commit.
	if err := s.PushResult(ctx, "sw", []byte("r4")); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "sw", sw.Version, []byte(`{"state":1}`), len(sw.Inbox), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "sw", sw.Version, []byte(`{"state":"stale"}`), 1, false); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale commit: %v", err)
	}
	sw, _ = s.Load(ctx, "sw")
	if sw.Version != 1 || string(sw.State) != `{"state":1}` || len(sw.Inbox) != 1 || sw.Inbox[0] != "r4" {
		t.Fatalf("after commit %+v", sw)
	}
	if ok, _ := s.SetStatus(ctx, "sw", SweepPaused); !ok {
		t.Fatal("pause refused")
	}
	// A commit that finishes the strategy does not override a pause...
	if err := s.Commit(ctx, "sw", 1, []byte(`{}`), 1, true); err != nil {
		t.Fatal(err)
	}
	if sw, _ = s.Load(ctx, "sw"); sw.Status != SweepPaused {
		t.Fatalf("status %q after done-commit while paused", sw.Status)
	}
	s.SetStatus(ctx, "sw", SweepRunning)
	if err := s.Commit(ctx, "sw", 2, []byte(`{}`), 0, true); err != nil {
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
	if ids, _ := s.List(ctx, 0, 10); len(ids) != 1 || ids[0] != "sw" {
		t.Fatalf("List = %v", ids)
	}
}
