package nas

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// CMAES is the covariance matrix adaptation evolution strategy (Hansen
// 2016, "The CMA Evolution Strategy: A Tutorial", with positive recombination
// weights) over a typed space's numeric parameters that are active in every
// candidate, as Optuna's CmaEsSampler does it: each such parameter is scaled
// to [0, 1] (log parameters in the logarithm; int parameters rounded to
// their grid when decoded) and starts at the middle with σ = 1/6;
// categorical and conditional parameters are drawn uniformly, like
// Optuna's independent sampler. Trials are asked from the current
// generation's distribution as often as workers ask; once Popsize of them
// have completed (the first Popsize to complete, in the order told) the
// distribution is updated from them and the next generation begins, so
// trials still running then are not used (Optuna does the same). Draws
// outside [0, 1] are redrawn (at most 100 times, then clipped); a draw
// whose candidate is infeasible or already known is redrawn (at most
// maxTPEDraws times, then the candidate is drawn uniformly and not used
// by the update). A policy space's seeds (Policy.Seeds) are asked first,
// outside the distribution (not used by the update), and the first seed is
// the initial mean, as Optuna's x0.
type CMAES struct {
	Book
	// Objective is minimised as ObjectiveVector orients it.
	Objective string `json:"objective"`
	// Dims are the parameters CMA-ES searches, in dependency order.
	Dims    []string `json:"dims"`
	Popsize int      `json:"popsize"`
	// Generation counts the distribution's updates; Mean, Sigma, C (row
	// major, len(Dims)² values), PS and PC are its state.
	Generation int       `json:"generation"`
	Mean       []float64 `json:"mean"`
	Sigma      float64   `json:"sigma"`
	C          []float64 `json:"c"`
	PS         []float64 `json:"ps"`
	PC         []float64 `json:"pc"`
	// Samples are the current generation's draws still to be used.
	Samples []cmaSample `json:"samples"`
}

// cmaSample is one draw: the record it became and its point in [0, 1]^n.
type cmaSample struct {
	Record int       `json:"record"`
	X      []float64 `json:"x"`
}

// newCMAES searches the numeric parameters of b.Space.Params active in
// every candidate.
func newCMAES(b Book, objective string) (*CMAES, error) {
	ps := b.Space.Params
	var dims []string
	for _, name := range ps.order() {
		p := ps[name]
		if p.Type == ParamCategorical || len(p.When) > 0 || p.High <= p.Low {
			continue
		}
		dims = append(dims, name)
	}
	n := len(dims)
	if n == 0 {
		return nil, errors.New("strategy cmaes: space.params has no int, float or log parameter active in every candidate " +
			"(the built-in space's genes are all categorical)")
	}
	s := &CMAES{Book: b, Objective: objective, Dims: dims, Popsize: 4 + int(math.Floor(3*math.Log(float64(n)))),
		Mean: make([]float64, n), Sigma: 1.0 / 6, C: make([]float64, n*n), PS: make([]float64, n), PC: make([]float64, n)}
	for i := range n {
		s.Mean[i] = 0.5
		s.C[i*n+i] = 1
	}
	if pol := b.Space.Policy; pol != nil && len(pol.Seeds) > 0 {
		for i, name := range dims {
			if v, ok := pol.Seeds[0][name].(float64); ok {
				s.Mean[i] = unitOf(ps[name], v)
			}
		}
	}
	return s, nil
}

// unitOf is v of p scaled to [0, 1] as CMAES.values decodes it: in the
// logarithm for log parameters.
func unitOf(p Param, v float64) float64 {
	lo, hi := p.Low, p.High
	if p.Type == ParamLog {
		lo, hi, v = math.Log(lo), math.Log(hi), math.Log(v)
	}
	return math.Min(1, math.Max(0, (v-lo)/(hi-lo)))
}

// Ask implements Strategy.
func (s *CMAES) Ask(n int) ([]Trial, error) {
	if err := s.update(); err != nil {
		return nil, err
	}
	return s.ask(n, s.next)
}

