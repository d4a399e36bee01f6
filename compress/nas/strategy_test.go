package nas

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// testSpace has 21 conv × 12 dense × 12 compression = 3,024 genomes, all
// feasible on 28×28 inputs.
func testSpace() Space {
	return Space{
		Input:       []int{1, 28, 28},
		Classes:     10,
		Conv:        ConvSpace{Depth: []int{0, 1, 2}, Channels: []int{4, 8}, Kernels: []int{3, 5}},
		Dense:       DenseSpace{Depth: []int{1, 2}, Widths: []int{16, 32, 64}},
		Activations: []string{"relu"},
		Compression: CompressionSpace{Sparsity: []float64{0, 0.5, 0.9}, WeightBits: []int{8, 32}, KMeansBits: []int{0, 4}},
	}
}

// target is the optimum of the synthetic landscape in testSpace's encoding:
// two conv blocks (8 ch 3×3, 8 ch 5×5), dense 64-32, sparsity 0.5, int8,
// k-means 4 bits.
var target = Genes{2, 1, 1, 0, 1, 1, 2, 1, 0, 1, 0, 1}

// landscape is a synthetic accuracy with its unique maximum at target: one
// minus the L1 distance of the canonical encodings, scaled; it grows with
// the epochs budget without changing the ranking.
func landscape(g Genes, epochs int) float64 {
	d := 0
	for i, v := range g {
		d += max(v-target[i], target[i]-v)
	}
	return (1 - float64(d)/30) * (1 - 1/float64(epochs+1))
}

// failing reports whether the synthetic evaluator fails a trial: a
// sixteenth of genomes always fail, another sixteenth on the first attempt.
func failing(t Trial) bool {
	switch t.Candidate.Hash[0] {
	case '0':
		return true
	case '1':
		return t.Attempt == 1
	}
	return false
}

func evaluate(t Trial) Result {
	if failing(t) {
		return Result{ID: t.ID, Attempt: t.Attempt, Err: "synthetic failure"}
	}
	return Result{ID: t.ID, Attempt: t.Attempt, Objectives: Objectives{
		Accuracy: landscape(t.Candidate.Genes, t.Epochs), Params: t.Candidate.Params, Bytes: t.Candidate.Bytes,
		LatencyFP32: float64(t.Candidate.Params) * 1e-9, TestImages: t.Candidate.Params % 3 * 1000}}
}

// queue simulates a task queue: trials asked go in flight, and each step
// delivers a random part of the flight, in random order.
type queue struct {
	r        *rand.Rand
	inflight []Trial
}

func newQueue(seed uint64) *queue { return &queue{r: rand.New(rand.NewPCG(seed, 7))} }

func (q *queue) step(t *testing.T, s Strategy, ask int) {
	t.Helper()
	ts, err := s.Ask(ask)
	if err != nil {
		t.Fatal(err)
	}
	q.inflight = append(q.inflight, ts...)
	q.r.Shuffle(len(q.inflight), func(i, j int) { q.inflight[i], q.inflight[j] = q.inflight[j], q.inflight[i] })
	n := (len(q.inflight) + 1) / 2
	var res []Result
	for _, tr := range q.inflight[:n] {
		res = append(res, evaluate(tr))
	}
	q.inflight = q.inflight[n:]
	if err := s.Tell(res...); err != nil {
		t.Fatal(err)
	}
}

func configs() []Config {
	sp := testSpace()
	return []Config{
		{Strategy: StrategyRandom, Space: sp, Seed: 3, MaxTrials: 60},
		{Strategy: StrategyGrid, Space: sp, Seed: 3, MaxTrials: 60},
		{Strategy: StrategyEvolution, Space: sp, Seed: 3, MaxTrials: 80, Population: 10, Sample: 3},
		{Strategy: StrategyASHA, Space: sp, Seed: 3, MaxTrials: 27, MinEpochs: 1, MaxEpochs: 9, Eta: 3},
		{Strategy: StrategyASHA, Space: sp, Seed: 3, MaxTrials: 27, MinEpochs: 1, MaxEpochs: 9, Eta: 3, Sync: true},
		{Strategy: StrategyNSGA2, Space: sp, Seed: 3, MaxTrials: 80, Population: 10},
	}
}

