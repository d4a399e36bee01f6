package nas

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/safetensors"
)

// policyBase builds a 784-64-32-10 network (seed 1, untrained).
func policyBase(t testing.TB) *nn.Network {
	t.Helper()
	a, err := testSpace().Arch(Genome{Dense: []int{64, 32}, Activation: "relu", Compression: Compression{WeightBits: 32}})
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

// policySpace parses doc and resolves it against net.
func policySpace(t *testing.T, doc string, net *nn.Network) Space {
	t.Helper()
	s, err := ParseSpace([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if s, err = s.ResolvePolicy(net); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("resolved space: %v", err)
	}
	return s
}

func TestPolicyResolveAndCost(t *testing.T) {
	net := policyBase(t)
	s := policySpace(t, "policy: {sparsity: {type: float, low: 0, high: 0.9}, weight_bits: {type: categorical, choices: [4, 8]}}", net)
	var names []string
	for _, l := range s.Policy.Model {
		names = append(names, l.Name)
	}
	if strings.Join(names, " ") != "layers.1.weight layers.3.weight layers.5.weight" {
		t.Fatalf("searched layers %v", names)
	}
	want := []PolicyLayer{{"layers.1.weight", 784 * 64, 784 * 64, 64}, {"layers.3.weight", 64 * 32, 64 * 32, 32}, {"layers.5.weight", 320, 320, 10}}
	for i, l := range s.Policy.Model {
		if l != want[i] {
			t.Errorf("layer %d: %+v, want %+v", i, l, want[i])
		}
	}
	if s.Policy.FixedMACs != 0 || s.Policy.FixedParams != 106 {
		t.Errorf("fixed part %d MACs %d params", s.Policy.FixedMACs, s.Policy.FixedParams)
	}
	// The unpruned model at 8 bits costs exactly its artifact's length.
	art, err := policyArtifact(context.Background(), net, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dense8 := Values{}
	for _, l := range s.Policy.Model {
		dense8[PolicySparsityKey(l.Name)], dense8[PolicyBitsKey(l.Name)] = 0.0, 8.0
	}
	c8, err := s.valuesCandidate(dense8)
	if err != nil {
		t.Fatal(err)
	}
	if c8.Bytes != len(art) {
		t.Errorf("dense int8 policy costs %d bytes, its artifact is %d", c8.Bytes, len(art))
	}
	if len(s.Params) != 6 {
		t.Errorf("params %v, want a sparsity and a weight_bits per layer", sortedKeys(s.Params))
	}
	v := Values{PolicySparsityKey("layers.1.weight"): 0.75, PolicyBitsKey("layers.1.weight"): 4.0,
		PolicySparsityKey("layers.3.weight"): 0.0, PolicyBitsKey("layers.3.weight"): 8.0,
		PolicySparsityKey("layers.5.weight"): 0.5, PolicyBitsKey("layers.5.weight"): 8.0}
	c, err := s.valuesCandidate(v)
	if err != nil {
		t.Fatal(err)
	}
	// Against dense int8: layer 1 at 4 bits is stored dense (the format
	// has no sparse int4), half its 50,176 bytes; layer 3 unchanged;
	// layer 5 keeps 160 codes with an index byte each, as many bytes as
	// dense.
	wantBytes := c8.Bytes - 25088
	wantMACs := int64(12544 + 2048 + 160)
	if c.Bytes != wantBytes || c.MACs != wantMACs || c.Params != net.NumParams() {
		t.Errorf("candidate bytes %d MACs %d params %d, want %d, %d, %d", c.Bytes, c.MACs, c.Params, wantBytes, wantMACs, net.NumParams())
	}
	// Over a budget the draw is repaired: every sparsity moves toward
	// 0.9 by the same fraction, just enough. (With layer 1 at 8 bits, so
	// that pruning it saves bytes.)
	v[PolicyBitsKey("layers.1.weight")] = 8.0
	for _, lim := range []Constraints{{MaxBytes: c8.Bytes / 2}, {MaxMACs: wantMACs / 2}} {
		s.Constraints = lim
		r, err := s.valuesCandidate(v)
		if err != nil {
			t.Fatalf("%+v: %v", lim, err)
		}
		if lim.MaxBytes > 0 && r.Bytes > lim.MaxBytes || lim.MaxMACs > 0 && r.MACs > lim.MaxMACs {
			t.Errorf("%+v: repaired to %d bytes %d MACs", lim, r.Bytes, r.MACs)
		}
		lambda := -1.0
		for name, x := range v {
			if gene, _, _ := policyKey(name); gene == KeySparsity {
				y := r.Values[name].(float64)
				l := (y - x.(float64)) / (0.9 - x.(float64))
				if !(l > 0) || lambda >= 0 && math.Abs(l-lambda) > 1e-9 {
					t.Errorf("%+v: %s %v → %v (fraction %v, others %v)", lim, name, x, y, l, lambda)
				}
				lambda = l
			}
		}
		if r.Values[PolicyBitsKey("layers.1.weight")] != 8.0 {
			t.Errorf("repair changed the precision: %v", r.Values)
		}
	}
	s.Constraints = Constraints{MaxBytes: c8.Bytes / 8}
	if _, err := s.valuesCandidate(v); !errors.Is(err, ErrInfeasible) {
		t.Errorf("beyond repair: %v", err)
	}
}

func TestPolicyValidation(t *testing.T) {
	net := policyBase(t)
	for doc, want := range map[string]string{
		"policy: {sparsity: {type: float, low: 0, high: 1.2}}":                                "policy.sparsity: 1.2, want in [0, 1)",
		"policy: {weight_bits: {type: categorical, choices: [2, 8]}}":                         "policy.weight_bits: 2, want 4 or 8",
		"policy: {weight_bits: {type: float, low: 4, high: 8}}":                               "policy.weight_bits.type: float, want int or categorical",
		"policy: {weight_bits: {type: categorical, choices: [8, 32]}}":                        "policy.weight_bits: 32, want 4 or 8",
		"policy: {}\nparams: {dense_depth: {type: int, low: 1, high: 2}}":                     "params.dense_depth: a policy search keeps its model's architecture",
		"policy: {}\nconstraints: {max_params: 10}":                                           "constraints.max_params: a policy search keeps its model's parameters",
		"constraints: {max_macs: 10}":                                                         "constraints.max_macs: only in a policy search",
		"policy: {}\nparams: {'sparsity[layers.9.weight]': {type: float, low: 0, high: 0.5}}": "no searched layer",
	} {
		if _, err := ParseSpace([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", doc, err, want)
		}
	}
	s, err := ParseSpace([]byte("policy: {layers: [layers.1.weight, layers.2.weight]}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolvePolicy(net); err == nil || !strings.Contains(err.Error(), `space.policy.layers[1]: "layers.2.weight" is not a Dense or Conv2D weight`) {
		t.Errorf("unknown layer: %v", err)
	}
	if _, err := New(Config{Strategy: StrategyRandom, MaxTrials: 3, Space: s}); err == nil || !strings.Contains(err.Error(), "not resolved") {
		t.Errorf("unresolved policy space: %v", err)
	}
	ok := policySpace(t, "policy: {}", net)
	if err := (Config{Strategy: StrategyPBT, MaxTrials: 8, Space: ok}).Validate(); err == nil || !strings.Contains(err.Error(), "strategy: pbt") {
		t.Errorf("pbt over a policy: %v", err)
	}
}

// TestPolicySeedsAskedFirst: a sensitivity report's allocation under a
// byte budget is the first trial every sampling strategy asks; then the
// draws, all within the budget.
func TestPolicySeedsAskedFirst(t *testing.T) {
	net := policyBase(t)
	s := policySpace(t, "policy: {weight_bits: {type: categorical, choices: [4, 8]}}\nconstraints: {max_bytes: 30000}\nparams: {lr: {type: log, low: 0.001, high: 0.1}}", net)
	// Layer 1 tolerates pruning, layer 3 less, layer 5 hardly.
	curve := func(drop float64) []prune.Point {
		var pts []prune.Point
		for _, sp := range []float64{0.5, 0.7, 0.8, 0.9, 0.95} {
			pts = append(pts, prune.Point{Sparsity: sp, Accuracy: 0.95 - drop*sp*sp})
		}
		return pts
	}
	curves := []SensitivityCurve{{"layers.1.weight", curve(0.05)}, {"layers.3.weight", curve(0.3)}, {"layers.5.weight", curve(0.9)},
		{"layers.9.weight", curve(0)}} // a curve of no searched layer is ignored
	s, err := s.PolicySeeds(curves, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Policy.Seeds) != 2 {
		t.Fatalf("seeds %v, want one per precision", s.Policy.Seeds)
	}
	for i, seed := range s.Policy.Seeds {
		c, err := s.valuesCandidate(seed)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		a := s.Policy.Assignment(seed)
		if wantBits := []int{8, 4}[i]; a["layers.1.weight"].Bits != wantBits {
			t.Errorf("seed %d bits %d, want %d", i, a["layers.1.weight"].Bits, wantBits)
		}
		// At 8 bits the budget needs pruning, allocated by tolerance; at 4
		// bits (stored dense, pruning saves nothing) it is met unpruned.
		if i == 0 && !(a["layers.1.weight"].Sparsity > a["layers.3.weight"].Sparsity && a["layers.3.weight"].Sparsity >= a["layers.5.weight"].Sparsity) ||
			i == 1 && a["layers.1.weight"].Sparsity != 0 {
			t.Errorf("seed %d does not follow the curves: %+v", i, a)
		}
		t.Logf("seed %d: %d bytes %+v", i, c.Bytes, a)
	}
	for _, strategy := range []string{StrategyRandom, StrategyTPE, StrategyASHA, StrategyCMAES} {
		st, err := New(Config{Strategy: strategy, MaxTrials: 12, Seed: 4, Space: s})
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := st.(*CMAES); ok {
			// The first seed is the initial mean; lr, which seeds do not
			// set, starts in the middle.
			for i, name := range c.Dims {
				want := 0.5
				if v, ok := s.Policy.Seeds[0][name].(float64); ok {
					p := s.Params[name]
					want = (v - p.Low) / (p.High - p.Low)
				}
				if math.Abs(c.Mean[i]-want) > 1e-12 {
					t.Errorf("cmaes mean %s = %v, want the seed's %v", name, c.Mean[i], want)
				}
			}
		}
		trials, err := st.Ask(6)
		if err != nil {
			t.Fatal(err)
		}
		if len(trials) < 2 {
			t.Fatalf("%s asked %d trials", strategy, len(trials))
		}
		for i, tr := range trials {
			a := s.Policy.Assignment(tr.Candidate.Values)
			if i < 2 {
				seed := s.Policy.Assignment(s.Policy.Seeds[i])
				for name, lp := range seed {
					if a[name] != lp {
						t.Errorf("%s trial %d: %s %+v, seed %+v", strategy, i, name, a[name], lp)
					}
				}
				if _, ok := tr.Candidate.Values[KeyLR].(float64); !ok {
					t.Errorf("%s seed trial %d has no lr: %v", strategy, i, tr.Candidate.Values)
				}
			}
			if tr.Candidate.Bytes > 30000 {
				t.Errorf("%s trial %d: %d bytes over max_bytes", strategy, i, tr.Candidate.Bytes)
			}
		}
	}
}

// TestPolicyTrainer fine-tunes policies of a base net trained for one
// epoch on 3,000 MNIST images: each layer ends with its sparsity and
// precision, accuracy stays useful, the size is the policy's cost, and a
// run interrupted after its first epoch resumes to the same weights.
func TestPolicyTrainer(t *testing.T) {
	sets, err := mnist()
	if err != nil {
		t.Fatal(err)
	}
	train, test := sets[0].Subset(3000), sets[1].Subset(500)
	base := policyBase(t)
	if _, err := nn.Train(context.Background(), base, train, nn.TrainConfig{Epochs: 2, LR: 0.05, Seed: 1}, nil); err != nil {
		t.Fatal(err)
	}
	baseAcc, _, err := nn.EvaluateContext(context.Background(), base, test)
	if err != nil {
		t.Fatal(err)
	}
	s := policySpace(t, "policy: {}", base)
	v := Values{PolicySparsityKey("layers.1.weight"): 0.9, PolicyBitsKey("layers.1.weight"): 4.0,
		PolicySparsityKey("layers.3.weight"): 0.5, PolicyBitsKey("layers.3.weight"): 8.0,
		PolicySparsityKey("layers.5.weight"): 0.0, PolicyBitsKey("layers.5.weight"): 8.0}
	c, err := s.valuesCandidate(v)
	if err != nil {
		t.Fatal(err)
	}
	trainer := func() *Trainer {
		return &Trainer{Space: s, Base: base, Train: train, Test: test, Config: nn.TrainConfig{LR: 0.02, Seed: 2, BatchSize: 32},
			LatencyRuns: 3, CalibImages: 32}
	}
	trial := Trial{ID: "t000000", Attempt: 1, Epochs: 2, Candidate: c}
	whole := &memCheckpoints{saved: map[int][]byte{}}
	o, run, err := trainer().EvaluateCheckpointed(context.Background(), trial, whole)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("base accuracy %.4f; policy %+v", baseAcc, o)
	// The artifact is the measured size: at most the estimate (index gaps
	// take under a byte), and close to it.
	if o.Bytes > c.Bytes || o.Bytes < c.Bytes*9/10 || o.Bytes != len(run.Artifact) || o.Params != base.NumParams() || !(o.LatencyInt8 > 0) {
		t.Errorf("objectives %+v, candidate bytes %d, artifact %d bytes", o, c.Bytes, len(run.Artifact))
	}
	loaded, err := model.Load(run.Artifact, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if acc, _, err := nn.EvaluateContext(context.Background(), loaded, test); err != nil || acc != o.Accuracy {
		t.Errorf("the artifact scores %v (%v), the trial reported %v", acc, err, o.Accuracy)
	}
	if o.Accuracy < baseAcc-0.05 {
		t.Errorf("accuracy %.4f after fine-tuning, base %.4f", o.Accuracy, baseAcc)
	}
	if want := int64(math.Round(0.1*784*64)) + 64*32/2 + 320; math.Abs(float64(o.MACs-want)) > 0.02*float64(want) {
		t.Errorf("kept MACs %d, want about %d", o.MACs, want)
	}
	if len(run.Curve) != 2 || run.Curve[0].Phase != PhaseFineTune {
		t.Errorf("curve %+v, want two fine-tuning epochs", run.Curve)
	}
	if base.NumParams() != 784*64+64+64*32+32+320+10 {
		t.Fatal("the base changed")
	}
	if w, _ := base.Param("layers.1.weight"); w.Mask != nil {
		t.Fatal("the trial masked the base model")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &memCheckpoints{saved: map[int][]byte{}, stopAt: 1, cancel: cancel}
	if _, _, err := trainer().EvaluateCheckpointed(ctx, trial, cp); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted: %v", err)
	}
	cancel()
	cp.stopAt = 0
	got, resumed, err := trainer().EvaluateCheckpointed(context.Background(), trial, cp)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResumedFrom != 1 || resumed.Weights != run.Weights || got.Accuracy != o.Accuracy {
		t.Errorf("resumed %+v accuracy %v, uninterrupted %+v accuracy %v", resumed, got.Accuracy, run, o.Accuracy)
	}
	// A measured constraint: a latency limit below any real latency.
	tr := trainer()
	tr.Space.Constraints.MaxLatencyInt8 = 1e-9
	o2, err := tr.Evaluate(context.Background(), trial)
	if err != nil {
		t.Fatal(err)
	}
	if !(o2.Violation > 0) {
		t.Errorf("latency %g over max_latency_int8 1e-9: violation %v", o2.LatencyInt8, o2.Violation)
	}
	if front, _ := ParetoFront([]Record{{Status: StatusDone, Objectives: &o2}, {Status: StatusDone, Objectives: &o}}, []string{ObjectiveAccuracy, ObjectiveBytes}); len(front) != 1 || front[0].Objectives.Violation != 0 {
		t.Errorf("front %+v keeps the infeasible trial", front)
	}
}
