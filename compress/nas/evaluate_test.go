package nas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	mnistfiles "github.com/compressq/compressq/internal/mnist"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var mnist = sync.OnceValues(func() ([2]*data.Dataset, error) {
	train, test, err := mnistfiles.Load(context.Background(), data.UnitRange())
	return [2]*data.Dataset{train, test}, err
})

// TestTrainerEvaluate trains small candidates on 3,000 MNIST images for two
// epochs and scores them on 1,000 test images: accuracy must beat 70%
// (they reach about 85–90%), sizes must match the candidate's and both
// latencies must have been measured.
func TestTrainerEvaluate(t *testing.T) {
	sets, err := mnist()
	if err != nil {
		t.Fatal(err)
	}
	sp := testSpace()
	e := &Trainer{Space: sp, Train: sets[0].Subset(3000), Test: sets[1].Subset(1000),
		Config: nn.TrainConfig{LR: 0.05, Seed: 1}, LatencyRuns: 5}
	for _, g := range []Genes{
		{0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0}, // 784-64-10, float
		{0, 0, 0, 0, 0, 0, 2, 0, 0, 1, 0, 0}, // 784-64-10, sparsity 0.5, int8
		{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1}, // conv 4×3 → 32, sparsity 0.5, k-means 4 bits
	} {
		c, err := sp.Candidate(g)
		if err != nil {
			t.Fatal(err)
		}
		o, err := e.Evaluate(context.Background(), Trial{ID: "t000000", Attempt: 1, Epochs: 2, Candidate: c})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v: %+v", c.Genome, o)
		if o.Accuracy < 0.7 || o.Params != c.Params || o.Bytes != c.Bytes || !(o.LatencyFP32 > 0) || !(o.LatencyInt8 > 0) {
			t.Errorf("genome %+v: objectives %+v (candidate params %d bytes %d)", c.Genome, o, c.Params, c.Bytes)
		}
	}
}

// TestRungTestImages scores a cut of a longer run (a lower rung) on the
// evenly spread test subset (the accuracy a Trainer testing on that subset
// measures, and TestImages recording its size) and a trial that ends its
// run on all of Test.
func TestRungTestImages(t *testing.T) {
	sets, err := mnist()
	if err != nil {
		t.Fatal(err)
	}
	sp := testSpace()
	c, err := sp.Candidate(Genes{0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0}) // 784-64-10, float
	if err != nil {
		t.Fatal(err)
	}
	train, test := sets[0].Subset(2000), sets[1].Subset(1000)
	cfg := nn.TrainConfig{LR: 0.05, Seed: 1}
	ctx := context.Background()
	rung := &Trainer{Space: sp, Train: train, Test: test, Config: cfg, LatencyRuns: 1, RungTestImages: 300}
	onSubset := &Trainer{Space: sp, Train: train, Test: test.Spread(300), Config: cfg, LatencyRuns: 1}
	whole := &Trainer{Space: sp, Train: train, Test: test, Config: cfg, LatencyRuns: 1}
	for _, tc := range []struct {
		epochs int
		ref    *Trainer
		images int
	}{{1, onSubset, 300}, {2, whole, 0}} {
		tr := Trial{ID: "t000000", Attempt: 1, Epochs: tc.epochs, Horizon: 2, Candidate: c}
		got, err := rung.Evaluate(ctx, tr)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tc.ref.Evaluate(ctx, tr)
		if err != nil {
			t.Fatal(err)
		}
		if got.Accuracy != want.Accuracy || got.TestImages != tc.images {
			t.Errorf("%d epochs: accuracy %v on %d test images, want %v on %d", tc.epochs, got.Accuracy, got.TestImages, want.Accuracy, tc.images)
		}
	}
}

