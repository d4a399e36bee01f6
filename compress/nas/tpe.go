package nas

import (
	"errors"
	"math"
	"slices"
)

// TPE is the tree-structured Parzen estimator, Bergstra et al. 2011, as
// Optuna's TPESampler does it (univariate, its defaults): until Startup
// trials have completed, candidates are drawn uniformly; afterwards the
// completed trials are split into the best γ(n) = min(⌈0.1·n⌉, 25)
// ("below") and the rest ("above"), and each active parameter, in
// dependency order, is drawn from the below model l(x) as the best of
// Candidates draws by log l(x) − log g(x), with g the above model.
//
// Models per parameter are built from the trials where it was active.
// Numeric parameters get a Parzen mixture of truncated normals, one per
// observation (σ the larger gap to its sorted neighbours, the range ends
// excluded at the extremes, clipped to [range/min(100, n+2), range]) plus a
// prior kernel (the range's middle, σ the range) of weight PriorWeight;
// observation weights are 1 for the 25 most recent and ramp linearly down
// for older ones. Log parameters are modelled in the logarithm; int
// parameters over [low − step/2, high + step/2] with the mass of each grid
// cell. Categorical parameters get, per observation, PriorWeight/(n+1) on
// every choice plus 1 on the observed one, and a uniform prior kernel.
//
// With several Objectives the split is by non-dominated rank (MOTPE):
// whole fronts go below while they fit in ⌈0.1·n⌉, and the first front that
// does not fit contributes its members of largest crowding distance
// (Optuna breaks that tie by hypervolume contribution instead); below
// observations then all weigh 1. Results still outstanding are not used
// (no constant liar). Draws that repeat a known or infeasible candidate are
// redrawn; after maxTPEDraws the candidate is drawn uniformly.
type TPE struct {
	Book
	// Objectives are minimised as ObjectiveVector orients them.
	Objectives []string `json:"objectives"`
	// Startup is the completed trials before the model is used; Candidates
	// the draws from l(x) per parameter; PriorWeight the prior kernel's.
	Startup     int     `json:"startup"`
	Candidates  int     `json:"candidates"`
	PriorWeight float64 `json:"prior_weight"`
}

// TPE defaults, Optuna's.
const (
	DefaultTPEStartup    = 10
	DefaultTPECandidates = 24
	maxTPEDraws          = 64
)

// Ask implements Strategy.
func (s *TPE) Ask(n int) ([]Trial, error) {
	return s.ask(n, s.next)
}

// next draws the next candidate.
func (s *TPE) next() (Candidate, error) {
	skip := func(h string) bool { _, ok := s.known(h, s.Epochs); return ok }
	var done []int
	for i, r := range s.Records {
		if r.Status == StatusDone {
			done = append(done, i)
		}
	}
	if len(done) < s.Startup || len(done) == 0 {
		return s.Space.sample(&s.RNG, skip)
	}
	below, above := s.split(done)
	for range maxTPEDraws {
		c, err := s.Space.valuesCandidate(s.suggest(below, above))
		if errors.Is(err, ErrInfeasible) {
			continue
		}
		if err != nil {
			return Candidate{}, err
		}
		if skip(c.Hash) {
			continue
		}
		return c, nil
	}
	return s.Space.sample(&s.RNG, skip)
}

// split divides completed records into below (best) and above, each in
// record order.
func (s *TPE) split(done []int) (below, above []int) {
	pts := make([][]float64, len(done))
	for k, i := range done {
		v, err := ObjectiveVector(*s.Records[i].Objectives, s.Objectives)
		if err != nil {
			panic("nas: objectives validated by New: " + err.Error())
		}
		pts[k] = v
	}
	n := len(done)
	inBelow := make([]bool, n)
	if len(s.Objectives) == 1 {
		nb := min(int(math.Ceil(0.1*float64(n))), 25)
		order := make([]int, n)
		for k := range order {
			order[k] = k
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(pts[a][0], pts[b][0]) })
		for _, k := range order[:nb] {
			inBelow[k] = true
		}
	} else {
		nb := int(math.Ceil(0.1 * float64(n)))
		taken := 0
		for _, f := range NonDominatedSort(pts) {
			if taken+len(f) <= nb {
				for _, k := range f {
					inBelow[k] = true
				}
				taken += len(f)
				continue
			}
			d := CrowdingDistance(pts, f)
			order := make([]int, len(f))
			for k := range order {
				order[k] = k
			}
			slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(d[b], d[a]) })
			for _, k := range order[:nb-taken] {
				inBelow[f[k]] = true
			}
			break
		}
	}
	for k, i := range done {
		if inBelow[k] {
			below = append(below, i)
		} else {
			above = append(above, i)
		}
	}
	return below, above
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// suggest draws every active parameter from its below/above models.
func (s *TPE) suggest(below, above []int) Values {
	ps := s.Space.Params
	v := Values{}
	for _, name := range ps.order() {
		if !ps.active(name, v) {
			continue
		}
		p := ps[name]
		ob, oa := s.observations(name, p, below), s.observations(name, p, above)
		belowW := tpeWeights(len(ob))
		if len(s.Objectives) > 1 {
			for i := range belowW {
				belowW[i] = 1
			}
		}
		v[name] = s.draw(p, ob, belowW, oa, tpeWeights(len(oa)))
	}
	return v
}

