package nas

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Strategy proposes trials and learns from their results. Ask returns up to
// n trials to evaluate (possibly fewer, or none while it waits for results
// or once it is done); Tell accepts results in any order, failed attempts
// included; Progress summarises every trial, and Counts does so without the
// records. A Strategy is not safe for concurrent use; its whole state is
// saved by Save.
type Strategy interface {
	Ask(n int) ([]Trial, error)
	Tell(results ...Result) error
	Progress() Progress
	Counts() Counts
}

// Strategy names for Config.Strategy.
const (
	StrategyRandom    = "random"
	StrategyGrid      = "grid"
	StrategyEvolution = "evolution"
	StrategyASHA      = "asha"
	StrategyNSGA2     = "nsga2"
	StrategyTPE       = "tpe"
	StrategyCMAES     = "cmaes"
	StrategyPBT       = "pbt"
)

// strategies lists the strategy names.
var strategies = []string{StrategyRandom, StrategyGrid, StrategyEvolution, StrategyASHA, StrategyNSGA2, StrategyTPE, StrategyCMAES, StrategyPBT}

// Config configures New. Zero fields take the defaults on each.
type Config struct {
	// Strategy is one of random, grid, evolution, asha, nsga2, tpe, cmaes,
	// pbt.
	Strategy string `json:"strategy" yaml:"strategy"`
	// Space is the search space (defaults applied by ParseSpace).
	Space Space `json:"space" yaml:"space"`
	// Seed drives every random choice.
	Seed int64 `json:"seed" yaml:"seed"`
	// MaxTrials bounds the distinct evaluations (for asha: the configurations
	// started at the lowest rung). Required, > 0.
	MaxTrials int `json:"max_trials" yaml:"max_trials"`
	// MaxAttempts is the attempts per trial before it counts as failed
	// (default DefaultMaxAttempts).
	MaxAttempts int `json:"max_attempts,omitempty" yaml:"max_attempts,omitempty"`
	// Epochs is the training budget of each trial (default 1); asha uses its
	// own rungs instead.
	Epochs int `json:"epochs,omitempty" yaml:"epochs,omitempty"`
	// Population and Sample configure evolution (P, default 20; S, default 5)
	// and nsga2 (Population only, default 20); Population is also pbt's
	// (default 8), whose generations are MaxTrials/Population of Epochs
	// each.
	Population int `json:"population,omitempty" yaml:"population,omitempty"`
	Sample     int `json:"sample,omitempty" yaml:"sample,omitempty"`
	// MinEpochs, MaxEpochs and Eta configure asha's rungs: rung k trains for
	// MinEpochs·Eta^k epochs up to MaxEpochs (defaults 1, 27, 3). Sync makes
	// it synchronous successive halving: a rung promotes only once it is
	// complete.
	MinEpochs int  `json:"min_epochs,omitempty" yaml:"min_epochs,omitempty"`
	MaxEpochs int  `json:"max_epochs,omitempty" yaml:"max_epochs,omitempty"`
	Eta       int  `json:"eta,omitempty" yaml:"eta,omitempty"`
	Sync      bool `json:"sync,omitempty" yaml:"sync,omitempty"`
	// Restart makes asha's promotions train from the start instead of
	// continuing the promoted trial's final checkpoint (see ASHA).
	Restart bool `json:"restart,omitempty" yaml:"restart,omitempty"`
	// Objectives are nsga2's objectives (default accuracy, bytes,
	// latency_int8) and tpe's (default accuracy; several make it MOTPE);
	// see ObjectiveNames.
	Objectives []string `json:"objectives,omitempty" yaml:"objectives,omitempty"`
	// StartupTrials and EICandidates configure tpe: the completed trials
	// drawn uniformly before the model is used (default 10) and the draws
	// per parameter scored by expected improvement (default 24).
	StartupTrials int `json:"startup_trials,omitempty" yaml:"startup_trials,omitempty"`
	EICandidates  int `json:"ei_candidates,omitempty" yaml:"ei_candidates,omitempty"`
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("%s: %v, want %s", field, v, want))
	}
	if !slices.Contains(strategies, c.Strategy) {
		bad("strategy", fmt.Sprintf("%q", c.Strategy), "random, grid, evolution, asha, nsga2, tpe, cmaes or pbt")
	}
	if c.Space.Policy != nil && c.Strategy == StrategyPBT {
		bad("strategy", c.Strategy, "random, tpe, cmaes or asha with space.policy (pbt's exploit would continue one policy's pruned weights under another)")
	}
	if c.Space.Params != nil {
		switch c.Strategy {
		case StrategyGrid, StrategyEvolution, StrategyNSGA2:
			bad("strategy", c.Strategy, "random, tpe, cmaes, pbt or asha with space.params (grid, evolution and nsga2 search the built-in space only)")
		case StrategyASHA:
			if _, ok := c.Space.Params[KeyEpochs]; ok {
				errs = append(errs, errors.New("space.params.epochs: asha sets each trial's epochs itself"))
			}
		}
	}
	if err := c.Space.Validate(); err != nil {
		list := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			list = j.Unwrap()
		}
		for _, e := range list {
			errs = append(errs, fmt.Errorf("space.%w", e))
		}
	}
	if c.MaxTrials <= 0 {
		bad("max_trials", c.MaxTrials, "> 0")
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_attempts", c.MaxAttempts}, {"epochs", c.Epochs}, {"population", c.Population}, {"sample", c.Sample},
		{"min_epochs", c.MinEpochs}, {"max_epochs", c.MaxEpochs},
		{"startup_trials", c.StartupTrials}, {"ei_candidates", c.EICandidates}} {
		if f.v < 0 {
			bad(f.name, f.v, ">= 0")
		}
	}
	if c.Strategy == StrategyCMAES && len(c.Objectives) > 1 {
		bad("objectives", c.Objectives, "at most one with strategy cmaes")
	}
	if c.Restart && c.Strategy != StrategyASHA {
		bad("restart", true, "only with strategy asha")
	}
	if c.Eta < 0 || c.Eta == 1 {
		bad("eta", c.Eta, ">= 2 (0 means 3)")
	}
	if c.Sample > 0 && c.Population > 0 && c.Sample > c.Population {
		bad("sample", c.Sample, fmt.Sprintf("<= population %d", c.Population))
	}
	if c.MinEpochs > 0 && c.MaxEpochs > 0 && c.MinEpochs > c.MaxEpochs {
		bad("min_epochs", c.MinEpochs, fmt.Sprintf("<= max_epochs %d", c.MaxEpochs))
	}
	for _, o := range c.Objectives {
		if !slices.Contains(ObjectiveNames, o) {
			bad("objectives", fmt.Sprintf("%q", o), fmt.Sprintf("one of %v", ObjectiveNames))
		}
	}
	return errors.Join(errs...)
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// New returns the strategy cfg names, in its initial state.
func New(cfg Config) (Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sweep config: %w", err)
	}
	if p := cfg.Space.Policy; p != nil && !p.Resolved() {
		return nil, errors.New("sweep config: space.policy: not resolved against its base model (the sweep controller does this at start)")
	}
	b := Book{Space: cfg.Space, MaxTrials: cfg.MaxTrials, MaxAttempts: orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		Epochs: orDefault(cfg.Epochs, 1), RNG: newRNG(cfg.Seed)}
	switch cfg.Strategy {
	case StrategyRandom:
		return &Random{Book: b}, nil
	case StrategyGrid:
		return &Grid{Book: b}, nil
	case StrategyEvolution:
		p := orDefault(cfg.Population, 20)
		return &Evolution{Book: b, P: p, S: orDefault(cfg.Sample, min(5, p))}, nil
	case StrategyASHA:
		return newASHA(b, orDefault(cfg.MinEpochs, 1), orDefault(cfg.MaxEpochs, 27), orDefault(cfg.Eta, 3), cfg.Sync, cfg.Restart), nil
	case StrategyTPE:
		if b.Space.Params == nil {
			b.Space = b.Space.ParamSpace()
		}
		obj := cfg.Objectives
		if len(obj) == 0 {
			obj = []string{ObjectiveAccuracy}
		}
		return &TPE{Book: b, Objectives: obj, Startup: orDefault(cfg.StartupTrials, DefaultTPEStartup),
			Candidates: orDefault(cfg.EICandidates, DefaultTPECandidates), PriorWeight: 1}, nil
	case StrategyCMAES:
		if b.Space.Params == nil {
			b.Space = b.Space.ParamSpace()
		}
		obj := ObjectiveAccuracy
		if len(cfg.Objectives) == 1 {
			obj = cfg.Objectives[0]
		}
		s, err := newCMAES(b, obj)
		if err != nil {
			return nil, fmt.Errorf("sweep config: %w", err)
		}
		return s, nil
	case StrategyPBT:
		s, err := newPBT(b, orDefault(cfg.Population, DefaultPBTPopulation))
		if err != nil {
			return nil, fmt.Errorf("sweep config: %w", err)
		}
		return s, nil
	default:
		obj := cfg.Objectives
		if len(obj) == 0 {
			obj = []string{ObjectiveAccuracy, ObjectiveBytes, ObjectiveLatencyInt8}
		}
		return &NSGA2{Book: b, P: orDefault(cfg.Population, 20), Objectives: obj}, nil
	}
}