// TestTableRoundTrip exports a finished sweep with WriteCSV, reads it back
// as a Table and checks that every completed trial evaluates to its
// recorded objectives, failed ones to their error, and unknown ones to
// ErrNotInTable.
func TestTableRoundTrip(t *testing.T) {
	s, q := mustNew(t, configs()[0]), newQueue(4)
	for range 30 {
		q.step(t, s, 4)
	}
	p := s.Progress()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, p.Records); err != nil {
		t.Fatal(err)
	}
	tab, err := ReadTable(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != p.Completed {
		t.Fatalf("table has %d rows, want %d completed", tab.Len(), p.Completed)
	}
	ctx := context.Background()
	failed := 0
	for _, r := range p.Records {
		o, err := tab.Evaluate(ctx, r.Trial)
		switch r.Status {
		case StatusDone:
			if err != nil || o != *r.Objectives {
				t.Errorf("%s: %+v, %v; want %+v", r.Trial.ID, o, err, *r.Objectives)
			}
		case StatusFailed:
			failed++
			if err == nil || !strings.Contains(err.Error(), "synthetic failure") {
				t.Errorf("%s: error %v, want the recorded failure", r.Trial.ID, err)
			}
		}
	}
	if failed == 0 {
		t.Error("no failed trial exercised")
	}
	other := Trial{ID: "t999999", Candidate: Candidate{Hash: "feed"}, Epochs: 1}
	if _, err := tab.Evaluate(ctx, other); !errors.Is(err, ErrNotInTable) {
		t.Errorf("unknown trial: %v, want ErrNotInTable", err)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, p.Records); err != nil || !strings.HasPrefix(js.String(), "[") {
		t.Errorf("json export: %v", err)
	}
	if _, err := ReadTable(strings.NewReader("hash,params\nab,3\n")); err == nil {
		t.Error("table without accuracy column: no error")
	}
}

// TestTableDrivesSweepAtScale precomputes the whole 3,024-genome test space
// into a table and runs a 300-trial evolution sweep against it through
// the Evaluator interface, requiring it to find the landscape's optimum.
func TestTableDrivesSweepAtScale(t *testing.T) {
	var csv strings.Builder
	csv.WriteString("hash,accuracy,bytes\n")
	g := mustNew(t, Config{Strategy: StrategyGrid, Space: testSpace(), MaxTrials: 1 << 20})
	all, err := g.Ask(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range all {
		csv.WriteString(tr.Candidate.Hash + "," + strconv.FormatFloat(landscape(tr.Candidate.Genes, 1), 'g', -1, 64) + ",0\n")
	}
	tab, err := ReadTable(strings.NewReader(csv.String()))
	if err != nil {
		t.Fatal(err)
	}
	var ev Evaluator = tab
	s := mustNew(t, Config{Strategy: StrategyEvolution, Space: testSpace(), Seed: 9, MaxTrials: 300})
	best := -1.0
	for !s.Progress().Done {
		ts, err := s.Ask(8)
		if err != nil {
			t.Fatal(err)
		}
		var res []Result
		for _, tr := range ts {
			o, err := ev.Evaluate(context.Background(), tr)
			if err != nil {
				t.Fatal(err)
			}
			best = max(best, o.Accuracy)
			res = append(res, Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: o})
		}
		if err := s.Tell(res...); err != nil {
			t.Fatal(err)
		}
	}
	if want := landscape(target, 1); best != want {
		t.Errorf("best accuracy %v, optimum %v", best, want)
	}
}

// TestPlotPareto renders PNG and SVG plots and checks their signatures.
func TestPlotPareto(t *testing.T) {
	s, q := mustNew(t, configs()[5]), newQueue(2)
	for range 30 {
		q.step(t, s, 4)
	}
	recs := s.Progress().Records
	for format, sig := range map[string]string{"png": "\x89PNG", "svg": "<?xml"} {
		var buf bytes.Buffer
		if err := PlotPareto(&buf, recs, ObjectiveBytes, ObjectiveAccuracy, format); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(buf.String(), sig) || buf.Len() < 1000 {
			t.Errorf("%s: %d bytes starting %q", format, buf.Len(), buf.String()[:min(8, buf.Len())])
		}
	}
	if err := PlotPareto(&bytes.Buffer{}, recs, ObjectiveBytes, ObjectiveAccuracy, "gif"); err == nil {
		t.Error("gif: no error")
	}
}

