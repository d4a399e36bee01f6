package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/tasks"
)

func TestQuantizeEndToEnd(t *testing.T) {
	h := start(t, nil)
	uri, vals := h.putModel(t, 1)
	for _, tc := range []struct {
		bits        int
		granularity string
	}{{8, tasks.PerChannel}, {8, tasks.PerTensor}, {4, tasks.PerChannel}} {
		name := fmt.Sprintf("int%d-%s", tc.bits, tc.granularity)
		t.Run(name, func(t *testing.T) {
			id := h.submit(t, `{"type":"compress:quantize","payload":`+quantizeSpec(uri, tc.bits, tc.granularity)+`}`)
			st := h.wait(t, id, 30*time.Second)
			if st.Status != rdb.StatusSucceeded {
				t.Fatalf("job %s: %s", st.Status, st.Error)
			}
			var res tasks.QuantizeResult
			if err := json.Unmarshal(st.Results[0], &res); err != nil {
				t.Fatal(err)
			}
			if st.Artifacts[0] != res.Artifact || res.Artifact == "" {
				t.Fatalf("job artifact %q, result artifact %q", st.Artifacts[0], res.Artifact)
			}
			data, err := h.store.Get(context.Background(), res.Artifact)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(data)) != res.BytesAfter {
				t.Fatalf("artifact has %d bytes, result says %d", len(data), res.BytesAfter)
			}
			c, err := packed.ReadCompressed(data, safetensors.Limits{})
			if err != nil {
				t.Fatalf("compressed artifact does not decode: %v", err)
			}
			if len(res.Tensors) != len(vals) {
				t.Fatalf("%d tensors in the result, want %d", len(res.Tensors), len(vals))
			}
			for _, te := range res.Tensors {
				p, ok := c.Param(te.Name)
				if !ok {
					t.Fatalf("tensor %q missing from the artifact", te.Name)
				}
				got, err := p.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				var maxErr float64
				for i, w := range vals[te.Name] {
					maxErr = math.Max(maxErr, math.Abs(float64(w)-float64(got[i])))
				}
				if maxErr > te.Bound*(1+1e-5) {
					t.Errorf("%s: reconstruction error %g exceeds the bound %g", te.Name, maxErr, te.Bound)
				}
				if math.Abs(maxErr-te.MaxAbs) > 1e-7 {
					t.Errorf("%s: measured error %g, reported %g", te.Name, maxErr, te.MaxAbs)
				}
			}
			// The test model is small (7k weights), so scales and the header cost more than in a real one.
			if want := 32.0 / float64(tc.bits) * 0.6; res.Ratio < want {
				t.Errorf("compression ratio %.2f, want at least %.2f", res.Ratio, want)
			}
		})
	}
}

func TestPipeline(t *testing.T) {
	h := start(t, nil)
	a, _ := h.putModel(t, 2)
	b, _ := h.putModel(t, 3)

	t.Run("steps run in order", func(t *testing.T) {
		id := h.submit(t, `{"name":"two","options":{"retention":"1h"},"steps":[
			{"type":"compress:quantize","payload":`+quantizeSpec(a, 8, "per-channel")+`},
			{"type":"compress:quantize","payload":`+quantizeSpec(b, 4, "per-tensor")+`}]}`)
		st := h.wait(t, id, 30*time.Second)
		if st.Status != rdb.StatusSucceeded || st.Steps != 2 || st.Results[0] == nil || st.Results[1] == nil {
			t.Fatalf("job %+v", st.Job)
		}
		insp := asynq.NewInspectorFromRedisClient(h.rc)
		defer insp.Close()
		i0 := taskInfoIn(t, insp, tasks.StepTaskID(id, 0), asynq.TaskStateCompleted)
		i1 := taskInfoIn(t, insp, tasks.StepTaskID(id, 1), asynq.TaskStateCompleted)
		if !i0.CompletedAt.Before(i1.CompletedAt) && !i0.CompletedAt.Equal(i1.CompletedAt) {
			t.Fatalf("step 0 completed at %v, after step 1 at %v", i0.CompletedAt, i1.CompletedAt)
		}
		if i0.State != asynq.TaskStateCompleted || i1.State != asynq.TaskStateCompleted {
			t.Fatalf("task states %v, %v", i0.State, i1.State)
		}
	})

	t.Run("a failing step fails the job with its reason", func(t *testing.T) {
		// Step 1 gets step 0's compressed output, which is not a float model.
		id := h.submit(t, `{"steps":[
			{"type":"compress:quantize","payload":`+quantizeSpec(a, 8, "per-channel")+`},
			{"type":"compress:quantize","payload":`+quantizeSpec("@prev", 8, "per-channel")+`}]}`)
		st := h.wait(t, id, 30*time.Second)
		if st.Status != rdb.StatusFailed || st.FailedStep != 1 {
			t.Fatalf("job %+v", st.Job)
		}
		if !strings.Contains(st.Error, "not a floating-point weight") || !strings.Contains(st.Error, st.Artifacts[0]) {
			t.Fatalf("job error %q does not give the reason and step 0's artifact %q", st.Error, st.Artifacts[0])
		}
		if st.Results[1] != nil {
			t.Fatal("failed step has a result")
		}
	})
}

