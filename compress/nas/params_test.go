package nas

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
)

// paramsYAML is a space over every kind of parameter: architecture genes
// (conditional per layer), compression genes and training hyperparameters.
const paramsYAML = `
params:
  conv_depth: {type: int, low: 0, high: 2}
  conv_channels: {type: categorical, choices: [4, 8, 16], when: {conv_depth: [1, 2]}}
  conv_kernel_1: {type: categorical, choices: [3, 5], when: {conv_depth: [1, 2]}}
  conv_kernel_2: {type: categorical, choices: [3], when: {conv_depth: 2}}
  dense_depth: {type: int, low: 1, high: 2}
  dense_width: {type: int, low: 16, high: 128, step: 16}
  sparsity: {type: float, low: 0, high: 0.9}
  weight_bits: {type: categorical, choices: [8, 32]}
  kmeans_bits: {type: int, low: 0, high: 4, step: 2, when: {weight_bits: [32]}}
  lr: {type: log, low: 1e-4, high: 0.1}
  weight_decay: {type: log, low: 1e-6, high: 1e-2}
  optimizer: {type: categorical, choices: [sgd, adam]}
  momentum: {type: float, low: 0.5, high: 0.99, when: {optimizer: sgd}}
  batch_size: {type: categorical, choices: [32, 64, 128]}
  epochs: {type: int, low: 1, high: 3}
constraints: {max_params: 300000}
`

// TestParamSpaceRejects checks that each bad space fails with the path of
// the offending key in the message.
func TestParamSpaceRejects(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"params: {lr: {type: exp, low: 1, high: 2}}", `params.lr.type: "exp", want one of`},
		{"params: {lr: {low: 0.1, high: 0.2}}", "params.lr.type: required"},
		{"params: {lr: {type: float, low: 0.1, high: 0.1}}", "params.lr.high: 0.1 equals low: an empty range"},
		{"params: {lr: {type: float, low: 0.2, high: 0.1}}", "params.lr.high: 0.1 is below low 0.2"},
		{"params: {lr: {type: log, low: 0, high: 0.1}}", "params.lr.low: 0, must be > 0 for log-uniform"},
		{"params: {lr: {type: float, lo: 0.1, high: 0.2}}", `params.lr.lo: unknown key`},
		{"params: {lr: {type: float, low: x, high: 0.2}}", `params.lr.low: x, want a number`},
		{"params: {lr: {type: float, low: .nan, high: 0.2}}", `params.lr: low and high must be finite`},
		{"params: {lr: {type: float, low: 0.1, high: 0.2, step: 0.1}}", `params.lr.step: only for int`},
		{"params: {epochs: {type: int, low: 1, high: 3, step: 0.5}}", `params.epochs.step: 0.5, want a positive integer`},
		{"params: {epochs: {type: int, low: 1.5, high: 3}}", `params.epochs: low 1.5 and high 3 must be integers`},
		{"params: {optimizer: {type: categorical, choices: []}}", "params.optimizer.choices: no choices"},
		{"params: {optimizer: {type: categorical, choices: [sgd, sgd]}}", "params.optimizer.choices: duplicate choices"},
		{"params: {optimizer: {type: categorical, choices: [sgd, [1]]}}", "params.optimizer.choices[1]"},
		{"params: {momentum: {type: float, low: 0.5, high: 0.9, when: {optimiser: [sgd]}}}", `params.momentum.when.optimiser: no parameter "optimiser"`},
		{"params: {optimizer: {type: categorical, choices: [sgd, adam]}, momentum: {type: float, low: 0.5, high: 0.9, when: {optimizer: [rmsprop]}}}",
			"params.momentum.when.optimizer: rmsprop is not a value optimizer can take"},
		{"params: {lr: {type: log, low: 0.01, high: 0.1, when: {momentum: [0.5]}}, momentum: {type: float, low: 0.5, high: 0.9, when: {lr: [0.01]}}}",
			"params.lr.when: conditions form a cycle lr → momentum → lr"},
		{"params: {lr: {type: log, low: 0.01, high: 0.1, when: {lr: [0.01]}}}", "params.lr.when.lr: a parameter cannot depend on itself"},
		{"params: {learning_rate: {type: log, low: 0.01, high: 0.1}}", "params.learning_rate: unknown parameter"},
		{"params: {conv_channels_0: {type: int, low: 1, high: 4}}", "params.conv_channels_0: unknown parameter"},
		{"params: {optimizer: {type: float, low: 0, high: 1}}", "params.optimizer.type: float, want categorical"},
		{"params: {optimizer: {type: categorical, choices: [sgd, rmsprop]}}", `params.optimizer: "rmsprop", want one of [sgd adam]`},
		{"params: {conv_depth: {type: float, low: 0, high: 2}}", "params.conv_depth.type: float, want int or categorical"},
		{"params: {sparsity: {type: float, low: 0, high: 1}}", "params.sparsity: 1, want in [0, 1)"},
		{"params: {weight_bits: {type: int, low: 4, high: 8}}", "params.weight_bits: 5, want 4, 8 or 32"},
		{"params: {conv_kernel: {type: categorical, choices: [3, 4]}}", "params.conv_kernel: 4, want odd"},
		{"params: {conv_depth: {type: int, low: 0, high: 2}, conv_kernel: {type: categorical, choices: [3]}}",
			"params.conv_depth: reaches 1 layers, but neither conv_channels_1 nor conv_channels is a parameter"},
		{"params: {conv_depth: {type: int, low: 0, high: 6}, conv_kernel: {type: categorical, choices: [3]}, conv_channels: {type: categorical, choices: [3]}}",
			"params.conv_depth: 6 blocks pool a 28x28 input below 1x1"},
		{"params: {lr: {type: log, low: 0.01, high: 0.1}}\nconv: {depth: [1]}", "conv: not allowed together with params"},
		{"params: {}", "params: no parameters"},
		{"params: [lr]", "params: want a mapping"},
		{"params: {lr: 3}", "params.lr: want a mapping"},
	} {
		_, err := ParseSpace([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSpace(%q) = %v, want an error containing %q", tc.doc, err, tc.want)
		}
	}
}

