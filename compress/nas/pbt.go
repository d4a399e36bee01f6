package nas

import (
	"errors"
	"maps"
	"math"
	"slices"
)

// PBT is population-based training (Jaderberg et al. 2017), synchronous,
// with truncation selection as Ray Tune's PopulationBasedTraining does it
// by default. A population of P members, each a candidate drawn from the
// space, trains Interval epochs per generation, every member's trial
// continuing from its previous trial's checkpoint (Trial.From) within one
// run of Generations·Interval epochs (Trial.Horizon). Once every trial of a
// generation has settled, the members in the bottom Quantile by accuracy
// (failed ones first) exploit: each continues from the checkpoint of a
// member of the top Quantile, drawn at random, taking its candidate with
// the training hyperparameters explored — each of lr, weight_decay and
// momentum that the space makes numeric is drawn afresh from its range with
// probability ResampleProb, else multiplied by 0.8 or 1.2 (clipped to the
// range, rounded to an int parameter's grid). The rest continue their own.
// Parameters a checkpoint cannot change (the architecture, the optimizer,
// the batch size) are never explored. A generation's trials release the
// checkpoints of the generation two before (Trial.Release): by then no
// trial can continue from them.
type PBT struct {
	Book
	P            int     `json:"p"`
	Interval     int     `json:"interval"`
	Generations  int     `json:"generations"`
	Quantile     float64 `json:"quantile"`
	ResampleProb float64 `json:"resample_prob"`
	// Members holds, per generation, each member's record index.
	Members [][]int `json:"members"`
	// Plan holds the current generation's trials not asked yet.
	Plan []pbtPlan `json:"plan"`
}

// pbtPlan is a member's next trial.
type pbtPlan struct {
	Member    int       `json:"member"`
	Candidate Candidate `json:"candidate"`
	From      string    `json:"from,omitempty"`
	Release   string    `json:"release,omitempty"`
}

// pbtExplored are the training hyperparameters exploration changes.
var pbtExplored = []string{KeyLR, KeyWeightDecay, KeyMomentum}

// PBT defaults, Ray Tune's.
const (
	DefaultPBTPopulation   = 8
	DefaultPBTQuantile     = 0.25
	DefaultPBTResampleProb = 0.25
)

func newPBT(b Book, p int) (*PBT, error) {
	explorable := false
	for _, k := range pbtExplored {
		if q, ok := b.Space.Params[k]; ok && q.Type != ParamCategorical && len(q.When) == 0 {
			explorable = true
		}
	}
	if !explorable {
		return nil, errors.New("strategy pbt: space.params has none of lr, weight_decay, momentum as a numeric parameter of every candidate: nothing to explore")
	}
	s := &PBT{Book: b, P: p, Interval: b.Epochs, Generations: max(1, b.MaxTrials/p),
		Quantile: DefaultPBTQuantile, ResampleProb: DefaultPBTResampleProb}
	s.MaxTrials = s.Generations * p
	return s, nil
}

// Ask implements Strategy.
func (s *PBT) Ask(n int) ([]Trial, error) {
	out := s.retries(n)
	if len(s.Members) == 0 {
		if err := s.first(); err != nil {
			return out, err
		}
	} else if len(s.Plan) == 0 && len(s.Members) < s.Generations && s.generationSettled() {
		s.next()
	}
	for len(out) < n && len(s.Plan) > 0 {
		p := s.Plan[0]
		s.Plan = s.Plan[1:]
		g := len(s.Members) - 1
		var release []string
		if p.Release != "" {
			release = []string{p.Release}
		}
		out = append(out, s.issueCut(p.Candidate, (g+1)*s.Interval, s.Generations*s.Interval, p.From, release))
		s.Members[g][p.Member] = len(s.Records) - 1
	}
	return out, nil
}