// next draws a candidate from the current distribution.
func (s *CMAES) next() (Candidate, error) {
	skip := func(h string) bool { _, ok := s.known(h, s.Epochs); return ok }
	if c, ok := s.Space.seed(skip); ok {
		return c, nil
	}
	b, d, err := s.eigen()
	if err != nil {
		return Candidate{}, err
	}
	for range maxTPEDraws {
		x := s.draw(b, d)
		c, err := s.Space.valuesCandidate(s.values(x))
		if errors.Is(err, ErrInfeasible) || err == nil && skip(c.Hash) {
			continue
		}
		if err != nil {
			return Candidate{}, err
		}
		s.Samples = append(s.Samples, cmaSample{Record: len(s.Records), X: x})
		return c, nil
	}
	return s.Space.sample(&s.RNG, skip)
}

// eigen returns the eigenvectors B (columns) and the square roots of the
// eigenvalues D of C.
func (s *CMAES) eigen() (*mat.Dense, []float64, error) {
	n := len(s.Dims)
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(n, slices.Clone(s.C)), true) {
		return nil, nil, errors.New("strategy cmaes: covariance matrix does not factorize")
	}
	var b mat.Dense
	es.VectorsTo(&b)
	d := es.Values(nil)
	for i, v := range d {
		d[i] = math.Sqrt(math.Max(v, 1e-30))
	}
	return &b, d, nil
}

// draw returns mean + σ·B·D·z, z standard normal, redrawn while outside
// [0, 1]^n (at most 100 times, then clipped).
func (s *CMAES) draw(b *mat.Dense, d []float64) []float64 {
	n := len(s.Dims)
	x := make([]float64, n)
	for try := 0; ; try++ {
		z := make([]float64, n)
		for i := range z {
			z[i] = s.normal() * d[i]
		}
		inside := true
		for i := range x {
			y := 0.0
			for j := range n {
				y += b.At(i, j) * z[j]
			}
			x[i] = s.Mean[i] + s.Sigma*y
			inside = inside && x[i] >= 0 && x[i] <= 1
		}
		if inside || try == 99 {
			break
		}
	}
	for i := range x {
		x[i] = math.Min(1, math.Max(0, x[i]))
	}
	return x
}

// normal draws a standard normal value (Box–Muller).
func (s *CMAES) normal() float64 {
	u := 1 - s.RNG.float() // (0, 1]
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*s.RNG.float())
}

// values decodes x to the searched parameters' values and draws every
// other active parameter uniformly, in dependency order.
func (s *CMAES) values(x []float64) Values {
	ps := s.Space.Params
	v := Values{}
	for _, name := range ps.order() {
		if !ps.active(name, v) {
			continue
		}
		p := ps[name]
		i := slices.Index(s.Dims, name)
		if i < 0 {
			v[name] = p.uniform(&s.RNG)
			continue
		}
		switch p.Type {
		case ParamLog:
			lo, hi := math.Log(p.Low), math.Log(p.High)
			v[name] = math.Min(p.High, math.Max(p.Low, math.Exp(lo+x[i]*(hi-lo))))
		case ParamInt:
			k := math.Round(x[i] * (p.High - p.Low) / p.step())
			v[name] = p.Low + math.Min(k, float64(p.count()-1))*p.step()
		default:
			v[name] = math.Min(p.High, p.Low+x[i]*(p.High-p.Low))
		}
	}
	return v
}

// update moves the distribution on from every generation whose first
// Popsize draws have completed.
func (s *CMAES) update() error {
	for {
		var done []cmaSample
		for _, smp := range s.Samples {
			if r := s.Records[smp.Record]; r.Status == StatusDone && r.Objectives != nil {
				done = append(done, smp)
			}
		}
		if len(done) < s.Popsize {
			return nil
		}
		if err := s.tellGeneration(done[:s.Popsize]); err != nil {
			return err
		}
		s.Samples = nil // the rest were drawn from the old distribution
	}
}