// TestParamSampleRespectsSpace draws many points and checks every value's
// type, bounds and grid, and that a parameter is present exactly when its
// condition holds.
func TestParamSampleRespectsSpace(t *testing.T) {
	s, err := ParseSpace([]byte(paramsYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := newRNG(3)
	below := 0 // lr draws below the geometric middle of its range
	const n = 4000
	seen := map[string]map[any]bool{}
	for range n {
		v := s.Params.Sample(&r)
		for name, x := range v {
			p := s.Params[name]
			if !p.contains(x) {
				t.Fatalf("%s = %v (%T) is not a value of %+v", name, x, x, p)
			}
			if seen[name] == nil {
				seen[name] = map[any]bool{}
			}
			if p.Type != ParamFloat && p.Type != ParamLog {
				seen[name][x] = true
			}
		}
		for _, name := range []string{"conv_channels", "conv_kernel_1", "conv_kernel_2", "kmeans_bits", "momentum"} {
			_, has := v[name]
			want := map[string]bool{
				"conv_channels": v["conv_depth"] != 0.0, "conv_kernel_1": v["conv_depth"] != 0.0,
				"conv_kernel_2": v["conv_depth"] == 2.0, "kmeans_bits": v["weight_bits"] == 32.0,
				"momentum": v["optimizer"] == "sgd"}[name]
			if has != want {
				t.Fatalf("%s present %v in %v", name, has, v)
			}
		}
		if v["lr"].(float64) < math.Sqrt(1e-4*0.1) {
			below++
		}
		c, err := s.valuesCandidate(v)
		if err != nil {
			continue // over max_params
		}
		if len(c.Genome.Conv) != int(v["conv_depth"].(float64)) || len(c.Genome.Dense) != int(v["dense_depth"].(float64)) {
			t.Fatalf("genome %v from %v", c.Genome, v)
		}
		if tr := c.Training(); tr.LR != v["lr"] || tr.Epochs != int(v["epochs"].(float64)) || tr.BatchSize == 0 {
			t.Fatalf("training %+v from %v", tr, v)
		}
	}
	// Every grid value is reached: dense_width has 8, kmeans_bits 3.
	for name, want := range map[string]int{"dense_width": 8, "kmeans_bits": 3, "conv_depth": 3, "epochs": 3, "optimizer": 2} {
		if len(seen[name]) != want {
			t.Errorf("%s took %d distinct values, want %d: %v", name, len(seen[name]), want, seen[name])
		}
	}
	// Log-uniform: half the draws below the geometric middle (binomial
	// sd 32 at n=4000; allow 5 sd).
	if math.Abs(float64(below)-n/2) > 160 {
		t.Errorf("lr below its geometric middle %d of %d times, want about half", below, n)
	}
}

// TestParamSpaceJSONRoundTrip checks that a space and its points read back
// from JSON (as from a saved strategy) equal the originals.
func TestParamSpaceJSONRoundTrip(t *testing.T) {
	s, err := ParseSpace([]byte(paramsYAML))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Space
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if !bytes.Equal(b, b2) {
		t.Fatalf("space changed through JSON:\n%s\n%s", b, b2)
	}
	r := newRNG(1)
	v := s.Params.Sample(&r)
	var vb Values
	if err := json.Unmarshal(v.encode(), &vb); err != nil {
		t.Fatal(err)
	}
	for k, x := range v {
		if vb[k] != x {
			t.Errorf("%s: %v (%T) read back as %v (%T)", k, x, x, vb[k], vb[k])
		}
	}
}

// TestBuiltinAsParams checks that the built-in example space written as
// typed parameters (testdata/builtin-space.yaml) is what ParamSpace
// derives, and that on a small space both reach exactly the same genomes.
func TestBuiltinAsParams(t *testing.T) {
	doc, err := os.ReadFile("testdata/builtin-space.yaml")
	if err != nil {
		t.Fatal(err)
	}
	typed, err := ParseSpace(doc)
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := ParseSpace([]byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(typed)
	b, _ := json.Marshal(builtin.ParamSpace())
	if !bytes.Equal(a, b) {
		t.Fatalf("testdata/builtin-space.yaml:\n%s\nParamSpace of the example:\n%s", a, b)
	}

	small := Space{Input: []int{1, 28, 28}, Classes: 10,
		Conv:        ConvSpace{Depth: []int{0, 2}, Channels: []int{4, 8}, Kernels: []int{3}},
		Dense:       DenseSpace{Depth: []int{1}, Widths: []int{16, 32}},
		Activations: []string{"relu"},
		Compression: CompressionSpace{Sparsity: []float64{0, 0.5}, WeightBits: []int{32}, KMeansBits: []int{0}}}
	want := map[string]bool{}
	g, err := New(Config{Strategy: StrategyGrid, Space: small, MaxTrials: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := g.Ask(1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		want[tr.Candidate.Hash] = true
	}
	ps := small.ParamSpace()
	got := map[string]bool{}
	r := newRNG(5)
	for range 2000 {
		c, err := ps.sample(&r, nil)
		if err != nil {
			t.Fatal(err)
		}
		got[c.Hash] = true
	}
	if len(want) != (1+4)*2*2 || len(got) != len(want) {
		t.Fatalf("grid reached %d genomes, the typed space %d", len(want), len(got))
	}
	for h := range got {
		if !want[h] {
			t.Fatalf("typed space reached genome %s outside the built-in space", h)
		}
	}
}

// runSweep drives a strategy to completion, asking batch trials at a time
// and telling every result before the next ask; with restart, the strategy
// is saved and loaded before every ask. It returns every trial asked and
// the strategy at the end.
func runSweep(t *testing.T, s Strategy, batch int, restart bool, eval func(Trial) Result) ([]Trial, Strategy) {
	t.Helper()
	var all []Trial
	for range 10000 {
		if restart {
			doc, err := Save(s)
			if err != nil {
				t.Fatal(err)
			}
			if s, err = Load(doc); err != nil {
				t.Fatal(err)
			}
		}
		ts, err := s.Ask(batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) == 0 {
			return all, s
		}
		all = append(all, ts...)
		res := make([]Result, len(ts))
		for i, tr := range ts {
			res[i] = eval(tr)
		}
		if err := s.Tell(res...); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("sweep did not finish")
	return nil, nil
}

// synthSpace is the synthetic benchmark: four floats (one log-uniform) and
// a categorical.
const synthSpace = `
params:
  lr: {type: log, low: 1e-4, high: 1}
  weight_decay: {type: float, low: 0, high: 0.1}
  momentum: {type: float, low: 0.01, high: 0.99}
  sparsity: {type: float, low: 0, high: 0.9}
  optimizer: {type: categorical, choices: [sgd, adam]}
`

// synthLoss is a shifted quadratic over the parameters scaled to [0, 1]
// (lr in its logarithm), plus 0.25 for the wrong optimizer; its minimum 0
// is at lr 10^-1.2, weight_decay 0.02, momentum 0.7, sparsity 0.6, adam.
func synthLoss(v Values) float64 {
	u := []float64{
		(math.Log10(v["lr"].(float64)) + 4) / 4,
		v["weight_decay"].(float64) / 0.1,
		(v["momentum"].(float64) - 0.01) / 0.98,
		v["sparsity"].(float64) / 0.9,
	}
	c := []float64{(-1.2 + 4) / 4, 0.02 / 0.1, (0.7 - 0.01) / 0.98, 0.6 / 0.9}
	f := 0.0
	for i := range u {
		f += (u[i] - c[i]) * (u[i] - c[i])
	}
	if v["optimizer"] != "adam" {
		f += 0.25
	}
	return f
}

func synthEval(tr Trial) Result {
	return Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: Objectives{Accuracy: 1 - synthLoss(tr.Candidate.Values),
		Params: tr.Candidate.Params, Bytes: int(1e6 * (1 - tr.Candidate.Values["sparsity"].(float64)))}}
}

// bestLoss runs a sweep of trials and returns the smallest loss found and
// the strategy as it ended.
func bestLoss(t *testing.T, strategy string, seed int64, trials int) (float64, Strategy) {
	t.Helper()
	space, err := ParseSpace([]byte(synthSpace))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Strategy: strategy, Space: space, Seed: seed, MaxTrials: trials})
	if err != nil {
		t.Fatal(err)
	}
	best := math.Inf(1)
	asked, end := runSweep(t, s, 1, false, synthEval)
	for _, tr := range asked {
		best = math.Min(best, synthLoss(tr.Candidate.Values))
	}
	return best, end
}

// mean is the arithmetic mean of xs.
func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TestTPEBeatsRandom compares the best loss after 60 trials, averaged over
// 10 seeds, of TPE and random search on the synthetic objective, and asks
// TPE's mean to be below half of random's. Measured over 200 seeds,
// random's best loss has mean 0.075 and standard deviation 0.042, so a
// mean of 10 has 0.013: random would have to fall ~3.6 deviations below
// its mean to meet TPE's 0.014 (mean over 50 seeds) at twice the value.
func TestTPEBeatsRandom(t *testing.T) {
	const seeds, trials = 10, 60
	var tpe, rnd []float64
	for seed := range int64(seeds) {
		b, _ := bestLoss(t, StrategyTPE, seed, trials)
		r, _ := bestLoss(t, StrategyRandom, seed, trials)
		tpe, rnd = append(tpe, b), append(rnd, r)
	}
	mt, mr := mean(tpe), mean(rnd)
	t.Logf("best loss after %d trials over %d seeds: tpe mean %.4f (min %.4f max %.4f), random mean %.4f (min %.4f max %.4f)",
		trials, seeds, mt, slices.Min(tpe), slices.Max(tpe), mr, slices.Min(rnd), slices.Max(rnd))
	if mt > 0.5*mr {
		t.Errorf("tpe mean %.4f, random mean %.4f: tpe should be below half of random's", mt, mr)
	}
}

// TestTPEDeterministic checks that a seed fixes TPE's sequence, that a
// different seed changes it, and that saving and loading before every ask
// gives the same trials as an uninterrupted run, for one and several
// objectives.
func TestTPEDeterministic(t *testing.T) {
	space, err := ParseSpace([]byte(synthSpace))
	if err != nil {
		t.Fatal(err)
	}
	seq := func(seed int64, objectives []string, restart bool) string {
		s, err := New(Config{Strategy: StrategyTPE, Space: space, Seed: seed, MaxTrials: 40, Objectives: objectives, StartupTrials: 8})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		trials, _ := runSweep(t, s, 3, restart, synthEval)
		for _, tr := range trials {
			b.WriteString(tr.ID + " " + tr.Candidate.Hash + " " + string(tr.Candidate.Values.encode()) + "\n")
		}
		return b.String()
	}
	for _, obj := range [][]string{nil, {ObjectiveAccuracy, ObjectiveBytes}} {
		a := seq(7, obj, false)
		if strings.Count(a, "\n") != 40 {
			t.Fatalf("objectives %v: %d trials, want 40", obj, strings.Count(a, "\n"))
		}
		if b := seq(7, obj, false); a != b {
			t.Errorf("objectives %v: same seed, different trials", obj)
		}
		if b := seq(7, obj, true); a != b {
			t.Errorf("objectives %v: restarted run differs from the uninterrupted one:\n%s\n%s", obj, a, b)
		}
		if b := seq(8, obj, false); a == b {
			t.Errorf("objectives %v: seeds 7 and 8 gave the same trials", obj)
		}
	}
}

// TestTPEBuiltinSpace runs TPE on the built-in space (which it searches as
// the typed space ParamSpace derives) with failures and retries, checking
// it finishes with distinct candidates of the built-in space.
func TestTPEBuiltinSpace(t *testing.T) {
	s, err := New(Config{Strategy: StrategyTPE, Space: testSpace(), Seed: 2, MaxTrials: 80})
	if err != nil {
		t.Fatal(err)
	}
	var genes func(Trial) Genes = func(tr Trial) Genes {
		// Re-encode the genome in testSpace to score it on the landscape.
		sp := testSpace()
		rad := sp.radix()
		g := make(Genes, len(rad))
		l := sp.layout()
		gn := tr.Candidate.Genome
		g[l.convDepth] = slices.Index(sp.Conv.Depth, len(gn.Conv))
		for i, c := range gn.Conv {
			g[l.convCh+i] = slices.Index(sp.Conv.Channels, c.Channels)
			g[l.convK+i] = slices.Index(sp.Conv.Kernels, c.Kernel)
		}
		g[l.denseDepth] = slices.Index(sp.Dense.Depth, len(gn.Dense))
		for i, w := range gn.Dense {
			g[l.denseW+i] = slices.Index(sp.Dense.Widths, w)
		}
		g[l.sparsity] = slices.Index(sp.Compression.Sparsity, gn.Compression.Sparsity)
		g[l.wbits] = slices.Index(sp.Compression.WeightBits, gn.Compression.WeightBits)
		g[l.kmbits] = slices.Index(sp.Compression.KMeansBits, gn.Compression.KMeansBits)
		return g
	}
	trials, s := runSweep(t, s, 4, true, func(tr Trial) Result {
		g := genes(tr)
		if slices.Contains(g, -1) {
			t.Fatalf("genome %v is outside the built-in space", tr.Candidate.Genome)
		}
		if failing(tr) {
			return Result{ID: tr.ID, Attempt: tr.Attempt, Err: "synthetic failure"}
		}
		return Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: Objectives{Accuracy: landscape(g, tr.Epochs)}}
	})
	p := s.Progress()
	if !p.Done || len(p.Records) != 80 || p.Completed+p.Failed != 80 {
		t.Fatalf("done %v, %d records, %d completed, %d failed after %d asks", p.Done, len(p.Records), p.Completed, p.Failed, len(trials))
	}
	hashes := map[string]bool{}
	for _, r := range p.Records {
		if hashes[r.Trial.Candidate.Hash] {
			t.Fatalf("genome %s asked twice", r.Trial.Candidate.Hash)
		}
		hashes[r.Trial.Candidate.Hash] = true
	}
}

// FuzzParseSpace checks that no document makes ParseSpace panic, and that
// every space it accepts with params samples points of its own, which
// survive a JSON round trip.
func FuzzParseSpace(f *testing.F) {
	f.Add([]byte(paramsYAML))
	f.Add([]byte(synthSpace))
	f.Add([]byte(exampleYAML))
	f.Add([]byte("params: {lr: {type: log, low: 1e-3, high: 1, when: {optimizer: [sgd]}}, optimizer: {type: categorical, choices: [sgd, adam]}}"))
	f.Add([]byte("params: {conv_depth: {type: int, low: 0, high: 3}, conv_channels: {type: int, low: 1, high: 64, step: 7}, conv_kernel: {type: categorical, choices: [1, 3]}}"))
	f.Add([]byte("policy: {sparsity: {type: float, low: 0.2, high: 0.9}, weight_bits: {type: categorical, choices: [4, 8]}}\nconstraints: {max_bytes: 30000}"))
	base := policyBase(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := ParseSpace(doc)
		if err != nil || s.Params == nil {
			return
		}
		if s.Policy != nil {
			if s, err = s.ResolvePolicy(base); err != nil {
				return // a layers entry the model lacks
			}
		}
		r := newRNG(int64(len(doc)))
		for range 3 {
			v := s.Params.Sample(&r)
			for k, x := range v {
				if !s.Params[k].contains(x) {
					t.Fatalf("%s = %v outside %+v", k, x, s.Params[k])
				}
			}
			var back Values
			if err := json.Unmarshal(v.encode(), &back); err != nil {
				t.Fatal(err)
			}
			if _, err := s.valuesCandidate(v); err != nil && !strings.Contains(err.Error(), ErrInfeasible.Error()) {
				t.Fatalf("candidate of %v: %v", v, err)
			}
		}
	})
}

// TestParamsRandomAndASHA runs random (with epochs a parameter) and asha
// (epochs its own) over typed spaces, with restarts, and checks each
// finishes with distinct trials whose budgets follow the values.
func TestParamsRandomAndASHA(t *testing.T) {
	space, err := ParseSpace([]byte(paramsYAML))
	if err != nil {
		t.Fatal(err)
	}
	// Accuracy from the hash: any deterministic score will do.
	eval := func(tr Trial) Result {
		acc := float64(tr.Candidate.Hash[0]) / 256
		return Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: Objectives{Accuracy: acc}}
	}
	rs, err := New(Config{Strategy: StrategyRandom, Space: space, Seed: 1, MaxTrials: 50})
	if err != nil {
		t.Fatal(err)
	}
	trials, rs := runSweep(t, rs, 5, true, eval)
	if c := rs.Counts(); !c.Done || c.Trials != 50 {
		t.Fatalf("random: counts %+v", c)
	}
	seen := map[string]bool{}
	for _, tr := range trials {
		if tr.Epochs != tr.Candidate.Training().Epochs {
			t.Fatalf("trial %s trains %d epochs, its values say %d", tr.ID, tr.Epochs, tr.Candidate.Training().Epochs)
		}
		if seen[tr.Candidate.Hash] {
			t.Fatalf("random asked %s twice", tr.Candidate.Hash)
		}
		seen[tr.Candidate.Hash] = true
	}

	var csv bytes.Buffer
	if err := WriteCSV(&csv, rs.Progress().Records); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(csv.String(), "\n"); !strings.Contains(lines[0], ",values,") || !strings.Contains(lines[1], `""lr"":`) {
		t.Fatalf("csv lacks the values column:\n%s\n%s", lines[0], lines[1])
	}

	delete(space.Params, KeyEpochs)
	as, err := New(Config{Strategy: StrategyASHA, Space: space, Seed: 1, MaxTrials: 27, MaxEpochs: 9})
	if err != nil {
		t.Fatal(err)
	}
	trials, as = runSweep(t, as, 4, true, eval)
	if c := as.Counts(); !c.Done || c.Trials <= 27 {
		t.Fatalf("asha: counts %+v (want promotions beyond the 27 configurations)", c)
	}
	if slices.Max(slices.Collect(func(yield func(int) bool) {
		for _, tr := range trials {
			if !yield(tr.Epochs) {
				return
			}
		}
	})) != 9 {
		t.Fatal("asha promoted nothing to the top rung")
	}
}

