package sweep

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/compress/onnx"
)

const evalTable = "evaluator: {type: table, table: x}\n"

// TestParseSpecParams parses the typed-space example of docs/sweeps.md and
// checks that bad typed spaces are refused with the path of the problem in
// the spec.
func TestParseSpecParams(t *testing.T) {
	doc, err := os.ReadFile("../../docs/examples/sweep-tpe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSpec(bytes.ReplaceAll(doc, []byte("$DATA"), []byte("file:///d/mnist.zip")))
	if err != nil {
		t.Fatal(err)
	}
	if s.Config.Strategy != nas.StrategyTPE || len(s.Config.Space.Params) != 15 || s.Config.Space.Params["lr"].Type != nas.ParamLog {
		t.Fatalf("parsed %+v", s.Config)
	}
	for _, tc := range []struct{ doc, want string }{
		{"strategy: tpe\nmax_trials: 5\n" + evalTable + "space: {params: {lr: {type: log, low: 0, high: 1}}}\n",
			"space.params.lr.low: 0, must be > 0 for log-uniform"},
		{"strategy: tpe\nmax_trials: 5\n" + evalTable + "space: {params: {lr: {type: uniform, low: 0, high: 1}}}\n",
			`space.params.lr.type: "uniform", want one of`},
		{"strategy: tpe\nmax_trials: 5\n" + evalTable + "space: {params: {lr: {type: float, low: 0.5, high: 0.1}}}\n",
			"space.params.lr.high: 0.1 is below low 0.5"},
		{"strategy: tpe\nmax_trials: 5\n" + evalTable + "space: {params: {momentum: {type: float, low: 0.5, high: 0.9, when: {optimizer: sgd}}}}\n",
			`space.params.momentum.when.optimizer: no parameter "optimizer"`},
		{"strategy: tpe\nmax_trials: 5\n" + evalTable +
			"space: {params: {lr: {type: log, low: 0.01, high: 0.1, when: {momentum: 0.5}}, momentum: {type: float, low: 0.5, high: 0.9, when: {lr: 0.01}}}}\n",
			"space.params.lr.when: conditions form a cycle"},
		{"strategy: tpe\nmax_trials: 5\n" + evalTable + "space: {params: {temperature: {type: float, low: 1, high: 8}}}\n",
			"space.params.temperature: unknown parameter"},
		{"strategy: tpe\nmax_trials: 5\n" + evalTable + "space: {params: {lr: {type: log, low: 0.01, high: 0.1, hi: 3}}}\n",
			"space.params.lr.hi: unknown key"},
		{"strategy: evolution\nmax_trials: 5\n" + evalTable + "space: {params: {lr: {type: log, low: 0.01, high: 0.1}}}\n",
			"strategy: evolution, want random, tpe, cmaes, pbt or asha with space.params"},
		{"strategy: asha\nmax_trials: 5\n" + evalTable + "space: {params: {epochs: {type: int, low: 1, high: 3}}}\n",
			"space.params.epochs: asha sets each trial's epochs itself"},
		{"strategy: random\nrestart: true\nmax_trials: 5\n" + evalTable + "space: {params: {lr: {type: log, low: 0.01, high: 0.1}}}\n",
			"restart: true, want only with strategy asha"},
		{"strategy: tpe\nmax_trials: 5\nstartup_trials: -1\n" + evalTable + "space: {params: {lr: {type: log, low: 0.01, high: 0.1}}}\n",
			"startup_trials: -1"},
		{"strategy: tpe\nmax_trials: 5\n" + evalTable + "space: {conv: {kernels: [4]}, dense: {widths: [8]}}\n",
			"space.conv.kernels: 4, want odd"},
	} {
		_, err := ParseSpec([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSpec(%q) = %v, want an error containing %q", tc.doc, err, tc.want)
		}
	}
}

// TestParamsSweepReplays runs a TPE sweep over typed parameters the way
// the controller does — the spec stored as JSON and read back, each step's
// results and asks logged — and checks that replaying the log on the first
// snapshot rebuilds the state byte for byte, and that every trial carries
// its values to the evaluator.
func TestParamsSweepReplays(t *testing.T) {
	doc := "strategy: tpe\nseed: 3\nmax_trials: 30\nstartup_trials: 5\n" + evalTable + `space:
  params:
    dense_depth: {type: int, low: 1, high: 2}
    dense_width: {type: int, low: 16, high: 64, step: 16}
    lr: {type: log, low: 1.0e-3, high: 0.3}
    optimizer: {type: categorical, choices: [sgd, adam]}
    momentum: {type: float, low: 0.5, high: 0.95, when: {optimizer: sgd}}
`
	spec, err := ParseSpec([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(stored, &back); err != nil {
		t.Fatal(err)
	}
	strat, err := nas.New(back.Config)
	if err != nil {
		t.Fatal(err)
	}
	snapshot, err := nas.Save(strat)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	var pending []nas.Trial
	for v := int64(1); ; v++ {
		var results []nas.Result
		for _, tr := range pending {
			if tr.Candidate.Training().LR == 0 || len(tr.Candidate.Genome.Dense) == 0 {
				t.Fatalf("trial %s lacks its values: %+v", tr.ID, tr.Candidate)
			}
			results = append(results, synthetic(tr))
		}
		_ = strat.Tell(results...)
		e := entry{Version: v, Results: results, Ask: 4}
		asked, err := strat.Ask(e.Ask)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range asked {
			e.Asked = append(e.Asked, trialKey(tr))
		}
		b, _ := json.Marshal(e)
		log = append(log, string(b))
		pending = asked
		if len(asked) == 0 && strat.Counts().Done {
			break
		}
	}
	replayed, err := nas.Load(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if err := replay("s", replayed, 0, log); err != nil {
		t.Fatal(err)
	}
	a, _ := nas.Save(strat)
	b, _ := nas.Save(replayed)
	if !bytes.Equal(a, b) {
		t.Fatal("replayed state differs from the stepped one")
	}
	if n := strat.Counts().Trials; n != 30 {
		t.Fatalf("%d trials, want 30", n)
	}
}

// TestExampleSpecsParse: every sweep spec in docs/examples parses and its
// strategy starts (with a data URI in place of $DATA).
func TestExampleSpecsParse(t *testing.T) {
	files, err := filepath.Glob("../../docs/examples/sweep-*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples %v, %v", files, err)
	}
	raw, err := os.ReadFile("../../compress/onnx/testdata/pytorch/resnet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	resnet, err := onnx.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range [][2]string{{"$DATA", "file:///d/mnist.zip"}, {"$MODEL", "file:///d/m.onnx"}, {"$REPORT", "file:///d/r.json"}} {
			doc = bytes.ReplaceAll(doc, []byte(sub[0]), []byte(sub[1]))
		}
		s, err := ParseSpec(doc)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if s.Config.Space.Policy != nil {
			// A policy example is bound to a model at start: here the
			// PyTorch ResNet fixture.
			if s.Config.Space, err = s.Config.Space.ResolvePolicy(resnet); err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
				continue
			}
		}
		if _, err := nas.New(s.Config); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
