package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/mnist"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
	"github.com/compressq/compressq/worker"
)

// mnistSets loads MNIST as the worker sees it for a model file without an
// input transform: [0, 1] pixels. Once per test binary.
var mnistSets = sync.OnceValues(func() ([2]*data.Dataset, error) {
	train, test, err := mnist.Load(context.Background(), data.UnitRange())
	return [2]*data.Dataset{train, test}, err
})

// sensitivityModel trains a 784-32-16-10 MLP for one epoch on 6,000 MNIST
// images and returns its model file.
func sensitivityModel(t *testing.T) []byte {
	t.Helper()
	sets, err := mnistSets()
	if err != nil {
		t.Fatal(err)
	}
	arch, err := recipe.ParseArch("arch", json.RawMessage(`{"name":"mlp-32-16","input":[1,28,28],"layers":[{"type":"flatten"},
		{"type":"dense","units":32},{"type":"relu"},{"type":"dense","units":16},{"type":"relu"},{"type":"dense","units":10}]}`))
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(arch, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nn.Train(context.Background(), net, sets[0].Subset(6000), nn.TrainConfig{Epochs: 1, LR: 0.05, Momentum: 0.9, Seed: 5}, nil); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wantSensitivity computes in one process what a compress:sensitivity run
// over the queue must report: curves, unpruned accuracy and choice.
func wantSensitivity(t *testing.T, raw []byte, levels []float64, evalSize int, target float64) (names []string, curves map[string][]prune.Point, base float64, choice map[string]float64) {
	t.Helper()
	sets, err := mnistSets()
	if err != nil {
		t.Fatal(err)
	}
	net, err := model.Load(raw, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	eval := sets[1].Subset(evalSize)
	names = prune.Weights(net)
	if curves, err = prune.Curves(context.Background(), net, names, levels, eval); err != nil {
		t.Fatal(err)
	}
	if base, _, err = nn.Evaluate(net, eval); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{}
	for _, n := range names {
		p, _ := net.Param(n)
		sizes[n] = p.Value.Len()
	}
	if choice, err = prune.Choose(curves, sizes, base, target); err != nil {
		t.Fatal(err)
	}
	return names, curves, base, choice
}

// checkSensitivity compares a run's report with the in-process answer and
// its stored artifacts with the report.
func checkSensitivity(t *testing.T, h *harness, got *tasks.SensitivityResult, raw []byte, levels []float64, evalSize int, target float64) {
	t.Helper()
	names, curves, base, choice := wantSensitivity(t, raw, levels, evalSize, target)
	if got.Baseline != base || got.EvalSize != evalSize || got.Split != tasks.SplitTest {
		t.Errorf("baseline %v on %d %s images, want %v on %d test images", got.Baseline, got.EvalSize, got.Split, base, evalSize)
	}
	if len(got.Curves) != len(names) {
		t.Fatalf("%d curves, want %d (%v)", len(got.Curves), len(names), names)
	}
	for i, c := range got.Curves {
		var pts []prune.Point
		for _, p := range c.Points {
			pts = append(pts, prune.Point{Sparsity: p.Sparsity, Accuracy: p.Accuracy})
		}
		if c.Param != names[i] || !reflect.DeepEqual(pts, curves[names[i]]) {
			t.Errorf("curve %d: %s %v, want %s %v", i, c.Param, pts, names[i], curves[names[i]])
		}
	}
	if got.Choice == nil || !maps.Equal(got.Choice.PerLayer, choice) || got.Choice.Sparsity < target-1e-9 {
		t.Errorf("choice %+v, want per-layer %v reaching %v", got.Choice, choice, target)
	}
	report, err := h.store.Get(context.Background(), got.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	stored := *got
	stored.Artifact = ""
	want, _ := json.MarshalIndent(&stored, "", "  ")
	if !bytes.Equal(report, want) {
		t.Errorf("report artifact:\n%s\nwant:\n%s", report, want)
	}
	plot, err := h.store.Get(context.Background(), got.Plot)
	if err != nil || !bytes.HasPrefix(plot, []byte("\x89PNG")) || !strings.HasSuffix(got.Plot, ".png") {
		t.Errorf("plot %s: %d bytes, %v", got.Plot, len(plot), err)
	}
}

// completedTasks returns the ids of the completed tasks of type typ.
func completedTasks(t *testing.T, insp *asynq.Inspector, typ string) []string {
	t.Helper()
	var ids []string
	for page := 1; ; page++ {
		infos, err := insp.ListCompletedTasks("default", asynq.Page(page), asynq.PageSize(100))
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range infos {
			if i.Type == typ {
				ids = append(ids, i.ID)
			}
		}
		if len(infos) < 100 {
			return ids
		}
	}
}

// TestSensitivityFanOut runs a sensitivity analysis of a small MNIST MLP
// through the queue on two workers: every point is evaluated and recorded
// exactly once, one gather builds the report, and the report equals
// prune.Curves and prune.Choose run in one process on the same inputs.
func TestSensitivityFanOut(t *testing.T) {
	h := start(t, nil)
	startOn(t, h.srv, func(c *configs.Config) { c.Artifacts.Root = h.cfg.Artifacts.Root })
	raw := sensitivityModel(t)
	uri, err := h.store.Put(context.Background(), bytes.NewReader(raw), ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	levels := []float64{0.5, 0.9, 0.99}
	const evalSize, target = 2000, 0.8
	id := h.submit(t, fmt.Sprintf(`{"type":"compress:sensitivity","payload":{"v":1,"model":%q,"data":%q,"levels":[0.5,0.9,0.99],"eval_size":%d,"target":%v}}`, uri, putMNIST(t, h.store), evalSize, target))
	st := h.wait(t, id, 2*time.Minute)
	if st.Status != rdb.StatusSucceeded {
		t.Fatalf("job %s at step %d: %s", st.Status, st.FailedStep, st.Error)
	}
	var got tasks.SensitivityResult
	if err := json.Unmarshal(st.Results[0], &got); err != nil {
		t.Fatal(err)
	}
	if st.Artifacts[0] != got.Artifact || got.Run != tasks.StepTaskID(id, 0) {
		t.Errorf("job artifact %q, run %q; want the report %q, run %q", st.Artifacts[0], got.Run, got.Artifact, tasks.StepTaskID(id, 0))
	}
	checkSensitivity(t, h, &got, raw, levels, evalSize, target)

	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	// A task ends in the queue a moment after the job records its work.
	testwait.Until(10*time.Second, func() bool {
		return len(completedTasks(t, insp, tasks.TypeSensitivityPoint)) >= 3*len(levels)
	})
	points := completedTasks(t, insp, tasks.TypeSensitivityPoint)
	if len(points) != 3*len(levels) {
		t.Errorf("%d point tasks completed, want %d: %v", len(points), 3*len(levels), points)
	}
	testwait.Until(10*time.Second, func() bool { return len(completedTasks(t, insp, tasks.TypeSensitivityGather)) > 0 })
	if g := completedTasks(t, insp, tasks.TypeSensitivityGather); len(g) != 1 {
		t.Errorf("gather tasks completed: %v, want one", g)
	}
	if n := h.rc.HLen(context.Background(), rdb.SensitivityPointsKey(got.Run)).Val(); n != int64(3*len(levels)) {
		t.Errorf("%d points recorded, want %d", n, 3*len(levels))
	}
	// The fan-out task itself handed the step on: its own result names the
	// run and the points it enqueued.
	info, err := insp.GetTaskInfo("default", tasks.StepTaskID(id, 0))
	if err != nil {
		t.Fatal(err)
	}
	var fan tasks.SensitivityFanOutResult
	if err := json.Unmarshal(info.Result, &fan); err != nil || fan.Points != 9 || fan.Enqueued != 9 || fan.Run != got.Run {
		t.Errorf("fan-out result %s (%v)", info.Result, err)
	}
}

// TestSensitivityRejectsBadInput archives malformed payloads at once with
// the field named, and fails a job whose model cannot be analysed before
// any point is enqueued.
func TestSensitivityRejectsBadInput(t *testing.T) {
	h := start(t, nil)
	client := asynq.NewClientFromRedisClient(h.rc)
	defer client.Close()
	info, err := client.Enqueue(asynq.NewTask(tasks.TypeSensitivity, []byte(`{"v":1,"model":"file:///m","levels":[0.5,1.5],"split":"val"}`)), asynq.MaxRetry(5))
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	var got *asynq.TaskInfo
	testwait.Until(20*time.Second, func() bool { // the state is checked below
		if got, err = insp.GetTaskInfo("default", info.ID); err != nil {
			t.Fatal(err)
		}
		return got.State == asynq.TaskStateArchived
	})
	if got.State != asynq.TaskStateArchived || got.Retried != 0 {
		t.Fatalf("state %v after %d retries, want archived at once", got.State, got.Retried)
	}
	for _, w := range []string{"levels[1]: 1.5 out of range", `split: "val" is not one of`} {
		if !strings.Contains(got.LastErr, w) {
			t.Errorf("archived reason %q does not name %q", got.LastErr, w)
		}
	}

	// A model file without an architecture, and a parameter the model
	// lacks: each job fails at its only step, naming the field.
	noArch, _ := h.putModel(t, 1)
	raw := tinyModel(t)
	good, err := h.store.Put(context.Background(), bytes.NewReader(raw), ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	dataURI := putMNIST(t, h.store)
	for _, tc := range []struct{ payload, want string }{
		{fmt.Sprintf(`{"v":1,"model":%q,"data":%q}`, noArch, dataURI), "model " + fmt.Sprintf("%q", noArch)},
		{fmt.Sprintf(`{"v":1,"model":%q,"data":%q,"params":["layers.1.weight","layers.0.weight"]}`, good, dataURI), `params[1]: the model has no parameter "layers.0.weight"`},
	} {
		id := h.submit(t, `{"type":"compress:sensitivity","options":{"max_retry":5},"payload":`+tc.payload+`}`)
		st := h.wait(t, id, 30*time.Second)
		if st.Status != rdb.StatusFailed || !strings.Contains(st.Error, tc.want) {
			t.Errorf("job %s: %q, want failed naming %q", st.Status, st.Error, tc.want)
		}
		if n := h.rc.Exists(context.Background(), rdb.SensitivityKey(tasks.StepTaskID(id, 0))).Val(); n != 0 {
			t.Errorf("a run was started for a bad input")
		}
	}
	if pts := completedTasks(t, insp, tasks.TypeSensitivityPoint); len(pts) != 0 {
		t.Errorf("points ran for bad input: %v", pts)
	}
}

// tinyModel is an untrained 784-10 model file with its architecture.
func tinyModel(t *testing.T) []byte {
	t.Helper()
	arch, err := recipe.ParseArch("arch", json.RawMessage(`{"name":"linear","input":[1,28,28],"layers":[{"type":"flatten"},{"type":"dense","units":10}]}`))
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(arch, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSensitivitySurvivesKilledWorker kills one of two worker processes
// with SIGKILL while the points of a run are being evaluated and starts
// another: the run finishes with every point recorded and completed exactly
// once, one gather, and the report an uninterrupted in-process run gives.
func TestSensitivitySurvivesKilledWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq's lease recovery (about a minute)")
	}
	t.Parallel() // its own redis-server, artifacts and worker processes
	srv, artifacts, st := procEnv(t)
	h := &harness{store: st}
	arch, err := nn.ArchByName("lenet-300-100")
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(arch, 9)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	uri, err := st.Put(context.Background(), bytes.NewReader(raw), ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	a := startWorkerProc(t, srv.URL(), artifacts)
	b := startWorkerProc(t, srv.URL(), artifacts)

	cfg := testConfig(t, srv.URL())
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h.rc = rc
	h.p = producer.New(rc, rdb.NewStore(rc, time.Hour), worker.Defaults(cfg))
	defer h.p.Close()
	levels := tasks.DefaultSensitivityLevels
	const evalSize, target = 10000, 0.8
	id := h.submit(t, fmt.Sprintf(`{"type":"compress:sensitivity","options":{"max_retry":3},"payload":{"v":1,"model":%q,"data":%q,"eval_size":%d,"target":%v}}`, uri, putMNIST(t, st), evalSize, target))
	run := tasks.StepTaskID(id, 0)
	total := 3 * len(levels)
	testwait.Eventually(t, 2*time.Minute, func() bool { return rc.HLen(context.Background(), rdb.SensitivityPointsKey(run)).Val() >= 3 },
		"fewer than 3 points recorded; worker logs:\n%s", a.logs)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	killed := time.Now()
	if n := rc.HLen(context.Background(), rdb.SensitivityPointsKey(run)).Val(); n >= int64(total) {
		t.Fatalf("all %d points were recorded before the kill: the test needs slower points", n)
	}
	c := startWorkerProc(t, srv.URL(), artifacts)
	stat := h.wait(t, id, 4*time.Minute)
	t.Logf("run finished %v after a worker was killed", time.Since(killed).Round(time.Second))
	if stat.Status != rdb.StatusSucceeded {
		t.Fatalf("job %s: %s; worker logs:\n%s\n%s", stat.Status, stat.Error, b.logs.String(), c.logs.String())
	}
	var got tasks.SensitivityResult
	if err := json.Unmarshal(stat.Results[0], &got); err != nil {
		t.Fatal(err)
	}
	checkSensitivity(t, h, &got, raw, levels, evalSize, target)
	if n := rc.HLen(context.Background(), rdb.SensitivityPointsKey(run)).Val(); n != int64(total) {
		t.Errorf("%d points recorded, want %d", n, total)
	}
	for _, param := range prune.Weights(net) {
		for _, s := range levels {
			if n := doneCountSettled(tasks.SensitivityPointTaskID(run, param, s), a, b, c); n != 1 {
				t.Errorf("point %s@%v completed %d times, want once", param, s, n)
			}
		}
	}
	if n := doneCountSettled(tasks.SensitivityGatherTaskID(run), a, b, c); n != 1 {
		t.Errorf("gather completed %d times, want once", n)
	}
}
