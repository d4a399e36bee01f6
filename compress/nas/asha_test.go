package nas

import (
	"math/rand/v2"
	"testing"
)

// drain runs s through an out-of-order queue without failures until it is
// done.
func drain(t *testing.T, s Strategy, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var inflight []Trial
	for step := 0; !s.Progress().Done; step++ {
		if step > 10000 {
			t.Fatal("strategy never finished")
		}
		ts, err := s.Ask(1 + r.IntN(6))
		if err != nil {
			t.Fatal(err)
		}
		inflight = append(inflight, ts...)
		r.Shuffle(len(inflight), func(i, j int) { inflight[i], inflight[j] = inflight[j], inflight[i] })
		n := min(len(inflight), 1+r.IntN(4))
		var res []Result
		for _, tr := range inflight[:n] {
			res = append(res, Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: Objectives{Accuracy: landscape(tr.Candidate.Genes, tr.Epochs)}})
		}
		inflight = inflight[n:]
		if err := s.Tell(res...); err != nil {
			t.Fatal(err)
		}
	}
}

// checkTopPromoted requires every trial promoted from rung k to be at least
// as accurate as every trial of rung k that was not (ties allowed either
// way).
func checkTopPromoted(t *testing.T, s *ASHA, k int) {
	t.Helper()
	promoted := map[int]bool{}
	for _, i := range s.Promoted[k] {
		promoted[i] = true
	}
	for _, i := range s.Promoted[k] {
		for _, j := range s.Rungs[k] {
			if !promoted[j] && s.accuracy(j) > s.accuracy(i) {
				t.Errorf("rung %d: promoted %s (%.4f) over %s (%.4f)", k, s.Records[i].Trial.ID, s.accuracy(i), s.Records[j].Trial.ID, s.accuracy(j))
			}
		}
	}
}

// TestASHASyncPromotesTopFraction runs synchronous successive halving with
// 81 configurations, η = 3 and rungs of 1, 3, 9 and 27 epochs: the rungs must
// hold exactly 81, 27, 9 and 3 trials, each rung's promotions must be its
// most accurate third, and every trial must run at its rung's epochs.
func TestASHASyncPromotesTopFraction(t *testing.T) {
	st := mustNew(t, Config{Strategy: StrategyASHA, Space: testSpace(), Seed: 5, MaxTrials: 81, MinEpochs: 1, MaxEpochs: 27, Eta: 3, Sync: true})
	drain(t, st, 9)
	s := st.(*ASHA)
	want := []int{81, 27, 9, 3}
	if len(s.Rungs) != len(want) {
		t.Fatalf("%d rungs, want %d (budgets %v)", len(s.Rungs), len(want), s.Budgets)
	}
	for k, n := range want {
		if len(s.Rungs[k]) != n {
			t.Errorf("rung %d: %d trials, want %d", k, len(s.Rungs[k]), n)
		}
		for _, i := range s.Rungs[k] {
			if e := s.Records[i].Trial.Epochs; e != s.Budgets[k] {
				t.Errorf("rung %d trial at %d epochs, want %d", k, e, s.Budgets[k])
			}
		}
		if k < len(want)-1 {
			if len(s.Promoted[k]) != n/3 {
				t.Errorf("rung %d: %d promoted, want %d", k, len(s.Promoted[k]), n/3)
			}
			checkTopPromoted(t, s, k)
		}
	}
}