// observations returns the values of parameter name in records idx (where
// it was active), in p's model coordinates: a choice index for
// categorical, the logarithm for log, the value otherwise.
func (s *TPE) observations(name string, p Param, idx []int) []float64 {
	var out []float64
	for _, i := range idx {
		x, ok := s.Records[i].Trial.Candidate.Values[name]
		if !ok {
			continue
		}
		switch p.Type {
		case ParamCategorical:
			if j := slices.Index(p.Choices, x); j >= 0 {
				out = append(out, float64(j))
			}
		case ParamLog:
			if f, ok := x.(float64); ok && f > 0 {
				out = append(out, math.Log(f))
			}
		default:
			if f, ok := x.(float64); ok {
				out = append(out, f)
			}
		}
	}
	return out
}

// tpeWeights is Optuna's default_weights: 1 for the 25 most recent of n
// observations, a linear ramp from 1/n for the older ones.
func tpeWeights(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	if n > 25 {
		m := n - 25
		for i := range m {
			if m == 1 {
				w[i] = 1 / float64(n)
			} else {
				w[i] = 1/float64(n) + (1-1/float64(n))*float64(i)/float64(m-1)
			}
		}
	}
	return w
}

// draw returns the value of p among s.Candidates draws from the below
// model that maximises log l − log g.
func (s *TPE) draw(p Param, ob, wb, oa, wa []float64) any {
	if p.Type == ParamCategorical {
		l := newCategorical(len(p.Choices), ob, wb, s.PriorWeight)
		g := newCategorical(len(p.Choices), oa, wa, s.PriorWeight)
		best, bestScore := 0, math.Inf(-1)
		for k := range s.Candidates {
			c := l.sample(&s.RNG)
			if sc := math.Log(l.p[c]) - math.Log(g.p[c]); k == 0 || sc > bestScore {
				best, bestScore = c, sc
			}
		}
		return p.Choices[best]
	}
	lo, hi, step := p.Low, p.High, 0.0
	switch p.Type {
	case ParamLog:
		lo, hi = math.Log(lo), math.Log(hi)
	case ParamInt:
		step = p.step()
	}
	l := newParzen(lo, hi, step, ob, wb, s.PriorWeight)
	g := newParzen(lo, hi, step, oa, wa, s.PriorWeight)
	best, bestScore := 0.0, math.Inf(-1)
	for k := range s.Candidates {
		x := l.sample(&s.RNG)
		sc := l.logPDF(x) - g.logPDF(x)
		if math.IsNaN(sc) {
			sc = math.Inf(-1)
		}
		if k == 0 || sc > bestScore {
			best, bestScore = x, sc
		}
	}
	switch p.Type {
	case ParamLog:
		return math.Min(p.High, math.Max(p.Low, math.Exp(best)))
	default:
		return best
	}
}

// categorical is a Parzen model over choice indices: p[c] is the mixture's
// probability of choice c.
type categorical struct{ p []float64 }

func newCategorical(k int, obs, w []float64, prior float64) categorical {
	p := make([]float64, k)
	if len(obs) == 0 {
		for c := range p {
			p[c] = 1 / float64(k)
		}
		return categorical{p}
	}
	nk := float64(len(obs) + 1)
	total := prior
	for _, x := range w {
		total += x
	}
	rowSum := float64(k)*prior/nk + 1
	for j, o := range obs {
		for c := range p {
			q := prior / nk
			if c == int(o) {
				q++
			}
			p[c] += w[j] / total * q / rowSum
		}
	}
	for c := range p {
		p[c] += prior / total / float64(k)
	}
	return categorical{p}
}

func (m categorical) sample(r *rng) int {
	u := r.float()
	for c, q := range m.p {
		if u < q {
			return c
		}
		u -= q
	}
	return len(m.p) - 1
}

// parzen is a mixture of normals truncated to [lo, hi] (model coordinates),
// or, with step > 0, discretised onto the grid lo, lo+step, …, hi.
type parzen struct {
	lo, hi, step   float64
	w, mu, sigma   []float64
	logZ           []float64 // log of each kernel's mass inside the range
	loEdge, hiEdge float64
}

