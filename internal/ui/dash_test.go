package ui

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/tasks"
)

// runSweep starts the sweep of doc and runs it to the end by hand
// (finishSweep), returning its final status.
func runSweep(t *testing.T, ctl *sweep.Controller, doc string, score func(nas.Trial) nas.Objectives) *sweep.Status {
	t.Helper()
	ctx := context.Background()
	spec, err := sweep.ParseSpec([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	id, err := ctl.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := finishSweep(ctx, ctl, id, score); err != nil {
		t.Fatal(err)
	}
	st, err := ctl.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// finishSweep steps sweep id and reports each pending trial with
// objectives from score until the sweep is done.
func finishSweep(ctx context.Context, ctl *sweep.Controller, id string, score func(nas.Trial) nas.Objectives) error {
	spec, _, err := ctl.Spec(ctx, id)
	if err != nil {
		return err
	}
	if _, err := ctl.Step(ctx, id, true); err != nil {
		return err
	}
	for range 200 {
		st, err := ctl.Status(ctx, id)
		if err != nil {
			return err
		}
		if st.Status == rdb.SweepDone {
			return nil
		}
		for _, r := range st.Progress.Records {
			if r.Status == nas.StatusPending {
				res := nas.Result{ID: r.Trial.ID, Attempt: r.Trial.Attempt, Objectives: score(r.Trial)}
				if err := ctl.Report(ctx, id, spec.Queue, res); err != nil {
					return err
				}
			}
		}
		if _, err := ctl.Step(ctx, id, false); err != nil {
			return err
		}
	}
	return errors.New("the sweep did not finish")
}

// typedSweep is a sweep over typed parameters in which sparsity alone
// drives accuracy (down by 0.3 from none to 0.9); the learning rate and the
// widths only add noise of ±0.002.
const typedSweep = `
id: typed
strategy: random
seed: 4
max_trials: 40
concurrency: 5
space:
  params:
    dense_depth: {type: int, low: 1, high: 2}
    dense_width: {type: categorical, choices: [16, 32, 64]}
    sparsity: {type: float, low: 0, high: 0.9}
    lr: {type: log, low: 1.0e-4, high: 0.3}
evaluator: {type: table, table: "mem://x"}
`

func typedScore(tr nas.Trial) nas.Objectives {
	n, _ := nas.TrialIndex(tr.ID)
	noise := 0.002 * math.Sin(float64(7*n))
	s := tr.Candidate.Genome.Compression.Sparsity
	return nas.Objectives{Accuracy: 0.95 - 0.3*s/0.9 + noise, Bytes: tr.Candidate.Bytes, Params: tr.Candidate.Params}
}

func newController(t *testing.T) (*redis.Client, *sweep.Controller) {
	t.Helper()
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rc.Close() })
	ctl := sweep.New(rc, time.Hour, tasks.Defaults{})
	t.Cleanup(func() { ctl.Close() })
	return rc, ctl
}

// TestSweepDataJSON checks /sweeps/<id>/data.json of a finished sweep over
// typed parameters: the completed trials in the order asked with the best
// accuracy so far, the Pareto front as nas computes it, an axis per
// parameter with its type and range, and sparsity — the one parameter that
// drives accuracy — first in importance, with shares summing to 1.
func TestSweepDataJSON(t *testing.T) {
	rc, ctl := newController(t)
	st := runSweep(t, ctl, typedSweep, typedScore)
	ts := httptest.NewServer(Mux(rc, ctl, nil))
	defer ts.Close()
	code, ctype, body := get(t, http.DefaultClient, ts.URL+"/sweeps/typed/data.json")
	if code != 200 || ctype != "application/json" {
		t.Fatalf("data.json: %d %s %s", code, ctype, body)
	}
	var d sweepData
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if !d.Final || d.Status != rdb.SweepDone || d.Counts.Completed != 40 || len(d.Trials) != 40 {
		t.Fatalf("status %s final %v counts %+v, %d trials", d.Status, d.Final, d.Counts, len(d.Trials))
	}
	best := math.Inf(-1)
	for i, p := range d.Trials {
		rec := st.Progress.Records[i]
		best = max(best, rec.Objectives.Accuracy)
		if p.ID != rec.Trial.ID || p.Index != i || p.Accuracy != rec.Objectives.Accuracy || p.BestSoFar != best {
			t.Fatalf("trial %d: %+v, record %s accuracy %v, best so far %v", i, p, rec.Trial.ID, rec.Objectives.Accuracy, best)
		}
		if p.Values["sparsity"] != rec.Trial.Candidate.Values["sparsity"] || p.Values["lr"] == nil {
			t.Fatalf("trial %s values %v, candidate %v", p.ID, p.Values, rec.Trial.Candidate.Values)
		}
	}
	front, err := nas.ParetoFront(st.Progress.Records, []string{nas.ObjectiveAccuracy, nas.ObjectiveBytes})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range front {
		want = append(want, r.Trial.ID)
	}
	got := slices.Clone(d.Front)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || len(want) < 2 {
		t.Fatalf("front %v, want %v", d.Front, want)
	}
	for i := 1; i < len(d.Front); i++ {
		a, b := d.Trials[mustIndex(t, d.Front[i-1])], d.Trials[mustIndex(t, d.Front[i])]
		if !(a.Bytes <= b.Bytes && a.Accuracy < b.Accuracy) || !a.Front {
			t.Fatalf("front out of order or unmarked: %+v then %+v", a, b)
		}
	}
	var names []string
	for _, a := range d.Axes {
		names = append(names, a.Name+":"+a.Type)
	}
	if strings.Join(names, " ") != "dense_depth:int dense_width:categorical lr:log sparsity:float" {
		t.Fatalf("axes %v", names)
	}
	imp := d.Importance
	if imp.Trials != 40 || len(imp.Params) != 4 || imp.Params[0].Name != "sparsity" || !strings.Contains(imp.Method, "epsilon squared") {
		t.Fatalf("importance %+v", imp)
	}
	sum := 0.0
	for _, p := range imp.Params {
		sum += p.Share
	}
	if math.Abs(sum-1) > 1e-9 || imp.Params[0].Share < 0.8 || imp.Params[0].VarianceExplained < 0.8 || imp.Params[0].Bins != maxBins {
		t.Fatalf("shares sum to %v; sparsity %+v", sum, imp.Params[0])
	}
}

func mustIndex(t *testing.T, id string) int {
	t.Helper()
	n, err := nas.TrialIndex(id)
	if err != nil {
		t.Fatalf("trial id %q", id)
	}
	return n
}

// TestParameterImportance checks the method on constructed trials: a
// categorical parameter that sets accuracy explains nearly all its
// variance, a numeric one of pure noise (cut into maxBins bins) and one
// that is inactive in half the trials without effect explain next to
// nothing, and shares sum to 1.
func TestParameterImportance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	axes := []axis{
		{Name: "noise", Type: nas.ParamFloat, Low: 0, High: 1},
		{Name: "opt", Type: nas.ParamCategorical, Choices: []any{"sgd", "adam", "lion"}},
		{Name: "sometimes", Type: nas.ParamInt, Low: 1, High: 3},
	}
	var trials []trialPoint
	for i := range 60 {
		v := nas.Values{"noise": r.Float64(), "opt": axes[1].Choices[i%3]}
		if i%2 == 0 {
			v["sometimes"] = float64(1 + r.IntN(3))
		}
		trials = append(trials, trialPoint{ID: "t", Values: v, Accuracy: 0.6 + 0.1*float64(i%3) + 0.005*r.NormFloat64()})
	}
	imp := parameterImportance(axes, trials)
	if len(imp.Params) != 3 || imp.Params[0].Name != "opt" || imp.Params[0].Bins != 3 {
		t.Fatalf("importance %+v", imp.Params)
	}
	byName := map[string]paramImportance{}
	sum := 0.0
	for _, p := range imp.Params {
		byName[p.Name] = p
		sum += p.Share
	}
	if math.Abs(sum-1) > 1e-9 || byName["opt"].VarianceExplained < 0.99 || byName["noise"].Bins != maxBins ||
		byName["noise"].VarianceExplained > 0.05 || byName["sometimes"].Bins != 4 || byName["sometimes"].VarianceExplained > 0.05 {
		t.Fatalf("importance %+v, shares sum to %v", imp.Params, sum)
	}
	// Too few trials: no figures.
	if imp := parameterImportance(axes, trials[:minImportanceTrials-1]); len(imp.Params) != 0 {
		t.Fatalf("importance from %d trials: %+v", minImportanceTrials-1, imp.Params)
	}
}

