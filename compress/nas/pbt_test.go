package nas

import (
	"math"
	"strings"
	"testing"
)

const pbtSpace = `
params:
  lr: {type: log, low: 1e-4, high: 1}
  momentum: {type: float, low: 0.5, high: 0.99}
  dense_width: {type: categorical, choices: [32, 64]}
`

// pbtEval scores a trial by how close its lr is to 10^-1.5, plus a little
// for each epoch trained: exploiting better members pays.
func pbtEval(tr Trial) Result {
	d := math.Abs(math.Log10(tr.Candidate.Values["lr"].(float64)) + 1.5)
	return Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: Objectives{Accuracy: 1 - d/4 + 0.001*float64(tr.Epochs)}}
}

// TestPBTGenerations: a population of 8 over 4 generations of 2 epochs.
// Every generation's trials continue from the previous generation's
// (their own member's, or for the bottom quarter a top-quarter member's
// with lr and momentum explored) within one 8-epoch run, release the
// checkpoints of two generations back, and the population's best lr
// closes in on the optimum; a saved and reloaded run asks the same trials.
func TestPBTGenerations(t *testing.T) {
	space, err := ParseSpace([]byte(pbtSpace))
	if err != nil {
		t.Fatal(err)
	}
	seq := func(restart bool) ([]Trial, *PBT) {
		s, err := New(Config{Strategy: StrategyPBT, Space: space, Seed: 4, MaxTrials: 32, Population: 8, Epochs: 2})
		if err != nil {
			t.Fatal(err)
		}
		trials, end := runSweep(t, s, 3, restart, pbtEval)
		return trials, end.(*PBT)
	}
	trials, s := seq(false)
	if len(trials) != 32 || len(s.Members) != 4 || !s.Progress().Done {
		t.Fatalf("%d trials, %d generations, done %v; want 32, 4, true", len(trials), len(s.Members), s.Progress().Done)
	}
	gen := map[string]int{}
	byID := map[string]Trial{}
	for g, ms := range s.Members {
		for _, i := range ms {
			gen[s.Records[i].Trial.ID] = g
			byID[s.Records[i].Trial.ID] = s.Records[i].Trial
		}
	}
	exploits := 0
	for g, ms := range s.Members {
		for m, i := range ms {
			tr := s.Records[i].Trial
			if tr.Epochs != 2*(g+1) || tr.Horizon != 8 {
				t.Errorf("generation %d member %d: epochs %d horizon %d", g, m, tr.Epochs, tr.Horizon)
			}
			if g == 0 {
				if tr.From != "" || tr.Release != nil {
					t.Errorf("generation 0 trial %s from %q release %v", tr.ID, tr.From, tr.Release)
				}
				continue
			}
			if gen[tr.From] != g-1 || tr.From == "" {
				t.Errorf("trial %s of generation %d continues %q", tr.ID, g, tr.From)
			}
			own := s.Records[s.Members[g-1][m]].Trial
			if tr.From != own.ID {
				exploits++
				src := byID[tr.From]
				if tr.Candidate.Values["dense_width"] != src.Candidate.Values["dense_width"] {
					t.Errorf("trial %s exploits %s but not its architecture", tr.ID, src.ID)
				}
				r := tr.Candidate.Values["lr"].(float64) / src.Candidate.Values["lr"].(float64)
				if tr.Candidate.Hash == src.Candidate.Hash && r == 1 && tr.Candidate.Values["momentum"] == src.Candidate.Values["momentum"] {
					t.Errorf("trial %s exploits %s without exploring", tr.ID, src.ID)
				}
				if pbtEval(byID[src.ID]).Objectives.Accuracy < pbtEval(own).Objectives.Accuracy {
					t.Errorf("trial %s left its member's %s for the worse %s", tr.ID, own.ID, src.ID)
				}
			} else if tr.Candidate.Hash != own.Candidate.Hash {
				t.Errorf("trial %s continues its own member but changed its candidate", tr.ID)
			}
			if g >= 2 && (len(tr.Release) != 1 || tr.Release[0] != s.Records[s.Members[g-2][m]].Trial.ID) {
				t.Errorf("trial %s of generation %d releases %v", tr.ID, g, tr.Release)
			}
		}
	}
	if exploits != 3*2 {
		t.Errorf("%d exploits, want 2 per generation after the first", exploits)
	}
	best := func(g int) float64 {
		b := math.Inf(1)
		for _, i := range s.Members[g] {
			b = math.Min(b, math.Abs(math.Log10(s.Records[i].Trial.Candidate.Values["lr"].(float64))+1.5))
		}
		return b
	}
	if best(3) > best(0) {
		t.Errorf("best lr distance %.3f in the last generation, %.3f in the first", best(3), best(0))
	}
	again, _ := seq(true)
	for i := range trials {
		if trials[i].ID != again[i].ID || trials[i].Candidate.Hash != again[i].Candidate.Hash || trials[i].From != again[i].From {
			t.Fatalf("restarted run differs at %d: %+v, %+v", i, trials[i], again[i])
		}
	}
}

// TestPBTNeedsExplorableParams: PBT explores lr, weight_decay or momentum,
// so a space without them is refused at start.
func TestPBTNeedsExplorableParams(t *testing.T) {
	for _, sp := range []Space{testSpace()} {
		if _, err := New(Config{Strategy: StrategyPBT, Space: sp, MaxTrials: 16}); err == nil || !strings.Contains(err.Error(), "nothing to explore") {
			t.Errorf("New(pbt, built-in space) = %v", err)
		}
	}
}