// taskInfoIn returns the queue's info on a task once it is in state want,
// waiting up to 10 s: the handler records a job's end before asynq moves the
// task to completed or archived, so a test that saw the job end can read
// the task a moment early. It returns the last info read either way.
func taskInfoIn(t *testing.T, insp *asynq.Inspector, taskID string, want asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	var err error
	testwait.Until(10*time.Second, func() bool {
		info, err = insp.GetTaskInfo("default", taskID)
		return err == nil && info.State == want
	})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestRetryThenArchive(t *testing.T) {
	t.Parallel() // its own redis-server; it waits on the queue's retry forwarding
	h := start(t, nil)
	id := h.submit(t, `{"type":"debug:sleep","payload":{"v":1,"fail":"disk on fire"},"options":{"max_retry":2}}`)
	st := h.wait(t, id, 60*time.Second)
	if st.Status != rdb.StatusFailed || !strings.Contains(st.Error, "disk on fire") {
		t.Fatalf("job %+v", st.Job)
	}
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	info := taskInfoIn(t, insp, tasks.StepTaskID(id, 0), asynq.TaskStateArchived)
	if info.State != asynq.TaskStateArchived || info.Retried != 2 || info.LastErr != "disk on fire" {
		t.Fatalf("task state %v retried %d last error %q", info.State, info.Retried, info.LastErr)
	}
	counts := scrape(t, h, "compressq_tasks_total")
	if got := counts[`outcome="retry",queue="default",type="debug:sleep"`]; got != 2 {
		t.Errorf("retry count %v, want 2 (all: %v)", got, counts)
	}
	if got := counts[`outcome="archived",queue="default",type="debug:sleep"`]; got != 1 {
		t.Errorf("archived count %v, want 1 (all: %v)", got, counts)
	}
}

func TestMalformedPayloadArchivedAtOnce(t *testing.T) {
	h := start(t, nil)
	client := asynq.NewClientFromRedisClient(h.rc)
	defer client.Close()
	info, err := client.Enqueue(asynq.NewTask(tasks.TypeQuantize, []byte(`{"v":1,"model":"file:///m","bits":3,"granularity":"per-row"}`)), asynq.MaxRetry(5))
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := client.Enqueue(asynq.NewTask("compress:shrink", []byte(`{}`)), asynq.MaxRetry(5))
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	for _, tc := range []struct {
		id   string
		want []string
	}{
		{info.ID, []string{"bits: 3 not supported", `granularity: "per-row" is not one of`}},
		{unknown.ID, []string{`task type "compress:shrink" is unknown`}},
	} {
		var got *asynq.TaskInfo
		testwait.Until(20*time.Second, func() bool { // the state is checked below
			if got, err = insp.GetTaskInfo("default", tc.id); err != nil {
				t.Fatal(err)
			}
			return got.State == asynq.TaskStateArchived
		})
		if got.State != asynq.TaskStateArchived || got.Retried != 0 {
			t.Fatalf("task %s: state %v after %d retries, want archived at once", tc.id, got.State, got.Retried)
		}
		for _, w := range tc.want {
			if !strings.Contains(got.LastErr, w) {
				t.Errorf("archived reason %q does not name %q", got.LastErr, w)
			}
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	h := start(t, func(c *configs.Config) { c.Jobs.Retention = time.Hour })
	for i := 0; i < 3; i++ {
		h.wait(t, h.submit(t, `{"type":"debug:sleep","payload":{"v":1}}`), 20*time.Second)
	}
	// Two tasks that stay scheduled in the low queue.
	h.submit(t, `{"type":"debug:sleep","payload":{"v":1},"options":{"queue":"low","process_in":"1h"}}`)
	h.submit(t, `{"type":"debug:sleep","payload":{"v":1},"options":{"queue":"low","process_in":"1h"}}`)

	outcomes := scrape(t, h, "compressq_tasks_total")
	if got := outcomes[`outcome="success",queue="default",type="debug:sleep"`]; got != 3 {
		t.Errorf("successes %v, want 3 (all: %v)", got, outcomes)
	}
	depth := scrape(t, h, "compressq_queue_tasks")
	for series, want := range map[string]float64{
		`queue="default",state="completed"`: 3,
		`queue="default",state="pending"`:   0,
		`queue="low",state="scheduled"`:     2,
		`queue="low",state="pending"`:       0,
	} {
		if got, ok := depth[series]; !ok || got != want {
			t.Errorf("compressq_queue_tasks{%s} = %v (present %v), want %v", series, got, ok, want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + h.w.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
}

// scrape GETs the worker's /metrics and returns the samples of one metric
// family keyed by their sorted label pairs.
func scrape(t *testing.T, h *harness, family string) map[string]float64 {
	t.Helper()
	return scrapeAddr(t, h.w.HTTPAddr(), family)
}

// scrapeAddr is scrape for the worker serving /metrics at addr.
func scrapeAddr(t *testing.T, addr, family string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s: %s", resp.Status, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not valid text format: %v", err)
	}
	out := map[string]float64{}
	mf, ok := families[family]
	if !ok {
		return out
	}
	for _, m := range mf.GetMetric() {
		var labels []string
		for _, lp := range m.GetLabel() {
			labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
		}
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		out[strings.Join(labels, ",")] = v
	}
	return out
}

// TestTrainThenQuantize is the batch-compression pipeline in miniature: a
// train step on real MNIST, one-shot global pruning of its output (@prev),
// then the calibrated quantization recipe, evaluated as an integer-only
// model.
func TestTrainThenQuantize(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST")
	}
	h := start(t, nil)
	data := strconv.Quote(putMNIST(t, h.store))
	arch := `{"name":"mlp-32","input":[1,28,28],"layers":[{"type":"flatten"},{"type":"dense","units":32},{"type":"relu"},{"type":"dense","units":10}]}`
	id := h.submit(t, `{"steps":[
		{"type":"train","payload":{"v":1,"arch":`+arch+`,"data":`+data+`,"epochs":1,"seed":7}},
		{"type":"compress:prune","payload":{"v":1,"model":"@prev","data":`+data+`,"method":"global","sparsity":0.5}},
		{"type":"compress:quantize","payload":{"v":1,"model":"@prev","data":`+data+`,"bits":8,"granularity":"per-channel","calibration":"minmax","calib_size":500}}]}`)
	st := h.wait(t, id, 3*time.Minute)
	if st.Status != rdb.StatusSucceeded {
		t.Fatalf("job %s at step %d: %s", st.Status, st.FailedStep, st.Error)
	}
	var tr tasks.TrainResult
	var pr tasks.PruneResult
	var qr tasks.QuantizeResult
	if err := errors.Join(json.Unmarshal(st.Results[0], &tr), json.Unmarshal(st.Results[1], &pr), json.Unmarshal(st.Results[2], &qr)); err != nil {
		t.Fatal(err)
	}
	if pr.NonzeroAfter > pr.NonzeroBefore*6/10 || pr.AccuracyBefore != tr.Accuracy || pr.AccuracyAfter < tr.Accuracy-0.05 {
		t.Fatalf("prune result %+v (trained accuracy %v)", pr, tr.Accuracy)
	}
	if tr.Accuracy < 0.90 || tr.Params != 784*32+32+32*10+10 || len(tr.Curve) != 1 {
		t.Fatalf("train result %+v", tr)
	}
	if qr.Ratio < 3 || qr.AccuracyFP32 != pr.AccuracyAfter || math.Abs(qr.AccuracyInt8-qr.AccuracyFP32) > 0.01 {
		t.Fatalf("quantize result %+v (pruned accuracy %v)", qr, pr.AccuracyAfter)
	}
	// Each step read exactly the model the step before wrote.
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	for step, want := range []string{tr.Artifact, pr.Artifact} {
		info, err := insp.GetTaskInfo("default", tasks.StepTaskID(id, step+1))
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Model string }
		if err := json.Unmarshal(info.Payload, &p); err != nil || p.Model != want {
			t.Fatalf("step %d read %q, step %d produced %q (%v)", step+1, p.Model, step, want, err)
		}
	}
}

// TestTrainThenDistill trains a teacher and distils it into a smaller
// student through the queue, the teacher passed on as @prev.
func TestTrainThenDistill(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST")
	}
	h := start(t, nil)
	mlp := func(units int) string {
		return fmt.Sprintf(`{"name":"mlp-%d","input":[1,28,28],"layers":[{"type":"flatten"},{"type":"dense","units":%d},{"type":"relu"},{"type":"dense","units":10}]}`, units, units)
	}
	data := strconv.Quote(putMNIST(t, h.store))
	id := h.submit(t, `{"steps":[
		{"type":"train","payload":{"v":1,"arch":`+mlp(64)+`,"data":`+data+`,"epochs":1,"seed":3}},
		{"type":"compress:distill","payload":{"v":1,"teacher":"@prev","data":`+data+`,"student":`+mlp(16)+`,"temperature":4,"alpha":0.9,"epochs":1,"seed":3}}]}`)
	st := h.wait(t, id, 3*time.Minute)
	if st.Status != rdb.StatusSucceeded {
		t.Fatalf("job %s at step %d: %s", st.Status, st.FailedStep, st.Error)
	}
	var tr tasks.TrainResult
	var dr tasks.DistillResult
	if err := errors.Join(json.Unmarshal(st.Results[0], &tr), json.Unmarshal(st.Results[1], &dr)); err != nil {
		t.Fatal(err)
	}
	if dr.TeacherAccuracy != tr.Accuracy || dr.Params != 784*16+16+16*10+10 || dr.StudentAccuracy < 0.85 || dr.Errors <= 0 || dr.Artifact == "" {
		t.Fatalf("distill result %+v (teacher trained to %v)", dr, tr.Accuracy)
	}
}

// TestDivergedTrainingNotRetried: a training run whose loss turns NaN or
// Inf fails its job at once with the reason, without retries — the same
// configuration would diverge again.
func TestDivergedTrainingNotRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST")
	}
	h := start(t, nil)
	arch := `{"name":"mlp-16","input":[1,28,28],"layers":[{"type":"flatten"},{"type":"dense","units":16},{"type":"relu"},{"type":"dense","units":10}]}`
	id := h.submit(t, `{"type":"train","payload":{"v":1,"arch":`+arch+`,"data":`+strconv.Quote(putMNIST(t, h.store))+`,"epochs":1,"lr":1e9,"seed":1},"options":{"max_retry":3}}`)
	st := h.wait(t, id, time.Minute)
	if st.Status != rdb.StatusFailed || !strings.Contains(st.Error, "training diverged") || !strings.Contains(st.Error, "lower the learning rate") {
		t.Fatalf("job %s: %q", st.Status, st.Error)
	}
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	info := taskInfoIn(t, insp, tasks.StepTaskID(id, 0), asynq.TaskStateArchived)
	if info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("task %s, retried %d: want archived without a retry", info.State, info.Retried)
	}
}
