package sweep

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/tasks"
	"github.com/redis/go-redis/v9"
)

const testSpace = `
space:
  conv: {depth: [0, 1], channels: [4, 8], kernels: [3, 5]}
  dense: {depth: [1, 2], widths: [16, 32, 64]}
  compression: {sparsity: [0, 0.5], weight_bits: [8, 32]}
`

// synthetic scores a trial from its genome; a sixteenth of genomes fail
// their first attempt.
func synthetic(t nas.Trial) nas.Result {
	h := sha256.Sum256([]byte(t.Candidate.Hash))
	if h[1] < 16 && t.Attempt == 1 {
		return nas.Result{ID: t.ID, Attempt: t.Attempt, Err: "synthetic failure"}
	}
	acc := 0.5 + 0.5*float64(binary.BigEndian.Uint32(h[:4]))/float64(1<<32)
	return nas.Result{ID: t.ID, Attempt: t.Attempt, Objectives: nas.Objectives{Accuracy: acc, Params: int(h[2]), Bytes: int(h[3])}}
}

// TestStepsAcrossControllers drives sweeps through three controllers — as
// if three processes took turns stepping them — with small snapshot
// intervals, results reported in random batches, and a controller now and
// then replaced by a fresh one (a restart, which forgets its cached
// strategy). After every step the state rebuilt from Redis (snapshot plus
// log) must equal, byte for byte, the strategy the stepping controller
// keeps; at the end every trial is settled once and the cheap summary
// agrees with the records.
func TestStepsAcrossControllers(t *testing.T) {
	rc := newRedis(t)
	for _, strategy := range []string{"random", "evolution", "asha", "nsga2", "tpe"} {
		t.Run(strategy, func(t *testing.T) {
			ctx := context.Background()
			r := rand.New(rand.NewPCG(1, 2))
			ctls := make([]*Controller, 3)
			fresh := func(i int) {
				if ctls[i] != nil {
					ctls[i].Close()
				}
				ctls[i] = New(rc, time.Hour, tasks.Defaults{})
				ctls[i].snapshotEvery = 5
			}
			for i := range ctls {
				fresh(i)
			}
			defer func() {
				for _, c := range ctls {
					c.Close()
				}
			}()
			doc := testSpace + fmt.Sprintf("id: %s\nstrategy: %s\nseed: 4\nmax_trials: 60\nconcurrency: 6\npopulation: 8\nsample: 3\nmax_epochs: 9\nevaluator: {type: table, table: x}\n", strategy, strategy)
			spec, err := ParseSpec([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			id, err := ctls[0].Start(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ctls[0].Step(ctx, id, true); err != nil {
				t.Fatal(err)
			}
			reported := map[string]bool{}
			var st *Status
			steps, snapshots := 0, 0
			for ; steps < 2000; steps++ {
				if st, err = ctls[0].Status(ctx, id); err != nil {
					t.Fatal(err)
				}
				if st.Status == rdb.SweepDone {
					break
				}
				// Report a random part of the trials in flight.
				for _, rec := range st.Progress.Records {
					k := trialKey(rec.Trial)
					if rec.Status == nas.StatusPending && !reported[k] && r.IntN(3) == 0 {
						if err := ctls[r.IntN(3)].Report(ctx, id, "sweep", synthetic(rec.Trial)); err != nil {
							t.Fatal(err)
						}
						reported[k] = true
					}
				}
				if r.IntN(10) == 0 {
					fresh(r.IntN(3))
				}
				c := ctls[r.IntN(3)]
				rep, err := c.Step(ctx, id, false)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Status == "idle" {
					continue // nothing to tell: the step did not commit
				}
				kept, ok := c.cache.take(id)
				if !ok {
					t.Fatal("a step committed and kept no strategy")
				}
				c.cache.put(id, kept)
				sw, err := c.store.Load(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if sw.Snapshot != nil && sw.SnapVersion == sw.Version {
					snapshots++
				}
				rebuilt, err := restore(id, sw)
				if err != nil {
					t.Fatal(err)
				}
				a, _ := nas.Save(rebuilt)
				b, _ := nas.Save(kept.strat)
				if kept.version != sw.Version || string(a) != string(b) {
					t.Fatalf("step %d: state rebuilt at version %d differs from the stepping controller's at %d", steps, sw.Version, kept.version)
				}
			}
			p := st.Progress
			if st.Status != rdb.SweepDone || p.Pending != 0 || p.Completed+p.Failed != len(p.Records) || p.Completed < 20 {
				t.Fatalf("after %d steps: %s, %d completed, %d failed, %d pending", steps, st.Status, p.Completed, p.Failed, p.Pending)
			}
			if snapshots == 0 {
				t.Fatal("no step wrote a snapshot")
			}
			sum, err := ctls[1].Summary(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := nas.Counts{Done: true, Trials: len(p.Records), Completed: p.Completed, Failed: p.Failed}
			if sum.Counts != want || sum.Inbox != 0 {
				t.Fatalf("summary %+v, records say %+v", sum, want)
			}
			t.Logf("%s: %d trials in %d rounds, %d snapshots", strategy, len(p.Records), steps, snapshots)
		})
	}
}

// TestReplayChecksAsks: a log entry whose asked trials differ from what the
// strategy asks on replay is an error, not a silently different state.
func TestReplayChecksAsks(t *testing.T) {
	spec, err := ParseSpec([]byte(testSpace + "strategy: random\nseed: 1\nmax_trials: 10\nevaluator: {type: table, table: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := nas.New(spec.Config)
	if err != nil {
		t.Fatal(err)
	}
	good := `{"v":1,"ask":2,"asked":["t000000/1","t000001/1"]}`
	if err := replay("x", s, 0, []string{good}); err != nil {
		t.Fatal(err)
	}
	bad := `{"v":2,"ask":1,"asked":["t000009/1"]}`
	if err := replay("x", s, 1, []string{bad}); err == nil {
		t.Fatal("a replay that asked other trials passed")
	}
	if err := replay("x", s, 5, []string{good}); err == nil {
		t.Fatal("an entry of the wrong version passed")
	}
}

// TestSpecCache: Spec keeps a sweep's spec, but not across a sweep that
// expired and was created again under the same id.
func TestSpecCache(t *testing.T) {
	rc := newRedis(t)
	ctx := context.Background()
	ctl := New(rc, time.Hour, tasks.Defaults{})
	defer ctl.Close()
	start := func(name string) {
		t.Helper()
		spec, err := ParseSpec([]byte(testSpace + "id: again\nname: " + name + "\nstrategy: random\nmax_trials: 3\nevaluator: {type: table, table: x}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctl.Start(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	start("first")
	firstAt := time.Now() // not before the first sweep's creation time
	for range 2 {
		if s, st, err := ctl.Spec(ctx, "again"); err != nil || s.Name != "first" || st != rdb.SweepRunning {
			t.Fatalf("Spec = %+v, %q, %v", s, st, err)
		}
	}
	if err := ctl.Cancel(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if _, st, _ := ctl.Spec(ctx, "again"); st != rdb.SweepCancelled {
		t.Fatalf("status %q after Cancel", st)
	}
	if err := rc.Del(ctx, rdb.SweepKey("again")).Err(); err != nil { // as if it expired
		t.Fatal(err)
	}
	if _, _, err := ctl.Spec(ctx, "again"); !errors.Is(err, rdb.ErrNoSweep) {
		t.Fatalf("Spec of an expired sweep: %v", err)
	}
	testwait.Eventually(t, time.Second, func() bool { return time.Now().UnixMilli() > firstAt.UnixMilli() },
		"the clock did not move on: the second sweep needs a later creation time (ms)")
	start("second")
	if s, _, err := ctl.Spec(ctx, "again"); err != nil || s.Name != "second" {
		t.Fatalf("Spec after re-creation = %+v, %v", s, err)
	}
}

// newRedis starts a redis-server for t and returns a client of it, closed
// when t ends.
func newRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	srv := redistest.Start(t)
	rc, err := rdb.Open(configs.Redis{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}