// TestTrainingApply checks that a point's training values replace the
// evaluator's configuration and that unset ones leave it alone.
func TestTrainingApply(t *testing.T) {
	base := nn.TrainConfig{LR: 0.05, BatchSize: 64, Optimizer: "sgd", Seed: 9}
	c := Candidate{Values: Values{KeyLR: 0.003, KeyOptimizer: "adam", KeyBatchSize: 32.0, KeyWeightDecay: 1e-4, KeyEpochs: 2.0}}
	got := c.Training().apply(base)
	want := nn.TrainConfig{LR: 0.003, BatchSize: 32, Optimizer: "adam", WeightDecay: 1e-4, Seed: 9}
	if got.LR != want.LR || got.BatchSize != want.BatchSize || got.Optimizer != want.Optimizer || got.WeightDecay != want.WeightDecay ||
		got.Seed != want.Seed || got.Momentum != 0 || got.Epochs != 0 {
		t.Fatalf("applied %+v, want %+v", got, want)
	}
	if got := (Candidate{}).Training().apply(base); got.LR != base.LR || got.BatchSize != base.BatchSize || got.Optimizer != base.Optimizer {
		t.Fatalf("no values changed the config: %+v", got)
	}
}

// TestGenomeValues checks that GenomeValues gives, for every genome of a
// built-in space, a point of its typed twin: every twin parameter active
// under it has a value among its choices, no other parameter has one, and
// the point is the same candidate as the genome.
func TestGenomeValues(t *testing.T) {
	sp := testSpace()
	twin := sp.ParamSpace()
	g, err := New(Config{Strategy: StrategyGrid, Space: sp, MaxTrials: 100000})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := g.Ask(100000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) < 100 {
		t.Fatalf("the grid has %d genomes", len(ts))
	}
	for _, tr := range ts {
		v := GenomeValues(tr.Candidate.Genome)
		for name, p := range twin.Params {
			x, has := v[name]
			if active := twin.Params.active(name, v); has != active || (has && !p.contains(x)) {
				t.Fatalf("genome %v: %s = %v (set %v), active %v in the twin", tr.Candidate.Genome, name, x, has, active)
			}
		}
		for name := range v {
			if _, ok := twin.Params[name]; !ok {
				t.Fatalf("genome %v: %s is not a twin parameter", tr.Candidate.Genome, name)
			}
		}
		c, err := twin.valuesCandidate(v)
		if err != nil || c.Hash != tr.Candidate.Hash {
			t.Fatalf("genome %v: twin candidate %v, %v", tr.Candidate.Genome, c.Genome, err)
		}
	}
}