// memCheckpoints keeps checkpoints in memory; after saving epoch stopAt it
// cancels the trial, as a worker dying after that checkpoint would end it.
type memCheckpoints struct {
	saved  map[int][]byte
	stopAt int
	cancel context.CancelFunc
}

func (m *memCheckpoints) Save(_ context.Context, epoch int, b []byte) error {
	m.saved[epoch] = b
	if epoch == m.stopAt {
		m.cancel()
	}
	return nil
}

func (m *memCheckpoints) Latest(context.Context) (int, []byte, error) {
	last := 0
	for e := range m.saved {
		last = max(last, e)
	}
	return last, m.saved[last], nil
}

// smallTrainer returns fresh trainers on 600 MNIST training and 200 test
// images, SGD at lr 0.05 with schedule, seed 3, batch 32.
func smallTrainer(t *testing.T, schedule string) func() *Trainer {
	t.Helper()
	sets, err := mnist()
	if err != nil {
		t.Fatal(err)
	}
	return func() *Trainer {
		return &Trainer{Space: testSpace(), Train: sets[0].Subset(600), Test: sets[1].Subset(200),
			Config: nn.TrainConfig{LR: 0.05, Seed: 3, BatchSize: 32, Schedule: schedule}, LatencyRuns: 1, CalibImages: 16}
	}
}

// TestTrainerResumesFromCheckpoint interrupts a four-epoch trial after each
// epoch's checkpoint (before pruning, at the pruning point, while
// fine-tuning the pruned network) and continues it from that checkpoint in
// a fresh evaluator: the final weights equal the uninterrupted run's.
func TestTrainerResumesFromCheckpoint(t *testing.T) {
	trainer := smallTrainer(t, "")
	sp := testSpace()
	for _, g := range []Genes{
		{0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0}, // 784-64-10, float
		{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1}, // conv, sparsity 0.5 after epoch 2, k-means
	} {
		c, err := sp.Candidate(g)
		if err != nil {
			t.Fatal(err)
		}
		trial := Trial{ID: "t000001", Attempt: 1, Epochs: 4, Candidate: c}
		whole := &memCheckpoints{saved: map[int][]byte{}}
		want, wantRun, err := trainer().EvaluateCheckpointed(context.Background(), trial, whole)
		if err != nil {
			t.Fatal(err)
		}
		if wantRun.ResumedFrom != 0 || len(whole.saved) != 4 || wantRun.Weights == "" {
			t.Fatalf("uninterrupted run: %+v, %d checkpoints", wantRun, len(whole.saved))
		}
		for k := 1; k < 4; k++ {
			ctx, cancel := context.WithCancel(context.Background())
			cp := &memCheckpoints{saved: map[int][]byte{}, stopAt: k, cancel: cancel}
			if _, _, err := trainer().EvaluateCheckpointed(ctx, trial, cp); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted after epoch %d: %v", k, err)
			}
			cancel()
			cp.stopAt = 0
			got, run, err := trainer().EvaluateCheckpointed(context.Background(), trial, cp)
			if err != nil {
				t.Fatal(err)
			}
			if run.ResumedFrom != k || run.Weights != wantRun.Weights || got.Accuracy != want.Accuracy {
				t.Errorf("genome %v resumed after epoch %d: %+v accuracy %v, uninterrupted %+v accuracy %v",
					g, k, run, got.Accuracy, wantRun, want.Accuracy)
			}
		}
	}
}

