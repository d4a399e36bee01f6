package worker_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/tasks"
	"github.com/compressq/compressq/worker"
)

const testSpace = `
space:
  conv: {depth: [0, 1], channels: [4, 8], kernels: [3, 5]}
  dense: {depth: [1, 2], widths: [16, 32, 64]}
  compression: {sparsity: [0, 0.5], weight_bits: [8, 32]}
`

// syntheticAccuracy gives every genome a fixed pseudo-random accuracy.
func syntheticAccuracy(hash string) float64 {
	h := sha256.Sum256([]byte(hash))
	return 0.5 + 0.5*float64(binary.BigEndian.Uint32(h[:4]))/float64(1<<32)
}

// putTable stores a CSV with a result for every genome of the space.
func putTable(t *testing.T, h *harness) string {
	t.Helper()
	spec, err := sweep.ParseSpec([]byte(testSpace + "strategy: grid\nmax_trials: 100000\nevaluator: {type: table, table: \"mem://x\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := nas.New(spec.Config)
	if err != nil {
		t.Fatal(err)
	}
	all, err := g.Ask(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("hash,accuracy,params,bytes\n")
	for i, tr := range all {
		fmt.Fprintf(&csv, "%s,%v,%d,%d\n", tr.Candidate.Hash, syntheticAccuracy(tr.Candidate.Hash), 1000+i, 4000+i)
	}
	uri, err := h.store.Put(context.Background(), strings.NewReader(csv.String()), ".csv")
	if err != nil {
		t.Fatal(err)
	}
	return uri
}

func TestSweepRunsToCompletion(t *testing.T) {
	h := start(t, func(c *configs.Config) { c.Worker.Concurrency = 8 })
	table := putTable(t, h)
	ctl := sweep.New(h.rc, time.Hour, worker.Defaults(h.cfg))
	defer ctl.Close()
	doc := testSpace + "id: s1\nstrategy: random\nseed: 3\nmax_trials: 60\nconcurrency: 6\nevaluator: {type: table, table: \"" + table + "\"}\n"
	spec, err := sweep.ParseSpec([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	id, err := ctl.Start(context.Background(), spec)
	if err != nil || id != "s1" {
		t.Fatalf("Start = %q, %v", id, err)
	}
	var st *sweep.Status
	testwait.Until(90*time.Second, func() bool { // verifySweep checks the status
		if st, err = ctl.Status(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return st.Status == rdb.SweepDone
	})
	verifySweep(t, st, spec, 60)
	if st.Inbox != 0 {
		t.Fatalf("%d results left in the inbox", st.Inbox)
	}
}

// verifySweep checks a finished sweep: every trial completed once with the
// table's value for its genome, and the same trials as the same strategy and
// seed asked in memory, uninterrupted.
func verifySweep(t *testing.T, st *sweep.Status, spec *sweep.Spec, trials int) {
	t.Helper()
	p := st.Progress
	if st.Status != rdb.SweepDone || p.Completed != trials || p.Failed != 0 || p.Pending != 0 || len(p.Records) != trials {
		t.Fatalf("sweep %s: completed %d failed %d pending %d records %d", st.Status, p.Completed, p.Failed, p.Pending, len(p.Records))
	}
	seen := map[string]bool{}
	var got []string
	for _, r := range p.Records {
		if seen[r.Trial.Candidate.Hash] {
			t.Fatalf("genome %s evaluated twice", r.Trial.Candidate.Hash)
		}
		seen[r.Trial.Candidate.Hash] = true
		if r.Objectives == nil || r.Objectives.Accuracy != syntheticAccuracy(r.Trial.Candidate.Hash) {
			t.Fatalf("trial %s: objectives %+v", r.Trial.ID, r.Objectives)
		}
		got = append(got, r.Trial.ID+"="+r.Trial.Candidate.Hash)
	}
	ref, err := nas.New(spec.Config)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for !ref.Progress().Done {
		ts, err := ref.Ask(spec.Concurrency)
		if err != nil {
			t.Fatal(err)
		}
		var res []nas.Result
		for _, tr := range ts {
			res = append(res, nas.Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: nas.Objectives{Accuracy: syntheticAccuracy(tr.Candidate.Hash)}})
			want = append(want, tr.ID+"="+tr.Candidate.Hash)
		}
		if err := ref.Tell(res...); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("queued sweep asked\n%v\nuninterrupted run asked\n%v", got, want)
	}
}

// TestTrialRunRecorded runs a sweep of one trained trial (two epochs on
// MNIST, pruned after the first) and checks what its nas:eval recorded for
// the sweep pages: the learning curve, an epoch per phase with its test
// accuracy, the weights digest, also in the task's result.
func TestTrialRunRecorded(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	ctl := sweep.New(h.rc, time.Hour, worker.Defaults(h.cfg))
	defer ctl.Close()
	data := putMNIST(t, h.store)
	spec, err := sweep.ParseSpec([]byte(`id: curve
strategy: random
max_trials: 1
epochs: 2
space: {dense: {depth: [1], widths: [16]}, compression: {sparsity: [0.5]}}
evaluator: {type: train, data: "` + data + `", batch_size: 128, lr: 0.05, test_each_epoch: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var s *sweep.Status
	testwait.Eventually(t, 2*time.Minute, func() bool {
		if s, err = ctl.Status(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
		return s.Status == rdb.SweepDone
	}, "sweep not done")
	rec := s.Progress.Records[0]
	runs, err := ctl.Runs(ctx, spec.ID, rec.Trial.ID, rec.Trial.Attempt)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v, %v", runs, err)
	}
	run := runs[0]
	if run.Attempt != 1 || run.Error != "" || len(run.Weights) != 64 || !(run.Seconds > 0) || len(run.Curve) != 2 {
		t.Fatalf("run %+v", run)
	}
	for i, e := range run.Curve {
		if e.Epoch != i+1 || e.Phase != []string{nas.PhaseTrain, nas.PhaseFineTune}[i] || !(e.TrainLoss > 0) ||
			e.TestAcc == nil || !(*e.TestAcc > 0.5) {
			t.Errorf("epoch %d: %+v", i+1, e)
		}
	}
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	info, err := insp.GetTaskInfo(spec.Queue, sweep.EvalTaskID(spec.ID, rec.Trial.ID, rec.Trial.Attempt))
	if err != nil {
		t.Fatal(err)
	}
	var res tasks.NASEvalResult
	var curve []nas.Epoch
	if err := json.Unmarshal(info.Result, &res); err != nil || json.Unmarshal(res.Curve, &curve) != nil || len(curve) != 2 ||
		curve[1].TrainLoss != run.Curve[1].TrainLoss || res.Weights != run.Weights {
		t.Fatalf("result %s: %+v, %v", info.Result, res, err)
	}
}