func newParzen(lo, hi, step float64, obs, w []float64, prior float64) parzen {
	m := parzen{lo: lo, hi: hi, step: step, loEdge: lo - step/2, hiEdge: hi + step/2}
	a, b := m.loEdge, m.hiEdge
	n := len(obs)
	sigma := make([]float64, n)
	if n > 0 {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(x, y int) int { return cmpFloat(obs[x], obs[y]) })
		ends := make([]float64, n+2)
		ends[0], ends[n+1] = a, b
		for k, i := range order {
			ends[k+1] = obs[i]
		}
		sorted := make([]float64, n)
		for k := range n {
			sorted[k] = math.Max(ends[k+1]-ends[k], ends[k+2]-ends[k+1])
		}
		if n+2 >= 4 { // consider_endpoints=False
			sorted[0] = ends[2] - ends[1]
			sorted[n-1] = ends[n] - ends[n-1]
		}
		minS, maxS := (b-a)/math.Min(100, float64(n+2)), b-a
		for k, i := range order {
			sigma[i] = math.Min(maxS, math.Max(minS, sorted[k]))
		}
	}
	m.mu = append(slices.Clone(obs), (a+b)/2)
	m.sigma = append(sigma, b-a)
	m.w = append(slices.Clone(w), prior)
	total := 0.0
	for _, x := range m.w {
		total += x
	}
	for i := range m.w {
		m.w[i] /= total
	}
	m.logZ = make([]float64, len(m.mu))
	for i := range m.mu {
		m.logZ[i] = logMass(m.mu[i], m.sigma[i], a, b)
	}
	return m
}

// phi is the standard normal CDF; phiC its complement.
func phi(z float64) float64  { return 0.5 * math.Erfc(-z/math.Sqrt2) }
func phiC(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// logMass is the log of N(mu, sigma)'s mass on [a, b], floored to stay
// finite.
func logMass(mu, sigma, a, b float64) float64 {
	za, zb := (a-mu)/sigma, (b-mu)/sigma
	var d float64
	if za > 0 {
		d = phiC(za) - phiC(zb)
	} else {
		d = phi(zb) - phi(za)
	}
	return math.Log(math.Max(d, 1e-300))
}

// sample draws a kernel by weight, then a value from it by inverting its
// truncated CDF, rounded to the grid for a discrete model.
func (m parzen) sample(r *rng) float64 {
	u := r.float()
	k := len(m.w) - 1
	for i, w := range m.w {
		if u < w {
			k = i
			break
		}
		u -= w
	}
	mu, s := m.mu[k], m.sigma[k]
	za, zb := (m.loEdge-mu)/s, (m.hiEdge-mu)/s
	v := r.float()
	var z float64
	if za > 0 {
		ca, cb := phiC(za), phiC(zb)
		z = math.Sqrt2 * math.Erfcinv(2*(ca-v*(ca-cb)))
	} else {
		pa, pb := phi(za), phi(zb)
		z = -math.Sqrt2 * math.Erfcinv(2*(pa+v*(pb-pa)))
	}
	x := mu + s*z
	if math.IsNaN(x) || math.IsInf(x, 0) {
		x = m.loEdge + v*(m.hiEdge-m.loEdge)
	}
	x = math.Min(m.hiEdge, math.Max(m.loEdge, x))
	if m.step > 0 {
		x = m.lo + math.Round((x-m.lo)/m.step)*m.step
		x = math.Min(m.hi, math.Max(m.lo, x))
	}
	return x
}

// logPDF is the log density (continuous) or log mass (discrete) of x.
func (m parzen) logPDF(x float64) float64 {
	terms := make([]float64, len(m.w))
	for i := range m.w {
		mu, s := m.mu[i], m.sigma[i]
		var lp float64
		if m.step > 0 {
			lp = logMass(mu, s, x-m.step/2, x+m.step/2)
		} else {
			z := (x - mu) / s
			lp = -0.5*z*z - math.Log(s) - 0.5*math.Log(2*math.Pi)
		}
		terms[i] = math.Log(m.w[i]) + lp - m.logZ[i]
	}
	mx := slices.Max(terms)
	if math.IsInf(mx, -1) {
		return mx
	}
	sum := 0.0
	for _, t := range terms {
		sum += math.Exp(t - mx)
	}
	return mx + math.Log(sum)
}

// Tell implements Strategy.
func (s *TPE) Tell(results ...Result) error { return s.tellAll(results, nil) }

// Progress implements Strategy.
func (s *TPE) Progress() Progress { return s.progress(s.finished) }

// Counts implements Strategy.
func (s *TPE) Counts() Counts { return s.counts(s.finished) }

func (s *TPE) finished() bool { return s.Exhausted || s.evaluations() >= s.MaxTrials }
