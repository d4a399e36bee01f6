package rdb

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestSensitivityRun(t *testing.T) {
	ctx := context.Background()
	_, c := newStore(t, time.Hour)
	s := NewSensitivityStore(c, time.Hour)
	if _, _, err := s.Record(ctx, "r1", PointKey{"layers.0.weight", 0.5}, 0.9); !errors.Is(err, ErrNoRun) {
		t.Fatalf("Record on a missing run: %v, want ErrNoRun", err)
	}
	run := &SensitivityRun{ID: "r1", Spec: []byte(`{"v":1}`), Points: 4, Job: "j", Step: 2}
	if created, err := s.Start(ctx, run); err != nil || !created {
		t.Fatalf("Start = %v, %v", created, err)
	}
	if created, err := s.Start(ctx, &SensitivityRun{ID: "r1", Points: 9}); err != nil || created {
		t.Fatalf("second Start = %v, %v; want false, nil", created, err)
	}
	// Sixteen concurrent writers, each point written four times: every
	// point is added exactly once, and complete is seen only once all four
	// are in.
	keys := []PointKey{{"layers.0.weight", 0.5}, {"layers.0.weight", 0.9}, {"layers.2.weight", 0.5}, {"layers.2.weight", 1.0 / 3}}
	var (
		mu       sync.Mutex
		adds     = map[PointKey]int{}
		complete int
		wg       sync.WaitGroup
	)
	for i := range 16 {
		wg.Go(func() {
			k := keys[i%4]
			added, done, err := s.Record(ctx, "r1", k, float64(i))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if added {
				adds[k]++
			}
			if done {
				complete++
			}
		})
	}
	wg.Wait()
	for _, k := range keys {
		if adds[k] != 1 {
			t.Errorf("point %v added %d times", k, adds[k])
		}
	}
	if complete < 1 {
		t.Error("no Record reported the run complete")
	}
	got, err := s.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Points != 4 || got.Job != "j" || got.Step != 2 || string(got.Spec) != `{"v":1}` || len(got.Recorded) != 4 {
		t.Fatalf("Get = %+v", got)
	}
	if _, ok := got.Recorded[PointKey{"layers.2.weight", 1.0 / 3}]; !ok {
		t.Fatalf("sparsity 1/3 did not survive the round trip: %v", got.Recorded)
	}
	if err := s.Fail(ctx, "r1", "first"); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, "r1", "second"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "r1"); got.Error != "first" {
		t.Fatalf("Error = %q, want the first reason", got.Error)
	}
	for _, k := range []string{SensitivityKey("r1"), SensitivityPointsKey("r1")} {
		if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s: TTL %v", k, ttl)
		}
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNoRun) {
		t.Fatalf("Get of a missing run: %v", err)
	}
}
