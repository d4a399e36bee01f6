package nas_test

import (
	"fmt"

	"github.com/compressq/compressq/compress/nas"
)

// A sweep step as a queue worker runs it: restore the strategy, tell it the
// results that arrived, ask for more, save it again.
func Example() {
	space, err := nas.ParseSpace([]byte(`
dense: {depth: [1, 2], widths: [16, 32, 64]}
compression: {weight_bits: [8, 32]}
constraints: {max_params: 60000}
`))
	if err != nil {
		panic(err)
	}
	s, err := nas.New(nas.Config{Strategy: nas.StrategyEvolution, Space: space, Seed: 1, MaxTrials: 10, Population: 4, Sample: 2})
	if err != nil {
		panic(err)
	}
	state, _ := nas.Save(s)
	for step := 0; ; step++ {
		s, err := nas.Load(state)
		if err != nil {
			panic(err)
		}
		trials, err := s.Ask(3)
		if err != nil {
			panic(err)
		}
		var results []nas.Result
		for _, t := range trials {
			// A stand-in for training: wider first layers score higher.
			acc := float64(t.Candidate.Genome.Dense[0]) / 100
			results = append(results, nas.Result{ID: t.ID, Attempt: t.Attempt, Objectives: nas.Objectives{Accuracy: acc, Params: t.Candidate.Params}})
		}
		if err := s.Tell(results...); err != nil {
			panic(err)
		}
		if state, err = nas.Save(s); err != nil {
			panic(err)
		}
		if p := s.Progress(); p.Done {
			front, _ := nas.ParetoFront(p.Records, []string{nas.ObjectiveAccuracy, nas.ObjectiveParams})
			fmt.Printf("%d trials in %d steps, %d on the accuracy/params front\n", p.Completed, step+1, len(front))
			return
		}
	}
	// Output:
	// 10 trials in 4 steps, 5 on the accuracy/params front
}
