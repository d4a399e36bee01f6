package nas

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestCMAESBeatsRandom compares the best loss after 100 trials, over 10
// seeds, of CMA-ES and random search on the synthetic objective (four
// numeric parameters CMA-ES adapts, the optimizer drawn uniformly), and
// asks CMA-ES's mean to be below half of random's, and its step size to
// have shrunk from 1/6 as the distribution closed in.
func TestCMAESBeatsRandom(t *testing.T) {
	const seeds, trials = 10, 100
	var cma, rnd []float64
	for seed := range int64(seeds) {
		best, end := bestLoss(t, StrategyCMAES, seed, trials)
		c := end.(*CMAES)
		if c.Generation < trials/c.Popsize-1 || c.Sigma >= 1.0/6 {
			t.Errorf("seed %d: %d generations of %d, σ %.3f", seed, c.Generation, c.Popsize, c.Sigma)
		}
		r, _ := bestLoss(t, StrategyRandom, seed, trials)
		cma, rnd = append(cma, best), append(rnd, r)
	}
	mc, mr := mean(cma), mean(rnd)
	t.Logf("best loss after %d trials over %d seeds: cmaes mean %.4f (min %.4f max %.4f), random mean %.4f (min %.4f max %.4f)",
		trials, seeds, mc, slices.Min(cma), slices.Max(cma), mr, slices.Min(rnd), slices.Max(rnd))
	if mc > 0.5*mr {
		t.Errorf("cmaes mean %.4f, random mean %.4f: cmaes should be below half of random's", mc, mr)
	}
}

// TestCMAESDeterministic: a seed fixes CMA-ES's trials, another seed
// changes them, and saving and loading before every ask (the sweep's
// snapshot and replay) gives the same trials as an uninterrupted run, with
// several trials asked at once.
func TestCMAESDeterministic(t *testing.T) {
	space, err := ParseSpace([]byte(synthSpace))
	if err != nil {
		t.Fatal(err)
	}
	seq := func(seed int64, restart bool) string {
		s, err := New(Config{Strategy: StrategyCMAES, Space: space, Seed: seed, MaxTrials: 40})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		trials, _ := runSweep(t, s, 3, restart, synthEval)
		for _, tr := range trials {
			b.WriteString(tr.ID + " " + string(tr.Candidate.Values.encode()) + "\n")
		}
		return b.String()
	}
	a := seq(7, false)
	if strings.Count(a, "\n") != 40 {
		t.Fatalf("%d trials, want 40", strings.Count(a, "\n"))
	}
	if b := seq(7, false); a != b {
		t.Error("same seed, different trials")
	}
	if b := seq(7, true); a != b {
		t.Errorf("restarted run differs from the uninterrupted one:\n%s\n%s", a, b)
	}
	if b := seq(8, false); a == b {
		t.Error("seeds 7 and 8 gave the same trials")
	}
}

// TestCMAESConfig: CMA-ES optimises one objective and needs a numeric
// parameter active in every candidate (the built-in space has none); a
// conditional numeric parameter is drawn uniformly, and only when active.
func TestCMAESConfig(t *testing.T) {
	cat, err := ParseSpace([]byte("params:\n  optimizer: {type: categorical, choices: [sgd, adam]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Strategy: StrategyCMAES, Space: cat, MaxTrials: 5}, "no int, float or log parameter"},
		{Config{Strategy: StrategyCMAES, Space: testSpace(), MaxTrials: 5}, "no int, float or log parameter"},
		{Config{Strategy: StrategyCMAES, Space: cat, MaxTrials: 5, Objectives: []string{ObjectiveAccuracy, ObjectiveBytes}}, "objectives"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	cond, err := ParseSpace([]byte(`
params:
  lr: {type: log, low: 1e-4, high: 1}
  dense_width: {type: int, low: 16, high: 256, step: 16}
  optimizer: {type: categorical, choices: [sgd, adam]}
  momentum: {type: float, low: 0.5, high: 0.99, when: {optimizer: [sgd]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Strategy: StrategyCMAES, Space: cond, Seed: 1, MaxTrials: 30})
	if err != nil {
		t.Fatal(err)
	}
	if dims := s.(*CMAES).Dims; !slices.Equal(dims, []string{"dense_width", "lr"}) {
		t.Errorf("dims %v, want [dense_width lr]", dims)
	}
	trials, _ := runSweep(t, s, 4, true, func(tr Trial) Result {
		return Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: Objectives{Accuracy: tr.Candidate.Values["dense_width"].(float64) / 256}}
	})
	if len(trials) != 30 {
		t.Errorf("%d trials, want 30", len(trials))
	}
	for _, tr := range trials {
		v := tr.Candidate.Values
		if _, ok := v["momentum"]; ok != (v["optimizer"] == "sgd") {
			t.Errorf("trial %s: %v (momentum only with sgd)", tr.ID, v)
		}
		if w := v["dense_width"].(float64); w < 16 || w > 256 || math.Mod(w, 16) != 0 {
			t.Errorf("trial %s: width %v off the grid", tr.ID, w)
		}
	}
}