func mustNew(t *testing.T, cfg Config) Strategy {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func save(t *testing.T, s Strategy) []byte {
	t.Helper()
	b, err := Save(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumeEqualsUninterrupted runs every strategy through a simulated
// queue with out-of-order results and failures, once straight through and
// once saved to JSON and restored after k steps (for several k), and
// requires identical final states byte for byte.
func TestResumeEqualsUninterrupted(t *testing.T) {
	const steps, ask = 60, 4
	for _, cfg := range configs() {
		t.Run(fmt.Sprintf("%s-sync=%v", cfg.Strategy, cfg.Sync), func(t *testing.T) {
			a, q := mustNew(t, cfg), newQueue(11)
			for range steps {
				q.step(t, a, ask)
			}
			want := save(t, a)
			p := a.Progress()
			if p.Completed < 20 || p.Failed == 0 {
				t.Fatalf("weak run: %d completed, %d failed", p.Completed, p.Failed)
			}
			for _, k := range []int{1, 7, 23} {
				b, q := mustNew(t, cfg), newQueue(11)
				for i := range steps {
					if i == k {
						var err error
						if b, err = Load(save(t, b)); err != nil {
							t.Fatal(err)
						}
					}
					q.step(t, b, ask)
				}
				if got := save(t, b); !bytes.Equal(got, want) {
					t.Errorf("resumed after %d steps: state differs from the uninterrupted run", k)
				}
			}
		})
	}
}

// TestRetries checks that a failing trial is asked again with the next
// attempt number up to MaxAttempts, then recorded as failed, and that stale
// and repeated results are ignored.
func TestRetries(t *testing.T) {
	s := mustNew(t, Config{Strategy: StrategyRandom, Space: testSpace(), MaxTrials: 1, MaxAttempts: 3})
	ts, err := s.Ask(5)
	if err != nil || len(ts) != 1 {
		t.Fatalf("ask: %v, %d trials", err, len(ts))
	}
	id := ts[0].ID
	for attempt := 1; attempt <= 3; attempt++ {
		if ts[0].Attempt != attempt || ts[0].ID != id {
			t.Fatalf("attempt %d: got trial %s attempt %d", attempt, ts[0].ID, ts[0].Attempt)
		}
		if err := s.Tell(Result{ID: id, Attempt: attempt, Err: "boom"}); err != nil {
			t.Fatal(err)
		}
		// A repeated delivery of the same failure changes nothing.
		if err := s.Tell(Result{ID: id, Attempt: attempt, Err: "boom"}); err != nil {
			t.Fatal(err)
		}
		if ts, err = s.Ask(5); err != nil {
			t.Fatal(err)
		}
	}
	if len(ts) != 0 {
		t.Fatalf("asked %v after the last attempt", ts)
	}
	p := s.Progress()
	if !p.Done || p.Failed != 1 || len(p.Records[0].Errors) != 3 {
		t.Fatalf("progress %+v, want done with one failed trial and 3 errors", p)
	}
	if err := s.Tell(Result{ID: "t000099", Attempt: 1}); err == nil {
		t.Error("result for an unknown trial: no error")
	}
}

// TestGridEnumeratesOnce checks that grid asks for every genome of the
// space exactly once and then reports done.
func TestGridEnumeratesOnce(t *testing.T) {
	s := mustNew(t, Config{Strategy: StrategyGrid, Space: testSpace(), MaxTrials: 1 << 20})
	seen := map[string]bool{}
	for {
		ts, err := s.Ask(100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) == 0 {
			break
		}
		var res []Result
		for _, tr := range ts {
			if seen[tr.Candidate.Hash] {
				t.Fatalf("genome %s asked twice", tr.Candidate.Hash)
			}
			seen[tr.Candidate.Hash] = true
			res = append(res, Result{ID: tr.ID, Attempt: 1})
		}
		if err := s.Tell(res...); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 3024 || !s.Progress().Done {
		t.Fatalf("grid asked %d genomes (want 3024), done %v", len(seen), s.Progress().Done)
	}
}

// evaluationsToOptimum runs a strategy one trial at a time until the
// landscape's optimum has been evaluated and returns the evaluations used
// (failures are off for this comparison).
func evaluationsToOptimum(t *testing.T, cfg Config) int {
	t.Helper()
	s := mustNew(t, cfg)
	for {
		ts, err := s.Ask(1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) == 0 {
			t.Fatalf("%s seed %d: stopped after %d trials without the optimum", cfg.Strategy, cfg.Seed, len(s.Progress().Records))
		}
		tr := ts[0]
		if slices.Equal(tr.Candidate.Genes, target) {
			n, err := TrialIndex(tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			return n + 1
		}
		if err := s.Tell(Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: Objectives{Accuracy: landscape(tr.Candidate.Genes, 1)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEvolutionBeatsRandom compares the mean number of evaluations
// regularized evolution (P 20, S 5) and random search need to evaluate the
// optimum of the synthetic landscape over 20 seeds, and requires evolution
// to need fewer.
func TestEvolutionBeatsRandom(t *testing.T) {
	var evo, rnd float64
	const seeds = 20
	for seed := range int64(seeds) {
		evo += float64(evaluationsToOptimum(t, Config{Strategy: StrategyEvolution, Space: testSpace(), Seed: seed, MaxTrials: 3024, Population: 20, Sample: 5}))
		rnd += float64(evaluationsToOptimum(t, Config{Strategy: StrategyRandom, Space: testSpace(), Seed: seed, MaxTrials: 3024}))
	}
	evo, rnd = evo/seeds, rnd/seeds
	t.Logf("mean evaluations to the optimum over %d seeds: evolution %.1f, random %.1f (space 3024)", seeds, evo, rnd)
	if !(evo < rnd) {
		t.Errorf("evolution %.1f evaluations, random %.1f: evolution not better", evo, rnd)
	}
}

// TestCountsMatchProgress checks the incrementally kept Counts against the
// records at every step of every strategy, with failures and retries, and
// on a strategy restored from JSON mid-run.
func TestCountsMatchProgress(t *testing.T) {
	check := func(t *testing.T, s Strategy, step int) {
		t.Helper()
		p, c := s.Progress(), s.Counts()
		want := Counts{Done: p.Done, Trials: len(p.Records)}
		for _, r := range p.Records {
			switch r.Status {
			case StatusPending, StatusRetry:
				want.Pending++
			case StatusDone:
				want.Completed++
			case StatusFailed:
				want.Failed++
			}
		}
		if c != want {
			t.Fatalf("step %d: Counts %+v, records say %+v", step, c, want)
		}
	}
	for _, cfg := range configs() {
		t.Run(fmt.Sprintf("%s-sync=%v", cfg.Strategy, cfg.Sync), func(t *testing.T) {
			s, q := mustNew(t, cfg), newQueue(5)
			var failed int
			for step := 0; step < 200 && !s.Counts().Done; step++ {
				q.step(t, s, 4)
				check(t, s, step)
				failed = s.Counts().Failed
				if step == 10 {
					r, err := Load(save(t, s))
					if err != nil {
						t.Fatal(err)
					}
					check(t, r, step)
					s = r
				}
			}
			if !s.Counts().Done || failed == 0 {
				t.Fatalf("weak run: done %v, %d failed", s.Counts().Done, failed)
			}
		})
	}
}