// saved is the JSON envelope of a saved strategy.
type saved struct {
	Kind  string          `json:"kind"`
	State json.RawMessage `json:"state"`
}

// Save returns s's whole state as JSON; Load restores it.
func Save(s Strategy) ([]byte, error) {
	var kind string
	switch s.(type) {
	case *Random:
		kind = StrategyRandom
	case *Grid:
		kind = StrategyGrid
	case *Evolution:
		kind = StrategyEvolution
	case *ASHA:
		kind = StrategyASHA
	case *NSGA2:
		kind = StrategyNSGA2
	case *TPE:
		kind = StrategyTPE
	case *CMAES:
		kind = StrategyCMAES
	case *PBT:
		kind = StrategyPBT
	default:
		return nil, fmt.Errorf("save strategy: unknown type %T", s)
	}
	st, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("save strategy: %w", err)
	}
	return json.Marshal(saved{Kind: kind, State: st})
}

// Load restores a strategy saved by Save.
func Load(doc []byte) (Strategy, error) {
	var env saved
	if err := json.Unmarshal(doc, &env); err != nil {
		return nil, fmt.Errorf("load strategy: %w", err)
	}
	var s Strategy
	switch env.Kind {
	case StrategyRandom:
		s = &Random{}
	case StrategyGrid:
		s = &Grid{}
	case StrategyEvolution:
		s = &Evolution{}
	case StrategyASHA:
		s = &ASHA{}
	case StrategyNSGA2:
		s = &NSGA2{}
	case StrategyTPE:
		s = &TPE{}
	case StrategyCMAES:
		s = &CMAES{}
	case StrategyPBT:
		s = &PBT{}
	default:
		return nil, fmt.Errorf("load strategy: unknown kind %q", env.Kind)
	}
	if err := json.Unmarshal(env.State, s); err != nil {
		return nil, fmt.Errorf("load strategy %s: %w", env.Kind, err)
	}
	return s, nil
}