// tinySets returns a two-class set of 8×8 images (class 1 brighter on the
// left half) for training in milliseconds.
func tinySets() (train, test *data.Dataset) {
	r := rand.New(rand.NewPCG(3, 4))
	make := func(n int) *data.Dataset {
		d := &data.Dataset{Name: "tiny", N: n, C: 1, H: 8, W: 8, Classes: 2}
		for i := range n {
			y := i % 2
			for p := range 64 {
				v := r.Float32()
				if (p%8 < 4) == (y == 1) {
					v += 0.12
				}
				d.Images = append(d.Images, v)
			}
			d.Labels = append(d.Labels, y)
		}
		return d
	}
	return make(256), make(64)
}

// trainedSweep is a two-trial sweep on 8×8 images whose trials train for
// three epochs, pruned to half after the second.
const trainedSweep = `
id: trained
strategy: random
seed: 1
max_trials: 2
epochs: 3
space:
  input: [1, 8, 8]
  classes: 2
  dense: {depth: [1], widths: [8, 16]}
  compression: {sparsity: [0.5]}
evaluator: {type: table, table: "mem://x"}
`

// trainedTrials runs trainedSweep, training its trials for real
// (nas.Trainer on tiny images, testing after every epoch) and recording
// their runs as the nas:eval handler does; it returns the final status and
// each trial's run.
func trainedTrials(t *testing.T, ctl *sweep.Controller) (*sweep.Status, map[string]nas.TrialRun) {
	t.Helper()
	ctx := context.Background()
	train, test := tinySets()
	runs := map[string]nas.TrialRun{}
	st := runSweep(t, ctl, trainedSweep, func(tr nas.Trial) nas.Objectives {
		ev := &nas.Trainer{Space: nas.Space{Input: []int{1, 8, 8}, Classes: 2}, Train: train, Test: test, TestEachEpoch: true,
			Config: nn.TrainConfig{LR: 0.1, BatchSize: 32, Seed: 1}, LatencyRuns: 1, CalibImages: 16}
		o, run, err := ev.EvaluateCheckpointed(ctx, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		runs[tr.ID] = run
		if err := ctl.RecordRun(ctx, "trained", sweep.Run{Trial: tr.ID, Attempt: tr.Attempt, Curve: run.Curve, Weights: run.Weights,
			Seconds: 0.5, Finished: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		return o
	})
	return st, runs
}

// runningSweep starts a sweep and reports the trials of its first step
// only, so that it is still running with some trials completed.
func runningSweep(t *testing.T, ctl *sweep.Controller) string {
	t.Helper()
	ctx := context.Background()
	spec, err := sweep.ParseSpec([]byte(strings.Replace(typedSweep, "id: typed", "id: running", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Step(ctx, spec.ID, true); err != nil {
		t.Fatal(err)
	}
	st, err := ctl.Status(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Progress.Records {
		if err := ctl.Report(ctx, spec.ID, spec.Queue, nas.Result{ID: r.Trial.ID, Attempt: r.Trial.Attempt, Objectives: typedScore(r.Trial)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ctl.Step(ctx, spec.ID, false); err != nil {
		t.Fatal(err)
	}
	return spec.ID
}

// TestTrialPage trains a sweep's trials for real (nas.Trainer on tiny
// images, testing after every epoch), records their runs as the nas:eval
// handler does, and checks the trial page and its data.json: parameters,
// objectives, the learning curve of every epoch with its phase, and the
// checkpoints the artifact store holds, served by the page's links.
func TestTrialPage(t *testing.T) {
	rc, ctl := newController(t)
	ctx := context.Background()
	st, runs := trainedTrials(t, ctl)
	store, err := artifact.Open(ctx, t.TempDir(), nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.PutNamed(ctx, "checkpoints/trained/t000001/epoch-2", []byte("checkpoint bytes")); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(Mux(rc, ctl, store))
	defer ts.Close()

	rec := st.Progress.Records[1]
	run := runs[rec.Trial.ID]
	if len(run.Curve) != 3 || run.Curve[2].Phase != nas.PhaseFineTune {
		t.Fatalf("the trainer's curve %+v", run.Curve)
	}
	code, _, body := get(t, http.DefaultClient, ts.URL+"/sweeps/trained/trials/"+rec.Trial.ID+"/data.json")
	var d trialData
	if err := json.Unmarshal([]byte(body), &d); code != 200 || err != nil {
		t.Fatalf("trial data.json: %d %v %s", code, err, body)
	}
	if d.Status != nas.StatusDone || !d.Final || d.Objectives == nil || d.Objectives.Accuracy != rec.Objectives.Accuracy ||
		len(d.Runs) != 1 || len(d.Runs[0].Curve) != 3 || d.Runs[0].Weights != run.Weights ||
		d.Values["dense_width_1"] != float64(rec.Trial.Candidate.Genome.Dense[0]) {
		t.Fatalf("trial data %+v", d)
	}
	for i, e := range d.Runs[0].Curve {
		w := run.Curve[i]
		if e.Epoch != i+1 || e.Phase != w.Phase || e.TrainLoss != w.TrainLoss || e.TestAcc == nil || *e.TestAcc != *w.TestAcc {
			t.Fatalf("epoch %d: %+v, trained %+v", i+1, e, w)
		}
	}
	if len(d.Checkpoints) != 1 || d.Checkpoints[0].Epoch != 2 {
		t.Fatalf("checkpoints %+v", d.Checkpoints)
	}
	code, _, page := get(t, http.DefaultClient, ts.URL+"/sweeps/trained/trials/"+rec.Trial.ID)
	if code != 200 {
		t.Fatalf("trial page: %d %s", code, page)
	}
	for _, w := range []string{`id="loss"`, "fine-tune", `<table id="curve">`, "attempt 1: 3 epochs", run.Weights,
		`href="/sweeps/trained/trials/t000001/checkpoints/epoch-2"`, "<td>dense_width_1</td>", pctOf(rec.Objectives.Accuracy)} {
		if !strings.Contains(page, w) {
			t.Errorf("trial page lacks %q", w)
		}
	}
	if n := strings.Count(page[strings.Index(page, `<table id="curve">`):], "<tr><td>"); n < 3 {
		t.Errorf("curve table has %d rows, want 3", n)
	}
	code, ctype, ck := get(t, http.DefaultClient, ts.URL+d.Checkpoints[0].URL)
	if code != 200 || ctype != "application/octet-stream" || ck != "checkpoint bytes" {
		t.Fatalf("checkpoint: %d %s %q", code, ctype, ck)
	}
	for _, p := range []string{"/sweeps/trained/trials/t000009", "/sweeps/trained/trials/x1/data.json",
		"/sweeps/trained/trials/t000001/checkpoints/epoch-3", "/sweeps/trained/trials/t000001/checkpoints/epoch-x",
		"/sweeps/nope/trials/t000001"} {
		if code, _, body := get(t, http.DefaultClient, ts.URL+p); code != 404 {
			t.Errorf("GET %s: %d %s, want 404", p, code, body)
		}
	}
	// Without a store the page says so.
	ts2 := httptest.NewServer(Mux(rc, ctl, nil))
	defer ts2.Close()
	if _, _, page := get(t, http.DefaultClient, ts2.URL+"/sweeps/trained/trials/t000001"); !strings.Contains(page, "artifact store is not configured") {
		t.Errorf("trial page without a store:\n%.2000s", page)
	}
}

func pctOf(f float64) string { return funcs["pct"].(func(float64) string)(f) }
