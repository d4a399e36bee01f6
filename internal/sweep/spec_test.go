package sweep

import (
	"strings"
	"testing"
)

const space = "space:\n  dense: {depth: [1], widths: [16, 32]}\n"

func TestParseSpec(t *testing.T) {
	s, err := ParseSpec([]byte(space + "strategy: evolution\nmax_trials: 10\nevaluator: {type: train, data: file:///d/mnist.zip}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Concurrency != DefaultConcurrency || s.Queue != "sweep" || s.Config.Strategy != "evolution" || s.Config.MaxTrials != 10 {
		t.Fatalf("parsed %+v", s)
	}
	if len(s.Config.Space.Input) != 3 || s.Config.Space.Classes != 10 {
		t.Fatalf("space defaults not applied: %+v", s.Config.Space)
	}
	for _, tc := range []struct{ doc, want string }{
		{"strategy: random\nmax_trials: 1\nevaluator: {type: train, data: file:///d/mnist.zip}\n", "space: required"},
		{space + "strategy: random\nmax_trials: 1\nevaluator: {type: table}\n", "evaluator.table: required"},
		{space + "strategy: random\nmax_trials: 1\nevaluator: {type: magic}\n", `evaluator.type: "magic"`},
		{space + "strategy: asha\nmax_trials: 1\nevaluator: {type: train, data: file:///d/mnist.zip, rung_test_images: -5}\n", "evaluator.rung_test_images: -5 must be >= 0"},
		{space + "strategy: random\nmax_trials: 1\nevaluator: {type: train, data: file:///d/mnist.zip}\nconcurency: 3\n", "concurency"},
		{space + "strategy: hill\nmax_trials: 0\nevaluator: {type: train, data: file:///d/mnist.zip}\nqueue: urgent\nid: \"a b\"\n", "queue"},
		{"- 1\n", "sweep spec"},
	} {
		_, err := ParseSpec([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSpec(%q) = %v, want an error mentioning %q", tc.doc, err, tc.want)
		}
	}
	// Every problem at once.
	_, err = ParseSpec([]byte(space + "strategy: hill\nmax_trials: 0\nevaluator: {type: train, data: file:///d/mnist.zip}\nqueue: urgent\nid: \"a b\"\n"))
	for _, want := range []string{"id:", "queue:", "strategy", "max_trials"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestEvalTaskID(t *testing.T) {
	if got := EvalTaskID("s1", "t000003", 2); got != "s1/trial-t000003-a2" {
		t.Fatalf("EvalTaskID = %q", got)
	}
}
