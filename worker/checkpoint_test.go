package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/tasks"
	"github.com/compressq/compressq/worker"
)

// TestTrialResumesAfterKilledWorker runs a sweep of one six-epoch trial
// trained on MNIST (pruned to half its weights after epoch 3, then
// fine-tuned), SIGKILLs the worker process once the trial has written a
// checkpoint, and starts another: that worker continues the trial from its
// latest checkpoint, and the final weights equal those of the same trial
// run without interruption in a second sweep. A trial keeps at most two
// checkpoints, and none is left once the sweeps are done.
func TestTrialResumesAfterKilledWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq's lease recovery after a SIGKILL (one to two minutes)")
	}
	t.Parallel() // its own redis-server, artifacts and worker processes
	srv, artifacts, st := procEnv(t)
	data := putMNIST(t, st)
	a := startWorkerProc(t, srv.URL(), artifacts)

	cfg := testConfig(t, srv.URL())
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ctl := sweep.New(rc, time.Hour, worker.Defaults(cfg))
	defer ctl.Close()
	insp := asynq.NewInspectorFromRedisClient(rc)
	defer insp.Close()
	ctx := context.Background()

	run := func(id string) (*sweep.Spec, string) {
		t.Helper()
		spec, err := sweep.ParseSpec([]byte("id: " + id + `
strategy: random
seed: 2
max_trials: 1
epochs: 6
space:
  dense: {depth: [1], widths: [128]}
  compression: {sparsity: [0.5]}
evaluator: {type: train, data: "` + data + `", batch_size: 64, lr: 0.05, seed: 4}
`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctl.Start(ctx, spec); err != nil {
			t.Fatal(err)
		}
		return spec, "checkpoints/" + id
	}
	most := 0
	checkpoints := func(dir string) []string {
		keys, err := st.ListNamed(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		perTrial := map[string]int{}
		for _, k := range keys {
			perTrial[k[:len(k)-len("/epoch-1")]]++ // epochs stay below 10
		}
		for _, n := range perTrial {
			most = max(most, n)
		}
		return keys
	}
	result := func(spec *sweep.Spec) (*sweep.Status, tasks.NASEvalResult) {
		t.Helper()
		var s *sweep.Status
		testwait.Eventually(t, 5*time.Minute, func() bool {
			checkpoints("checkpoints/" + spec.ID)
			if s, err = ctl.Status(ctx, spec.ID); err != nil {
				t.Fatal(err)
			}
			return s.Status == rdb.SweepDone
		}, "sweep %s not done", spec.ID)
		if len(s.Progress.Records) != 1 || s.Progress.Records[0].Objectives == nil {
			t.Fatalf("sweep %s: %+v", spec.ID, s.Progress)
		}
		tr := s.Progress.Records[0].Trial
		info, err := insp.GetTaskInfo(spec.Queue, sweep.EvalTaskID(spec.ID, tr.ID, tr.Attempt))
		if err != nil {
			t.Fatal(err)
		}
		var res tasks.NASEvalResult
		if err := json.Unmarshal(info.Result, &res); err != nil {
			t.Fatalf("nas:eval result %q: %v", info.Result, err)
		}
		return s, res
	}

	spec, dir := run("ckpt")
	start := time.Now()
	testwait.Eventually(t, 3*time.Minute, func() bool { return len(checkpoints(dir)) > 0 },
		"no checkpoint written; worker logs:\n%s", a.logs)
	firstEpoch := time.Since(start)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	killedAt := checkpoints(dir)
	killed := time.Now()
	b := startWorkerProc(t, srv.URL(), artifacts)
	resumed, res := result(spec)
	t.Logf("first checkpoint %v after the sweep started; killed holding %q; resumed from epoch %d and done %v after the kill",
		firstEpoch.Round(time.Millisecond), killedAt, res.ResumedFrom, time.Since(killed).Round(time.Second))
	if res.ResumedFrom < 1 || res.Weights == "" || res.Error != "" {
		t.Fatalf("killed sweep's trial result %+v; worker B logs:\n%s", res, b.logs)
	}

	refSpec, refDir := run("ckpt-ref")
	ref, refRes := result(refSpec)
	if refRes.ResumedFrom != 0 {
		t.Errorf("uninterrupted trial says it resumed from epoch %d", refRes.ResumedFrom)
	}
	if res.Weights != refRes.Weights {
		t.Errorf("resumed trial's weights %s, uninterrupted run's %s", res.Weights, refRes.Weights)
	}
	if got, want := resumed.Progress.Records[0].Objectives.Accuracy, ref.Progress.Records[0].Objectives.Accuracy; got != want {
		t.Errorf("resumed trial's accuracy %v, uninterrupted run's %v", got, want)
	}
	if most < 1 || most > 2 {
		t.Errorf("a trial held %d checkpoints at once, want 1 or 2", most)
	}
	for _, d := range []string{dir, refDir} {
		testwait.Eventually(t, 30*time.Second, func() bool { return len(checkpoints(d)) == 0 },
			"checkpoints left after the sweep: %q", checkpoints(d))
	}
	if _, err := st.GetNamed(ctx, killedAt[0]); !errors.Is(err, artifact.ErrNotFound) {
		t.Errorf("checkpoint %s after the sweep: %v, want ErrNotFound", killedAt[0], err)
	}
}

// TestTrialCheckpointsCleanedUp runs a sweep of one two-epoch trained trial
// in process: it writes a checkpoint per epoch, starts afresh, and leaves no
// checkpoint once done. Cancelling a sweep removes its checkpoints even
// when no trial of it is running.
func TestTrialCheckpointsCleanedUp(t *testing.T) {
	h, reg, ctl, data := trainedSweepWorker(t)
	ctx := context.Background()
	spec, s := runTrainedSweep(t, ctl, `id: small
strategy: random
max_trials: 1
epochs: 2
space: {dense: {depth: [1], widths: [16]}}
evaluator: {type: train, data: "`+data+`", batch_size: 128, lr: 0.05}
`, 2*time.Minute)
	if s.Progress.Completed != 1 {
		t.Fatalf("progress %+v", s.Progress)
	}
	tr := s.Progress.Records[0].Trial
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	info, err := insp.GetTaskInfo(spec.Queue, sweep.EvalTaskID(spec.ID, tr.ID, tr.Attempt))
	if err != nil {
		t.Fatal(err)
	}
	var res tasks.NASEvalResult
	if err := json.Unmarshal(info.Result, &res); err != nil || res.ResumedFrom != 0 || len(res.Weights) != 64 {
		t.Fatalf("result %s: %+v, %v", info.Result, res, err)
	}
	if n := plainCounter(t, reg, "compressq_trial_checkpoints_total"); n != 2 {
		t.Errorf("%v checkpoints written, want 2 (one per epoch)", n)
	}
	noCheckpointsLeft(t, h, "small")

	// A cancelled sweep with no trial running: its checkpoints go too.
	table := putTable(t, h)
	spec, err = sweep.ParseSpec([]byte(testSpace + "id: gone\nstrategy: random\nmax_trials: 1000\nconcurrency: 1\nevaluator: {type: table, table: \"" + table + "\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Pause(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 30*time.Second, func() bool {
		s, err := ctl.Summary(ctx, spec.ID)
		if err != nil || s.Counts.Pending != 0 || s.Inbox != 0 {
			return false
		}
		q, err := insp.GetQueueInfo(spec.Queue)
		return err == nil && q.Pending == 0 && q.Active == 0 && q.Scheduled == 0 && q.Retry == 0
	}, "paused sweep still has tasks queued or running")
	if _, err := h.store.PutNamed(ctx, "checkpoints/gone/t000009/epoch-1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Cancel(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool {
		keys, err := h.store.ListNamed(ctx, "checkpoints/gone")
		return err == nil && len(keys) == 0
	}, "a cancelled sweep's checkpoints left")
}

// TestASHAPromotionsContinue runs an ASHA sweep of trained trials in
// process (4 configurations, rungs of 1 and 2 epochs, η = 2): each
// promotion continues from its lower-rung trial's final checkpoint and
// trains one epoch, not two, and no checkpoint is left once it is done.
// The weights' equality with training from the start is
// TestTrainerContinuesLowerRung's (compress/nas).
func TestASHAPromotionsContinue(t *testing.T) {
	h, reg, ctl, data := trainedSweepWorker(t)
	spec, s := runTrainedSweep(t, ctl, `id: rungs
strategy: asha
max_trials: 4
min_epochs: 1
max_epochs: 2
eta: 2
space: {dense: {depth: [1], widths: [8, 16, 32, 64]}}
evaluator: {type: train, data: "`+data+`", batch_size: 128, lr: 0.05}
`, 3*time.Minute)
	promotions := 0
	for _, r := range s.Progress.Records {
		tr := r.Trial
		res := evalResult(t, h, spec, tr)
		if tr.Horizon != 2 {
			t.Errorf("trial %s: horizon %d, want 2", tr.ID, tr.Horizon)
		}
		want := 0
		if tr.From != "" {
			promotions++
			want = 1
		}
		if res.ResumedFrom != want {
			t.Errorf("trial %s (%d epochs, from %q) resumed from epoch %d, want %d", tr.ID, tr.Epochs, tr.From, res.ResumedFrom, want)
		}
	}
	// Asynchronous promotions: at least the top two, more when a trial
	// was in the top half of the results known when it was promoted.
	if promotions < 2 {
		t.Fatalf("%d promotions, want at least 2", promotions)
	}
	// Four one-epoch trials and the promotions of one more epoch each.
	if n := plainCounter(t, reg, "compressq_trial_checkpoints_total"); n != float64(4+promotions) {
		t.Errorf("%v checkpoints written, want %d (one per epoch trained)", n, 4+promotions)
	}
	noCheckpointsLeft(t, h, "rungs")
}

// TestPBTContinues runs a PBT sweep of trained trials in process (4
// members, 2 generations of one epoch): every second-generation trial
// continues from a first-generation checkpoint — its own member's or, for
// the worst member, the best one's — and none is left once it is done.
func TestPBTContinues(t *testing.T) {
	h, reg, ctl, data := trainedSweepWorker(t)
	spec, s := runTrainedSweep(t, ctl, `id: pbt
strategy: pbt
population: 4
max_trials: 8
epochs: 1
space: {params: {dense_depth: {type: int, low: 1, high: 1}, dense_width: {type: categorical, choices: [16, 32]}, lr: {type: log, low: 0.005, high: 0.2}}}
evaluator: {type: train, data: "`+data+`", batch_size: 128}
`, 3*time.Minute)
	continued := 0
	for _, r := range s.Progress.Records {
		tr := r.Trial
		res := evalResult(t, h, spec, tr)
		if tr.From != "" {
			continued++
			if res.ResumedFrom != 1 {
				t.Errorf("trial %s continues %s but resumed from epoch %d", tr.ID, tr.From, res.ResumedFrom)
			}
		}
	}
	if len(s.Progress.Records) != 8 || continued != 4 {
		t.Fatalf("%d trials, %d continued; want 8 and 4", len(s.Progress.Records), continued)
	}
	// Eight epochs trained, one checkpoint each.
	if n := plainCounter(t, reg, "compressq_trial_checkpoints_total"); n != 8 {
		t.Errorf("%v checkpoints written, want 8", n)
	}
	noCheckpointsLeft(t, h, "pbt")
}

// trainedSweepWorker starts a redis-server and an in-process worker that
// counts into reg, a sweep controller on it, and stores MNIST.
func trainedSweepWorker(t *testing.T) (h *harness, reg *prometheus.Registry, ctl *sweep.Controller, data string) {
	t.Helper()
	reg = prometheus.NewRegistry()
	h = startConfig(t, testConfig(t, redistest.Start(t).URL()), reg)
	ctl = sweep.New(h.rc, time.Hour, worker.Defaults(h.cfg))
	t.Cleanup(func() { ctl.Close() })
	return h, reg, ctl, putMNIST(t, h.store)
}

// evalResult returns the nas:eval result of trial tr, which must have
// succeeded.
func evalResult(t *testing.T, h *harness, spec *sweep.Spec, tr nas.Trial) tasks.NASEvalResult {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	info, err := insp.GetTaskInfo(spec.Queue, sweep.EvalTaskID(spec.ID, tr.ID, tr.Attempt))
	if err != nil {
		t.Fatal(err)
	}
	var res tasks.NASEvalResult
	if err := json.Unmarshal(info.Result, &res); err != nil || res.Error != "" {
		t.Fatalf("trial %s: %s, %v", tr.ID, info.Result, err)
	}
	return res
}

// noCheckpointsLeft waits for sweep id's checkpoints to be gone.
func noCheckpointsLeft(t *testing.T, h *harness, id string) {
	t.Helper()
	testwait.Eventually(t, 10*time.Second, func() bool {
		keys, err := h.store.ListNamed(context.Background(), sweep.CheckpointDir(id))
		return err == nil && len(keys) == 0
	}, "checkpoints left after the sweep")
}

// runTrainedSweep starts the sweep doc describes (its evaluator: train on
// data) and waits for it to be done.
func runTrainedSweep(t *testing.T, ctl *sweep.Controller, doc string, wait time.Duration) (*sweep.Spec, *sweep.Status) {
	t.Helper()
	ctx := context.Background()
	spec, err := sweep.ParseSpec([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var s *sweep.Status
	testwait.Eventually(t, wait, func() bool {
		if s, err = ctl.Status(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
		return s.Status == rdb.SweepDone
	}, "sweep not done")
	return spec, s
}

// plainCounter reads an unlabelled counter of reg.
func plainCounter(t *testing.T, reg *prometheus.Registry, family string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == family && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", family)
	return 0
}