// tellGeneration is one CMA-ES update from a generation's λ = Popsize
// completed draws.
func (s *CMAES) tellGeneration(gen []cmaSample) error {
	n, lambda := len(s.Dims), len(gen)
	f := make([]float64, lambda)
	for k, smp := range gen {
		v, err := ObjectiveVector(*s.Records[smp.Record].Objectives, []string{s.Objective})
		if err != nil {
			return err
		}
		f[k] = v[0]
	}
	order := make([]int, lambda)
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(f[a], f[b]) })

	mu := lambda / 2
	w := make([]float64, mu)
	sum := 0.0
	for i := range w {
		w[i] = math.Log(float64(lambda+1)/2) - math.Log(float64(i+1))
		sum += w[i]
	}
	sq := 0.0
	for i := range w {
		w[i] /= sum
		sq += w[i] * w[i]
	}
	muEff := 1 / sq
	fn := float64(n)
	cs := (muEff + 2) / (fn + muEff + 5)
	ds := 1 + 2*math.Max(0, math.Sqrt((muEff-1)/(fn+1))-1) + cs
	cc := (4 + muEff/fn) / (fn + 4 + 2*muEff/fn)
	c1 := 2 / ((fn+1.3)*(fn+1.3) + muEff)
	cmu := math.Min(1-c1, 2*(muEff-2+1/muEff)/((fn+2)*(fn+2)+muEff))
	chiN := math.Sqrt(fn) * (1 - 1/(4*fn) + 1/(21*fn*fn))

	b, d, err := s.eigen()
	if err != nil {
		return err
	}
	// y_i = (x_i − m)/σ for the μ best; y_w their weighted mean.
	ys := make([][]float64, mu)
	yw := make([]float64, n)
	for i := range mu {
		x := gen[order[i]].X
		ys[i] = make([]float64, n)
		for j := range n {
			ys[i][j] = (x[j] - s.Mean[j]) / s.Sigma
			yw[j] += w[i] * ys[i][j]
		}
	}
	for j := range n {
		s.Mean[j] += s.Sigma * yw[j]
	}
	// C^{-1/2}·y_w = B·D⁻¹·Bᵀ·y_w.
	bt := make([]float64, n)
	for k := range n {
		for j := range n {
			bt[k] += b.At(j, k) * yw[j]
		}
		bt[k] /= d[k]
	}
	norm := 0.0
	for i := range n {
		v := 0.0
		for k := range n {
			v += b.At(i, k) * bt[k]
		}
		s.PS[i] = (1-cs)*s.PS[i] + math.Sqrt(cs*(2-cs)*muEff)*v
		norm += s.PS[i] * s.PS[i]
	}
	norm = math.Sqrt(norm)
	s.Generation++
	hs := 0.0
	if norm/math.Sqrt(1-math.Pow(1-cs, 2*float64(s.Generation))) < (1.4+2/(fn+1))*chiN {
		hs = 1
	}
	for j := range n {
		s.PC[j] = (1-cc)*s.PC[j] + hs*math.Sqrt(cc*(2-cc)*muEff)*yw[j]
	}
	keep := 1 - c1 - cmu + (1-hs)*c1*cc*(2-cc)
	for r := range n {
		for c := range n {
			v := keep*s.C[r*n+c] + c1*s.PC[r]*s.PC[c]
			for i := range mu {
				v += cmu * w[i] * ys[i][r] * ys[i][c]
			}
			s.C[r*n+c] = v
		}
	}
	s.Sigma *= math.Exp(cs / ds * (norm/chiN - 1))
	if math.IsNaN(s.Sigma) || math.IsInf(s.Sigma, 0) || s.Sigma <= 0 {
		return fmt.Errorf("strategy cmaes: step size %v after generation %d", s.Sigma, s.Generation)
	}
	// Keep σ within reach of the unit box: a σ far above 1 only clips.
	s.Sigma = math.Min(s.Sigma, 1)
	return nil
}

// Tell implements Strategy.
func (s *CMAES) Tell(results ...Result) error { return s.tellAll(results, nil) }

// Progress implements Strategy.
func (s *CMAES) Progress() Progress { return s.progress(s.finished) }

// Counts implements Strategy.
func (s *CMAES) Counts() Counts { return s.counts(s.finished) }

func (s *CMAES) finished() bool { return s.Exhausted || s.evaluations() >= s.MaxTrials }
