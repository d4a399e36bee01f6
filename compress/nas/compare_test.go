package nas

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
)

// compareEnv names the variable that runs TestMNISTTPEVersusRandom: 1 for
// the full comparison (600 trainings of MNIST candidates, about six minutes
// on two cores), another number for that many trials per run.
const compareEnv = "COMPRESSQ_SAMPLER_COMPARE"

// TestMNISTTPEVersusRandom compares TPE (two objectives, accuracy and
// stored bytes: MOTPE) with random search on the built-in genome plus the
// learning rate and weight decay, with the same real evaluator (one epoch
// of training on 12,000 MNIST images, accuracy on 2,000 test images), 100
// trials each, seeds 1–3. It reports each run's best accuracy and the
// hypervolume of its accuracy × bytes front (bytes normalised by the
// space's 150,000-byte constraint, reference point accuracy 0 and the
// constraint), and their means; it asserts only that every trial ran.
//
//	COMPRESSQ_SAMPLER_COMPARE=1 go test ./compress/nas -run TestMNISTTPEVersusRandom -v -timeout 2h
func TestMNISTTPEVersusRandom(t *testing.T) {
	if os.Getenv(compareEnv) == "" {
		t.Skipf("set %s=1 to run the sampler comparison (600 MNIST trainings)", compareEnv)
	}
	sets, err := mnist()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/builtin-space.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(raw), "params:\n", "params:\n  lr:              {type: log, low: 0.003, high: 0.3}\n  weight_decay:    {type: log, low: 0.000001, high: 0.01}\n", 1)
	space, err := ParseSpace([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	trials, maxBytes := 100, 150000
	if n := os.Getenv(compareEnv); n != "1" {
		fmt.Sscan(n, &trials)
	}
	train, test := sets[0].Subset(12000), sets[1].Subset(2000)
	type run struct {
		best, hv float64
	}
	results := map[string][]run{}
	for _, strategy := range []string{StrategyRandom, StrategyTPE} {
		for seed := int64(1); seed <= 3; seed++ {
			cfg := Config{Strategy: strategy, Space: space, Seed: seed, MaxTrials: trials}
			if strategy == StrategyTPE {
				cfg.Objectives = []string{ObjectiveAccuracy, ObjectiveBytes}
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			e := &Trainer{Space: space, Train: train, Test: test,
				Config: nn.TrainConfig{LR: 0.05, Momentum: 0.9, Schedule: "cosine", BatchSize: 64, Seed: seed}, LatencyRuns: 1, CalibImages: 64}
			var objs []Objectives
			asked, _ := runSweep(t, s, 1, false, func(tr Trial) Result {
				o, err := e.Evaluate(context.Background(), tr)
				if err != nil {
					t.Fatalf("%s seed %d trial %s: %v", strategy, seed, tr.ID, err)
				}
				objs = append(objs, o)
				return Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: o}
			})
			if len(asked) != trials || len(objs) != trials {
				t.Fatalf("%s seed %d: %d trials asked, %d evaluated, want %d", strategy, seed, len(asked), len(objs), trials)
			}
			r := run{hv: hypervolume2(objs, maxBytes)}
			for _, o := range objs {
				r.best = max(r.best, o.Accuracy)
			}
			results[strategy] = append(results[strategy], r)
			t.Logf("%-6s seed %d: best accuracy %.4f, front hypervolume %.4f", strategy, seed, r.best, r.hv)
		}
	}
	for _, strategy := range []string{StrategyRandom, StrategyTPE} {
		var b, h float64
		for _, r := range results[strategy] {
			b += r.best / 3
			h += r.hv / 3
		}
		t.Logf("%-6s mean: best accuracy %.4f, front hypervolume %.4f", strategy, b, h)
	}
}

// hypervolume2 is the area that the trials' (accuracy, bytes) points
// dominate, maximising accuracy and minimising bytes/maxBytes, bounded by
// accuracy 0 and bytes = maxBytes; points at or over maxBytes add nothing.
func hypervolume2(objs []Objectives, maxBytes int) float64 {
	pts := slices.Clone(objs)
	slices.SortFunc(pts, func(a, b Objectives) int { return a.Bytes - b.Bytes })
	var area, bestAcc float64
	for i, p := range pts {
		if p.Bytes >= maxBytes {
			break
		}
		bestAcc = max(bestAcc, p.Accuracy)
		next := maxBytes
		if i+1 < len(pts) {
			next = min(pts[i+1].Bytes, maxBytes)
		}
		area += bestAcc * float64(next-p.Bytes) / float64(maxBytes)
	}
	return area
}

// TestHypervolume2 checks the front area on a small hand-computed case: a
// dominated point adds nothing and a point past the bound is ignored.
func TestHypervolume2(t *testing.T) {
	objs := []Objectives{{Accuracy: 0.5, Bytes: 0}, {Accuracy: 0.9, Bytes: 50}, {Accuracy: 0.4, Bytes: 60}, {Accuracy: 1, Bytes: 150}}
	// [0, 50): 0.5; [50, 100): 0.9 (the 60-byte point is dominated).
	want := (0.5*50 + 0.9*50) / 100
	if got := hypervolume2(objs, 100); fmt.Sprintf("%.9f", got) != fmt.Sprintf("%.9f", want) {
		t.Fatalf("hypervolume2 = %v, want %v", got, want)
	}
}