// tellAll applies results through the book, calling on for each accepted
// one with its record index and new status.
func (b *Book) tellAll(results []Result, on func(i int, status string)) error {
	var errs []error
	for _, r := range results {
		i, st, ok, err := b.tell(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok && on != nil {
			on(i, st)
		}
	}
	return errors.Join(errs...)
}

// Random samples candidates uniformly from the feasible space, never the
// same genome twice.
type Random struct {
	Book
}

// Ask implements Strategy.
func (s *Random) Ask(n int) ([]Trial, error) {
	return s.ask(n, func() (Candidate, error) {
		return s.Space.sample(&s.RNG, func(h string) bool { _, ok := s.known(h, s.Epochs); return ok })
	})
}

// Tell implements Strategy.
func (s *Random) Tell(results ...Result) error { return s.tellAll(results, nil) }

// Progress implements Strategy.
func (s *Random) Progress() Progress { return s.progress(s.finished) }

// Counts implements Strategy.
func (s *Random) Counts() Counts { return s.counts(s.finished) }

func (s *Random) finished() bool { return s.Exhausted || s.evaluations() >= s.MaxTrials }

// Grid enumerates the feasible space in a fixed order (the encoding's
// mixed-radix order, last slot fastest), each genome once.
type Grid struct {
	Book
	// Next is the mixed-radix index of the next encoding to consider.
	Next int64 `json:"next"`
}

// Size returns the number of encodings Grid walks (canonical or not,
// feasible or not): the work of a grid that finds no feasible genome.
func (s *Grid) Size() int64 {
	t := int64(1)
	for _, r := range s.Space.radix() {
		t *= int64(r)
	}
	return t
}

// Ask implements Strategy.
func (s *Grid) Ask(n int) ([]Trial, error) {
	out := s.retries(n)
	rad := s.Space.radix()
	total := s.Size()
	for len(out) < n && s.evaluations() < s.MaxTrials && s.Next < total {
		g := make(Genes, len(rad))
		x := s.Next
		for i := len(rad) - 1; i >= 0; i-- {
			g[i] = int(x % int64(rad[i]))
			x /= int64(rad[i])
		}
		s.Next++
		if !slices.Equal(g, s.Space.canonical(slices.Clone(g))) {
			continue
		}
		c, err := s.Space.Candidate(g)
		if errors.Is(err, ErrInfeasible) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, s.issue(c, s.Epochs))
	}
	s.Exhausted = s.Next >= total
	return out, nil
}

// Tell implements Strategy.
func (s *Grid) Tell(results ...Result) error { return s.tellAll(results, nil) }

// Progress implements Strategy.
func (s *Grid) Progress() Progress { return s.progress(s.finished) }

// Counts implements Strategy.
func (s *Grid) Counts() Counts { return s.counts(s.finished) }

func (s *Grid) finished() bool { return s.Exhausted || s.evaluations() >= s.MaxTrials }