// TestTrainerContinuesLowerRung: ASHA's rungs of 1, 2 and 4 epochs as cuts
// of one 4-epoch run. Each promotion continues from the lower rung's final
// checkpoint (before pruning, at the pruning point) and ends with the same
// weights and accuracy as the rung's trial trained from the start — so the
// 1-epoch rung, measured pruned, checkpointed the unpruned run.
func TestTrainerContinuesLowerRung(t *testing.T) {
	trainer := smallTrainer(t, nn.ScheduleCosine)
	sp := testSpace()
	for _, g := range []Genes{
		{0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0}, // 784-64-10, float
		{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1}, // conv, sparsity 0.5 after epoch 2 of 4, k-means
	} {
		c, err := sp.Candidate(g)
		if err != nil {
			t.Fatal(err)
		}
		var parent *memCheckpoints
		var prevWeights string
		for _, epochs := range []int{1, 2, 4} {
			trial := Trial{ID: fmt.Sprintf("t%d", epochs), Attempt: 1, Epochs: epochs, Horizon: 4, Candidate: c}
			fresh, freshRun, err := trainer().EvaluateCheckpointed(context.Background(), trial, nil)
			if err != nil {
				t.Fatal(err)
			}
			own := &memCheckpoints{saved: map[int][]byte{}}
			if parent != nil {
				trial.From = "parent"
				last, b, _ := parent.Latest(context.Background())
				own.saved[last] = b // what the worker's store hands a promotion: the parent's newest
			}
			got, run, err := trainer().EvaluateCheckpointed(context.Background(), trial, own)
			if err != nil {
				t.Fatal(err)
			}
			if wantFrom := map[int]int{1: 0, 2: 1, 4: 2}[epochs]; run.ResumedFrom != wantFrom {
				t.Errorf("genome %v rung of %d epochs continued from epoch %d, want %d", g, epochs, run.ResumedFrom, wantFrom)
			}
			if run.Weights != freshRun.Weights || got.Accuracy != fresh.Accuracy {
				t.Errorf("genome %v rung of %d epochs: continued %s accuracy %v, from the start %s accuracy %v",
					g, epochs, run.Weights, got.Accuracy, freshRun.Weights, fresh.Accuracy)
			}
			if run.Weights == prevWeights {
				t.Errorf("genome %v rung of %d epochs has the lower rung's weights", g, epochs)
			}
			prevWeights = run.Weights
			if _, ok := own.saved[epochs]; !ok {
				t.Errorf("genome %v rung of %d epochs saved no checkpoint at its last epoch", g, epochs)
			}
			parent = own
		}
	}
}