// TestASHAAsyncPromotion checks the asynchronous rule on a sequential run
// with η = 2 and two rungs: nothing is promoted while ⌊n/η⌋ = 0; the second
// result makes the better of the first two trials the next one asked; and
// when the run ends every rung has promoted at least ⌊n_k/η⌋ trials,
// including its final top ⌊n_k/η⌋.
func TestASHAAsyncPromotion(t *testing.T) {
	st := mustNew(t, Config{Strategy: StrategyASHA, Space: testSpace(), Seed: 1, MaxTrials: 40, MinEpochs: 1, MaxEpochs: 2, Eta: 2})
	tell := func(tr Trial) {
		if err := st.Tell(Result{ID: tr.ID, Attempt: 1, Objectives: Objectives{Accuracy: landscape(tr.Candidate.Genes, tr.Epochs)}}); err != nil {
			t.Fatal(err)
		}
	}
	ask1 := func() Trial {
		ts, err := st.Ask(1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("ask: %v, %d trials", err, len(ts))
		}
		return ts[0]
	}
	t0 := ask1()
	tell(t0)
	t1 := ask1()
	if t1.Epochs != 1 {
		t.Fatalf("second trial at %d epochs: promoted with one result", t1.Epochs)
	}
	tell(t1)
	t2 := ask1()
	best := t0
	if landscape(t1.Candidate.Genes, 1) > landscape(t0.Candidate.Genes, 1) {
		best = t1
	}
	if t2.Epochs != 2 || t2.Candidate.Hash != best.Candidate.Hash {
		t.Fatalf("third trial %s at %d epochs, want the better first trial %s promoted to 2 epochs", t2.Candidate.Hash, t2.Epochs, best.Candidate.Hash)
	}
	tell(t2)
	drain(t, st, 3)
	s := st.(*ASHA)
	n0 := len(s.Rungs[0])
	if n0 != 40 || len(s.Promoted[0]) < n0/2 || len(s.Rungs[1]) != len(s.Promoted[0]) {
		t.Fatalf("rung 0 has %d trials (want 40), %d promoted (want >= %d), rung 1 %d", n0, len(s.Promoted[0]), n0/2, len(s.Rungs[1]))
	}
	for _, i := range s.top(0) {
		found := false
		for _, j := range s.Promoted[0] {
			found = found || i == j
		}
		if !found {
			t.Errorf("final top trial %s not promoted", s.Records[i].Trial.ID)
		}
	}
	t.Logf("async: %d of %d promoted (⌊n/η⌋ = %d)", len(s.Promoted[0]), n0, n0/2)
}

// TestASHAPromotionsContinue: by default every ASHA trial is a cut of one
// run of the top rung's epochs and a promotion names the trial it
// continues (same candidate, the lower rung); asha.restart asks for
// promotions trained from the start.
func TestASHAPromotionsContinue(t *testing.T) {
	for _, restart := range []bool{false, true} {
		st := mustNew(t, Config{Strategy: StrategyASHA, Space: testSpace(), Seed: 5, MaxTrials: 27, MinEpochs: 1, MaxEpochs: 9, Eta: 3, Restart: restart})
		drain(t, st, 3)
		s := st.(*ASHA)
		ids := map[string]Trial{}
		for _, r := range s.Records {
			ids[r.Trial.ID] = r.Trial
		}
		promotions := 0
		for k := 1; k < len(s.Budgets); k++ {
			for n, i := range s.Rungs[k] {
				tr := s.Records[i].Trial
				parent := s.Records[s.Promoted[k-1][n]].Trial
				promotions++
				switch {
				case restart && (tr.From != "" || tr.Horizon != 0):
					t.Errorf("restart: trial %s from %q horizon %d", tr.ID, tr.From, tr.Horizon)
				case !restart && (tr.From != parent.ID || tr.Horizon != 9 || len(tr.Release) != 1 || tr.Release[0] != parent.ID):
					t.Errorf("trial %s at rung %d: from %q horizon %d release %v, want from and release %s, horizon 9",
						tr.ID, k, tr.From, tr.Horizon, tr.Release, parent.ID)
				case !restart && ids[tr.From].Candidate.Hash != tr.Candidate.Hash:
					t.Errorf("trial %s continues %s, another candidate", tr.ID, tr.From)
				}
			}
		}
		for _, i := range s.Rungs[0] {
			if tr := s.Records[i].Trial; tr.From != "" || tr.Horizon != map[bool]int{false: 9, true: 0}[restart] {
				t.Errorf("restart %v: rung 0 trial %s from %q horizon %d", restart, tr.ID, tr.From, tr.Horizon)
			}
		}
		if promotions == 0 {
			t.Fatalf("restart %v: no promotions", restart)
		}
	}
}
