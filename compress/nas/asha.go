package nas

import (
	"errors"
	"slices"
)

// ASHA is asynchronous successive halving, Li et al. 2020, with training
// epochs as the fidelity. Rung k trains for MinEpochs·Eta^k epochs (the top
// rung for MaxEpochs at most). Whenever a worker needs a trial, ASHA looks
// from the highest rung down for a configuration among the top
// ⌊n_k/Eta⌋ of rung k's n_k trials (by accuracy) not yet promoted and
// promotes it to rung k+1; otherwise it starts a new random configuration at
// rung 0, up to MaxTrials of them. With Sync set it is synchronous
// successive halving: rung k promotes only once every configuration has
// been started and rung k is complete, so exactly the top ⌊n_k/Eta⌋ move up.
//
// With Continue set, every trial is a cut of one training run of the top
// rung's epochs (Trial.Horizon) and a promotion continues from the
// promoted trial's final checkpoint (Trial.From), training only the
// rung's extra epochs; without it (sweeps started before it existed, or
// asha.restart) a promotion trains from the start for the rung's epochs.
type ASHA struct {
	Book
	Eta      int  `json:"eta"`
	Sync     bool `json:"sync"`
	Continue bool `json:"continue,omitempty"`
	// Budgets holds each rung's epochs.
	Budgets []int `json:"budgets"`
	// Rungs holds each rung's record indices in the order asked, and
	// Promoted the record indices (of rung k) already promoted from it.
	Rungs    [][]int `json:"rungs"`
	Promoted [][]int `json:"promoted"`
}

func newASHA(b Book, minEpochs, maxEpochs, eta int, sync, restart bool) *ASHA {
	var budgets []int
	for r := minEpochs; r < maxEpochs; r *= eta {
		budgets = append(budgets, r)
	}
	budgets = append(budgets, maxEpochs)
	b.Epochs = minEpochs
	return &ASHA{Book: b, Eta: eta, Sync: sync, Continue: !restart, Budgets: budgets,
		Rungs: make([][]int, len(budgets)), Promoted: make([][]int, len(budgets))}
}

// Ask implements Strategy.
func (s *ASHA) Ask(n int) ([]Trial, error) {
	out := s.retries(n)
	for len(out) < n {
		if t, ok := s.promote(); ok {
			out = append(out, t)
			continue
		}
		if s.Exhausted || len(s.Rungs[0]) >= s.MaxTrials {
			break
		}
		c, err := s.Space.sample(&s.RNG, func(h string) bool { _, ok := s.known(h, s.Budgets[0]); return ok })
		if errors.Is(err, ErrNoFeasible) {
			s.Exhausted = true
			break
		}
		if err != nil {
			return out, err
		}
		t := s.issueRung(c, 0, "")
		s.Rungs[0] = append(s.Rungs[0], len(s.Records)-1)
		out = append(out, t)
	}
	return out, nil
}

// promote finds the highest rung with a promotable configuration and asks
// for it at the next rung.
func (s *ASHA) promote() (Trial, bool) {
	for k := len(s.Budgets) - 2; k >= 0; k-- {
		if s.Sync && !s.complete(k) {
			continue
		}
		for _, i := range s.top(k) {
			if slices.Contains(s.Promoted[k], i) {
				continue
			}
			s.Promoted[k] = append(s.Promoted[k], i)
			t := s.issueRung(s.Records[i].Trial.Candidate, k+1, s.Records[i].Trial.ID)
			s.Rungs[k+1] = append(s.Rungs[k+1], len(s.Records)-1)
			return t, true
		}
	}
	return Trial{}, false
}

// issueRung asks for candidate c at rung k; from is the trial of rung k-1
// it is promoted from.
func (s *ASHA) issueRung(c Candidate, k int, from string) Trial {
	if !s.Continue {
		return s.issue(c, s.Budgets[k])
	}
	var release []string
	if from != "" {
		release = []string{from} // promoted once
	}
	return s.issueCut(c, s.Budgets[k], s.Budgets[len(s.Budgets)-1], from, release)
}

// top returns the ⌊n_k/Eta⌋ most accurate completed trials of rung k, best
// first (earlier asked first on ties), where n_k counts every trial of the
// rung, finished or not.
func (s *ASHA) top(k int) []int {
	var done []int
	for _, i := range s.Rungs[k] {
		if s.Records[i].Status == StatusDone {
			done = append(done, i)
		}
	}
	slices.SortStableFunc(done, func(a, b int) int {
		switch x, y := s.accuracy(a), s.accuracy(b); {
		case x > y:
			return -1
		case x < y:
			return 1
		}
		return 0
	})
	return done[:min(len(done), len(s.Rungs[k])/s.Eta)]
}

// complete reports whether rung k can receive no more trials and all of its
// trials are settled.
func (s *ASHA) complete(k int) bool {
	if k == 0 {
		if len(s.Rungs[0]) < s.MaxTrials && !s.Exhausted {
			return false
		}
	} else if !s.complete(k-1) || len(s.Promoted[k-1]) < len(s.top(k-1)) {
		return false
	}
	for _, i := range s.Rungs[k] {
		if !s.settled(i) {
			return false
		}
	}
	return true
}

// Tell implements Strategy.
func (s *ASHA) Tell(results ...Result) error { return s.tellAll(results, nil) }

// Progress implements Strategy.
func (s *ASHA) Progress() Progress { return s.progress(s.finished) }

// Counts implements Strategy.
func (s *ASHA) Counts() Counts { return s.counts(s.finished) }

// finished reports whether every configuration was started and no rung can
// promote any more.
func (s *ASHA) finished() bool {
	done := s.Exhausted || len(s.Rungs[0]) >= s.MaxTrials
	for k := 0; done && k < len(s.Budgets)-1; k++ {
		for _, i := range s.top(k) {
			if !slices.Contains(s.Promoted[k], i) {
				done = false
			}
		}
	}
	return done
}
