package nas

import (
	"errors"
	"slices"
)

// NSGA2 is multi-objective search by NSGA-II selection, Deb et al. 2002,
// made steady for a queue: the first P trials are random; each later trial
// is a child of two parents picked by binary tournaments on (front rank,
// crowding distance) from the current parent population, by uniform
// crossover then one mutation. Once the P children of a generation have
// settled, parents and completed children are sorted into non-dominated
// fronts and the best P (by rank, then crowding distance) become the next
// parents. Objectives are named as in ObjectiveNames.
type NSGA2 struct {
	Book
	P          int      `json:"p"`
	Objectives []string `json:"objectives"`
	// Parents holds the parent population's record indices; Children the
	// current generation's.
	Parents  []int `json:"parents"`
	Children []int `json:"children"`
	// Initial counts the random trials of the first generation.
	Initial    int `json:"initial"`
	Generation int `json:"generation"`
	// Started says the first parent population has been selected.
	Started bool `json:"started"`
}

// Ask implements Strategy.
func (s *NSGA2) Ask(n int) ([]Trial, error) {
	out := s.retries(n)
	for len(out) < n && !s.Exhausted && s.evaluations() < s.MaxTrials {
		var c Candidate
		var err error
		switch {
		case s.Initial < s.P:
			c, err = s.Space.sample(&s.RNG, func(h string) bool { _, ok := s.known(h, s.Epochs); return ok })
			if err == nil {
				s.Initial++
			}
		case !s.Started, len(s.Children) >= s.P:
			return out, nil // wait for the generation to settle
		case len(s.Parents) == 0: // every trial so far failed: start afresh
			c, err = s.Space.sample(&s.RNG, func(h string) bool { _, ok := s.known(h, s.Epochs); return ok })
		default:
			c, err = s.offspring()
		}
		if errors.Is(err, ErrNoFeasible) {
			s.Exhausted = true
			break
		}
		if err != nil {
			return out, err
		}
		out = append(out, s.issue(c, s.Epochs))
		if s.Started {
			s.Children = append(s.Children, len(s.Records)-1)
		}
	}
	return out, nil
}

// offspring breeds a new, feasible, never asked child.
func (s *NSGA2) offspring() (Candidate, error) {
	rank, crowd := s.rankParents()
	pick := func() int {
		a, b := s.RNG.intn(len(s.Parents)), s.RNG.intn(len(s.Parents))
		if rank[b] < rank[a] || rank[b] == rank[a] && crowd[b] > crowd[a] {
			return s.Parents[b]
		}
		return s.Parents[a]
	}
	for range maxDraws {
		a, b := pick(), pick()
		g := s.Space.crossGenes(&s.RNG, s.Records[a].Trial.Candidate.Genes, s.Records[b].Trial.Candidate.Genes)
		g = s.Space.mutateGenes(&s.RNG, g)
		c, err := s.Space.Candidate(g)
		if errors.Is(err, ErrInfeasible) {
			continue
		}
		if err != nil {
			return Candidate{}, err
		}
		if _, ok := s.known(c.Hash, s.Epochs); ok {
			continue
		}
		return c, nil
	}
	return Candidate{}, ErrNoFeasible
}

// vectors returns the objective vectors of records idx.
func (s *NSGA2) vectors(idx []int) [][]float64 {
	pts := make([][]float64, len(idx))
	for k, i := range idx {
		v, err := ObjectiveVector(*s.Records[i].Objectives, s.Objectives)
		if err != nil {
			panic("nas: objectives validated by New: " + err.Error())
		}
		pts[k] = v
	}
	return pts
}

// rankParents returns each parent's front rank and crowding distance.
func (s *NSGA2) rankParents() (rank []int, crowd []float64) {
	pts := s.vectors(s.Parents)
	rank, crowd = make([]int, len(pts)), make([]float64, len(pts))
	for r, f := range NonDominatedSort(pts) {
		d := CrowdingDistance(pts, f)
		for k, i := range f {
			rank[i], crowd[i] = r, d[k]
		}
	}
	return rank, crowd
}

// Tell implements Strategy.
func (s *NSGA2) Tell(results ...Result) error {
	err := s.tellAll(results, nil)
	s.advance()
	return err
}

// advance forms the first parent population once the random trials have
// settled, and selects the next one once a generation's children have.
func (s *NSGA2) advance() {
	all := func(idx []int) bool {
		return !slices.ContainsFunc(idx, func(i int) bool { return !s.settled(i) })
	}
	if !s.Started {
		if s.Initial < s.P && !s.Exhausted {
			return
		}
		first := make([]int, 0, s.Initial)
		for i := range s.Records {
			first = append(first, i)
		}
		if !all(first) {
			return
		}
		s.Parents = s.select_(first, s.P)
		s.Started = true
		return
	}
	if len(s.Children) < s.P || !all(s.Children) {
		return
	}
	s.Parents = s.select_(append(slices.Clone(s.Parents), s.Children...), s.P)
	s.Children = nil
	s.Generation++
}

// select_ keeps the best p completed records of idx by front rank, then
// crowding distance (larger first), then record order.
func (s *NSGA2) select_(idx []int, p int) []int {
	var done []int
	for _, i := range idx {
		if s.Records[i].Status == StatusDone {
			done = append(done, i)
		}
	}
	pts := s.vectors(done)
	keep := []int{}
	for _, f := range NonDominatedSort(pts) {
		if len(keep)+len(f) <= p {
			for _, k := range f {
				keep = append(keep, done[k])
			}
			continue
		}
		d := CrowdingDistance(pts, f)
		order := make([]int, len(f))
		for k := range order {
			order[k] = k
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case d[a] > d[b]:
				return -1
			case d[a] < d[b]:
				return 1
			}
			return 0
		})
		for _, k := range order[:p-len(keep)] {
			keep = append(keep, done[f[k]])
		}
		break
	}
	return keep
}

// Progress implements Strategy.
func (s *NSGA2) Progress() Progress { return s.progress(s.finished) }

// Counts implements Strategy.
func (s *NSGA2) Counts() Counts { return s.counts(s.finished) }

func (s *NSGA2) finished() bool { return s.Exhausted || s.evaluations() >= s.MaxTrials }
