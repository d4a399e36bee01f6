package nas

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// bruteFronts peels non-dominated sets by direct definition: front 0 is
// the points nothing dominates, front 1 the same after removing front 0...
func bruteFronts(pts [][]float64) [][]int {
	left := make([]int, len(pts))
	for i := range left {
		left[i] = i
	}
	var fronts [][]int
	for len(left) > 0 {
		var f, rest []int
		for _, p := range left {
			dominated := false
			for _, q := range left {
				dominated = dominated || Dominates(pts[q], pts[p])
			}
			if dominated {
				rest = append(rest, p)
			} else {
				f = append(f, p)
			}
		}
		fronts, left = append(fronts, f), rest
	}
	return fronts
}

// TestNonDominatedSort checks a hand-worked 2-D set (with a duplicate point,
// which dominates nothing) and random 3-D sets against the definition.
func TestNonDominatedSort(t *testing.T) {
	pts := [][]float64{{1, 5}, {2, 3}, {3, 1}, {2, 4}, {4, 4}, {3, 3}, {5, 5}, {2, 3}}
	want := [][]int{{0, 1, 2, 7}, {3, 5}, {4}, {6}}
	if got := NonDominatedSort(pts); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("fronts %v, want %v", got, want)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for trial := range 20 {
		pts := make([][]float64, 60)
		for i := range pts {
			pts[i] = []float64{float64(r.IntN(8)), float64(r.IntN(8)), r.Float64()}
		}
		if got, want := NonDominatedSort(pts), bruteFronts(pts); !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("set %d: fronts %v, want %v", trial, got, want)
		}
	}
}

// TestCrowdingDistance checks the hand-computed distances of a three-point
// front: boundaries infinite, the middle point 1 + 1 (normalised gaps).
func TestCrowdingDistance(t *testing.T) {
	pts := [][]float64{{1, 5}, {2, 3}, {3, 1}, {9, 9}}
	d := CrowdingDistance(pts, []int{0, 1, 2})
	if !math.IsInf(d[0], 1) || !math.IsInf(d[2], 1) || math.Abs(d[1]-2) > 1e-12 {
		t.Errorf("crowding %v, want [+Inf 2 +Inf]", d)
	}
}

// TestParetoFront checks front extraction from records: failed and pending
// records are ignored, accuracy is maximised and bytes minimised.
func TestParetoFront(t *testing.T) {
	rec := func(id string, acc float64, bytes int, status string) Record {
		r := Record{Trial: Trial{ID: id}, Status: status}
		if status == StatusDone {
			r.Objectives = &Objectives{Accuracy: acc, Bytes: bytes}
		}
		return r
	}
	records := []Record{
		rec("a", 0.99, 1000, StatusDone),
		rec("b", 0.98, 500, StatusDone),
		rec("c", 0.97, 600, StatusDone), // dominated by b
		rec("d", 0.90, 100, StatusDone),
		rec("e", 1.00, 1, StatusFailed),
		rec("f", 0.99, 2000, StatusDone), // dominated by a
	}
	front, err := ParetoFront(records, []string{ObjectiveAccuracy, ObjectiveBytes})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range front {
		ids = append(ids, r.Trial.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "d"}) {
		t.Errorf("front %v, want [a b d]", ids)
	}
	if _, err := ParetoFront(records, []string{"speed"}); err == nil {
		t.Error("unknown objective: no error")
	}
}

// TestNSGA2Elitism runs NSGA-II on the synthetic landscape (accuracy vs
// estimated bytes) and checks at every generation boundary that the parent
// population holds every non-dominated completed trial outside the
// current generation's children (its front is smaller than P here), and
// that the parents are P distinct completed trials.
func TestNSGA2Elitism(t *testing.T) {
	const p = 16
	st := mustNew(t, Config{Strategy: StrategyNSGA2, Space: testSpace(), Seed: 2, MaxTrials: 200, Population: p,
		Objectives: []string{ObjectiveAccuracy, ObjectiveBytes}})
	s := st.(*NSGA2)
	generations := 0
	for !s.Progress().Done {
		ts, err := s.Ask(5)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) == 0 {
			t.Fatal("nothing asked and nothing pending")
		}
		var res []Result
		for _, tr := range ts {
			res = append(res, Result{ID: tr.ID, Attempt: 1, Objectives: Objectives{
				Accuracy: landscape(tr.Candidate.Genes, 1), Bytes: tr.Candidate.Bytes}})
		}
		before, started := s.Generation, s.Started
		if err := s.Tell(res...); err != nil {
			t.Fatal(err)
		}
		if s.Generation == before && s.Started == started {
			continue // not a generation boundary
		}
		generations++
		var outside []Record
		for i, r := range s.Records {
			if !slices.Contains(s.Children, i) {
				outside = append(outside, r)
			}
		}
		front, err := ParetoFront(outside, s.Objectives)
		if err != nil {
			t.Fatal(err)
		}
		if len(front) > p {
			t.Fatalf("front of %d > P: test landscape too flat", len(front))
		}
		for _, r := range front {
			i, _ := TrialIndex(r.Trial.ID)
			if !slices.Contains(s.Parents, i) {
				t.Errorf("generation %d: non-dominated %s not among the parents", s.Generation, r.Trial.ID)
			}
		}
		if len(s.Parents) != p {
			t.Errorf("generation %d: %d parents, want %d", s.Generation, len(s.Parents), p)
		}
	}
	if generations < 5 {
		t.Errorf("only %d generations", generations)
	}
	t.Logf("%d generations, %d trials", s.Generation, len(s.Records))
}