// first plans generation 0: P candidates drawn from the space.
func (s *PBT) first() error {
	s.Members = [][]int{slices.Repeat([]int{-1}, s.P)}
	for m := range s.P {
		c, err := s.Space.sample(&s.RNG, func(h string) bool { _, ok := s.known(h, s.Interval); return ok })
		if errors.Is(err, ErrNoFeasible) && m > 0 {
			// Fewer distinct candidates than members: repeat one.
			c = s.Plan[m%len(s.Plan)].Candidate
		} else if err != nil {
			return err
		}
		s.Plan = append(s.Plan, pbtPlan{Member: m, Candidate: c})
	}
	return nil
}

// generationSettled reports whether every trial of the current generation
// was asked and has settled.
func (s *PBT) generationSettled() bool {
	for _, i := range s.Members[len(s.Members)-1] {
		if i < 0 || !s.settled(i) {
			return false
		}
	}
	return true
}

// next plans the next generation from the settled current one.
func (s *PBT) next() {
	cur := s.Members[len(s.Members)-1]
	order := make([]int, s.P) // members, best first; failed ones last
	for m := range order {
		order[m] = m
	}
	score := func(m int) float64 {
		if r := s.Records[cur[m]]; r.Status == StatusDone && r.Objectives != nil {
			return r.Objectives.Accuracy
		}
		return math.Inf(-1)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(score(b), score(a)) })
	cut := max(1, int(math.Round(s.Quantile*float64(s.P))))
	var top []int
	for _, m := range order[:cut] {
		if !math.IsInf(score(m), -1) {
			top = append(top, m)
		}
	}
	exploit := map[int]bool{}
	for k, m := range order {
		if k >= s.P-cut || math.IsInf(score(m), -1) {
			exploit[m] = true
		}
	}
	var prev []int
	if len(s.Members) >= 2 {
		prev = s.Members[len(s.Members)-2]
	}
	s.Members = append(s.Members, slices.Repeat([]int{-1}, s.P))
	for m := range s.P {
		p := pbtPlan{Member: m, Candidate: s.Records[cur[m]].Trial.Candidate, From: s.Records[cur[m]].Trial.ID}
		if exploit[m] && len(top) > 0 {
			src := top[s.RNG.intn(len(top))]
			p.Candidate, p.From = s.explore(s.Records[cur[src]].Trial.Candidate), s.Records[cur[src]].Trial.ID
		} else if exploit[m] {
			p.From = "" // nothing completed: start again from the same candidate
		}
		if prev != nil {
			p.Release = s.Records[prev[m]].Trial.ID
		}
		s.Plan = append(s.Plan, p)
	}
}

// explore returns c with its explorable training hyperparameters perturbed,
// or c itself when the perturbed point is not a feasible candidate.
func (s *PBT) explore(c Candidate) Candidate {
	v := maps.Clone(c.Values)
	for _, k := range pbtExplored {
		p, ok := s.Space.Params[k]
		x, has := v[k].(float64)
		if !ok || !has || p.Type == ParamCategorical || len(p.When) > 0 {
			continue
		}
		if s.RNG.float() < s.ResampleProb {
			v[k] = p.uniform(&s.RNG)
			continue
		}
		f := 0.8
		if s.RNG.intn(2) == 1 {
			f = 1.2
		}
		x = math.Min(p.High, math.Max(p.Low, x*f))
		if p.Type == ParamInt {
			x = p.Low + math.Round((x-p.Low)/p.step())*p.step()
		}
		v[k] = x
	}
	out, err := s.Space.valuesCandidate(v)
	if err != nil {
		return c
	}
	return out
}

// Tell implements Strategy.
func (s *PBT) Tell(results ...Result) error { return s.tellAll(results, nil) }

// Progress implements Strategy.
func (s *PBT) Progress() Progress { return s.progress(s.finished) }

// Counts implements Strategy.
func (s *PBT) Counts() Counts { return s.counts(s.finished) }

// finished reports whether the last generation was asked in full.
func (s *PBT) finished() bool {
	return len(s.Members) == s.Generations && len(s.Plan) == 0 && !slices.Contains(s.Members[len(s.Members)-1], -1)
}