// TestTrainerEpochImages: EpochImages makes an epoch ⌈images/batch⌉
// batches, the same training as nn's MaxBatches, and not a whole pass.
func TestTrainerEpochImages(t *testing.T) {
	sets, err := mnist()
	if err != nil {
		t.Fatal(err)
	}
	sp := testSpace()
	c, err := sp.Candidate(Genes{0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0})
	if err != nil {
		t.Fatal(err)
	}
	run := func(epochImages, maxBatches int) string {
		tr := &Trainer{Space: sp, Train: sets[0].Subset(600), Test: sets[1].Subset(100), EpochImages: epochImages,
			Config: nn.TrainConfig{LR: 0.05, Seed: 3, BatchSize: 32, MaxBatches: maxBatches}, LatencyRuns: 1, CalibImages: 16}
		_, r, err := tr.EvaluateCheckpointed(context.Background(), Trial{ID: "t", Attempt: 1, Epochs: 2, Candidate: c}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Weights
	}
	cut, batches, whole := run(100, 0), run(0, 4), run(0, 0)
	if cut != batches {
		t.Errorf("epoch_images 100 at batch 32: weights %s, 4 batches per epoch: %s", cut, batches)
	}
	if cut == whole {
		t.Error("epoch_images 100 trained the whole 600 images")
	}
}

// TestTrainerCurve checks a trial's learning curve: one point per epoch
// of both phases (training, then fine-tuning after pruning), numbered over
// the trial, with test accuracies only when TestEachEpoch asks for them —
// which must not change the weights — and, for a trial resumed before
// pruning, the same curve as the uninterrupted run's.
func TestTrainerCurve(t *testing.T) {
	sets, err := mnist()
	if err != nil {
		t.Fatal(err)
	}
	sp := testSpace()
	c, err := sp.Candidate(Genes{0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0}) // 784-32-10, sparsity 0.5 after epoch 2
	if err != nil {
		t.Fatal(err)
	}
	trial := Trial{ID: "t000004", Attempt: 1, Epochs: 3, Candidate: c}
	trainer := func(test bool) *Trainer {
		return &Trainer{Space: sp, Train: sets[0].Subset(600), Test: sets[1].Subset(200),
			Config: nn.TrainConfig{LR: 0.05, Seed: 3, BatchSize: 32}, LatencyRuns: 1, CalibImages: 16, TestEachEpoch: test}
	}
	_, plain, err := trainer(false).EvaluateCheckpointed(context.Background(), trial, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := &memCheckpoints{saved: map[int][]byte{}}
	_, tested, err := trainer(true).EvaluateCheckpointed(context.Background(), trial, cp)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Weights != tested.Weights {
		t.Errorf("testing after every epoch changed the weights: %s, %s", plain.Weights, tested.Weights)
	}
	phases := []string{PhaseTrain, PhaseTrain, PhaseFineTune}
	for _, r := range []struct {
		run      TrialRun
		measured bool
	}{{plain, false}, {tested, true}} {
		run, measured := r.run, r.measured
		if len(run.Curve) != len(phases) {
			t.Fatalf("curve %+v, want %d epochs", run.Curve, len(phases))
		}
		for i, e := range run.Curve {
			if e.Epoch != i+1 || e.Phase != phases[i] || !(e.TrainLoss > 0) || !(e.TrainAcc > 0) || !(e.Seconds > 0) ||
				(e.TestAcc != nil) != measured || (measured && !(*e.TestAcc > 0.3 && *e.TestAcc <= 1)) {
				t.Errorf("epoch %d: %+v (test accuracy wanted: %v)", i+1, e, measured)
			}
		}
	}
	if plain.Curve[0].TrainLoss != tested.Curve[0].TrainLoss || !(tested.Curve[1].TrainLoss < tested.Curve[0].TrainLoss) {
		t.Errorf("train losses %v, %v, %v; without testing %v", tested.Curve[0].TrainLoss, tested.Curve[1].TrainLoss,
			tested.Curve[2].TrainLoss, plain.Curve[0].TrainLoss)
	}
	// Resumed after epoch 1: the restored epoch is on the curve too.
	delete(cp.saved, 2)
	delete(cp.saved, 3)
	_, resumed, err := trainer(true).EvaluateCheckpointed(context.Background(), trial, cp)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResumedFrom != 1 || len(resumed.Curve) != 3 {
		t.Fatalf("resumed run %+v", resumed)
	}
	for i, e := range resumed.Curve {
		w := tested.Curve[i]
		if e.Epoch != w.Epoch || e.Phase != w.Phase || e.TrainLoss != w.TrainLoss || *e.TestAcc != *w.TestAcc {
			t.Errorf("resumed epoch %d: %+v, uninterrupted %+v", i+1, e, w)
		}
	}
}

// TestPlotParetoLayout checks where the figure puts things: no trial's
// point lies under the legend, and the highest point stays inside the data
// area, below the title, with room for its glyph.
func TestPlotParetoLayout(t *testing.T) {
	s, q := mustNew(t, configs()[5]), newQueue(2)
	for range 30 {
		q.step(t, s, 4)
	}
	recs := s.Progress().Records
	p, err := paretoPlot(recs, ObjectiveBytes, ObjectiveAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	c := framed(draw.New(vgimg.New(plotWidth, plotHeight)))
	dc := p.DataCanvas(c)
	legend := p.Legend.Rectangle(dc)
	glyph := vg.Points(3)
	n := 0
	for _, r := range recs {
		if r.Status != StatusDone || r.Objectives == nil {
			continue
		}
		n++
		pt := vg.Point{X: dc.X(p.X.Norm(float64(r.Objectives.Bytes))), Y: dc.Y(p.Y.Norm(r.Objectives.Accuracy))}
		if pt.X+glyph > legend.Min.X && pt.X-glyph < legend.Max.X && pt.Y+glyph > legend.Min.Y && pt.Y-glyph < legend.Max.Y {
			t.Errorf("trial %s at %v lies under the legend %v", r.Trial.ID, pt, legend)
		}
		if pt.Y+glyph > dc.Max.Y {
			t.Errorf("trial %s at %v reaches the top of the data area %v", r.Trial.ID, pt, dc.Max.Y)
		}
	}
	if n == 0 {
		t.Fatal("no completed trials to place")
	}
}
