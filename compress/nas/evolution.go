package nas

import (
	"errors"
	"slices"
)

// Evolution is regularized (aging) evolution, Real et al. 2019: the first P
// trials are random; afterwards each new trial mutates the most accurate of
// S population members drawn at random without replacement, and each
// completed trial joins the population while the oldest member leaves once
// there are more than P. A child equal to an already evaluated genome is not
// evaluated again: its recorded result joins the population directly. When
// maxDraws children in a row are known or infeasible, a random candidate is
// asked instead.
type Evolution struct {
	Book
	// P is the population size and S the tournament sample size.
	P int `json:"p"`
	S int `json:"s"`
	// Population holds record indices, oldest first.
	Population []int `json:"population"`
	// Initial counts the random trials of the first phase still standing
	// (failed ones are replaced).
	Initial int `json:"initial"`
}

// Ask implements Strategy.
func (s *Evolution) Ask(n int) ([]Trial, error) {
	out := s.retries(n)
	for len(out) < n && !s.Exhausted && s.evaluations() < s.MaxTrials {
		if s.Initial < s.P {
			c, err := s.Space.sample(&s.RNG, func(h string) bool { _, ok := s.known(h, s.Epochs); return ok })
			if errors.Is(err, ErrNoFeasible) {
				s.Exhausted = true
				break
			}
			if err != nil {
				return out, err
			}
			s.Initial++
			out = append(out, s.issue(c, s.Epochs))
			continue
		}
		if len(s.Population) == 0 {
			break // wait for the first results
		}
		t, ok, err := s.child()
		if err != nil {
			return out, err
		}
		if !ok { // the population's neighbourhood is exhausted: explore
			c, err := s.Space.sample(&s.RNG, func(h string) bool { _, ok := s.known(h, s.Epochs); return ok })
			if errors.Is(err, ErrNoFeasible) {
				s.Exhausted = true
				break
			}
			if err != nil {
				return out, err
			}
			t = s.issue(c, s.Epochs)
		}
		out = append(out, t)
	}
	return out, nil
}

// child draws a tournament, mutates its winner and issues the child. A
// child already evaluated joins the population from its record and another
// is drawn; ok is false when maxDraws children were all known or infeasible.
func (s *Evolution) child() (Trial, bool, error) {
	for range maxDraws {
		parent := s.tournament()
		g := s.Space.mutateGenes(&s.RNG, s.Records[parent].Trial.Candidate.Genes)
		gn, err := s.Space.Decode(g)
		if err != nil {
			return Trial{}, false, err
		}
		if i, ok := s.known(gn.Hash(), s.Epochs); ok {
			if s.Records[i].Status == StatusDone {
				s.join(i)
			}
			continue
		}
		c, err := s.Space.Candidate(g)
		if errors.Is(err, ErrInfeasible) {
			continue
		}
		if err != nil {
			return Trial{}, false, err
		}
		return s.issue(c, s.Epochs), true, nil
	}
	return Trial{}, false, nil
}

// tournament returns the most accurate of S members drawn without
// replacement (the earliest drawn on ties).
func (s *Evolution) tournament() int {
	pool := slices.Clone(s.Population)
	best := -1
	for k := range min(s.S, len(pool)) {
		j := k + s.RNG.intn(len(pool)-k)
		pool[k], pool[j] = pool[j], pool[k]
		if best < 0 || s.accuracy(pool[k]) > s.accuracy(best) {
			best = pool[k]
		}
	}
	return best
}

// join adds record i to the population, removing the oldest beyond P.
func (s *Evolution) join(i int) {
	s.Population = append(s.Population, i)
	if len(s.Population) > s.P {
		s.Population = s.Population[1:]
	}
}

// Tell implements Strategy.
func (s *Evolution) Tell(results ...Result) error {
	return s.tellAll(results, func(i int, status string) {
		switch status {
		case StatusDone:
			s.join(i)
		case StatusFailed:
			if len(s.Population) == 0 && s.Initial > 0 {
				s.Initial-- // replace a lost member of the first population
			}
		}
	})
}

// Progress implements Strategy.
func (s *Evolution) Progress() Progress { return s.progress(s.finished) }

// Counts implements Strategy.
func (s *Evolution) Counts() Counts { return s.counts(s.finished) }

func (s *Evolution) finished() bool { return s.Exhausted || s.evaluations() >= s.MaxTrials }
