package worker_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
	"github.com/compressq/compressq/worker"
)

// counterOf reads a counter of reg by family and type label. It gathers
// directly, not over HTTP: with Redis down the queue collector fails, and
// the counters are still there.
func counterOf(reg *prometheus.Registry, family, typ string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == typ {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// outageCase is one run of a job step whose computation finishes while
// Redis is down.
type outageCase struct {
	srv   *redistest.Server
	h     *harness
	reg   *prometheus.Registry
	job   string
	insp  *asynq.Inspector
	downs time.Time
}

// startOutage submits spec on a worker over an AOF-backed redis-server and
// kills the server as soon as the step computes.
func startOutage(t *testing.T, spec string) *outageCase {
	t.Helper()
	c := &outageCase{srv: redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always"), reg: prometheus.NewRegistry()}
	cfg := testConfig(t, c.srv.URL())
	cfg.Worker.LeaseRetryDelay = time.Second
	c.h = startConfig(t, cfg, c.reg)
	c.job = c.h.submit(t, spec)
	c.insp = asynq.NewInspectorFromRedisClient(c.h.rc)
	t.Cleanup(func() { c.insp.Close() })
	// The job turns running when the handler has recorded the step's
	// start, its last Redis write before it computes.
	testwait.Eventually(t, 20*time.Second, func() bool {
		st, err := c.h.p.Status(context.Background(), c.job)
		return err == nil && st.Status == rdb.StatusRunning
	}, "the step never started")
	c.srv.Kill()
	c.downs = time.Now()
	return c
}

func (c *outageCase) count(family string) float64 { return counterOf(c.reg, family, tasks.TypeSleep) }

// restart brings Redis back from its append-only file and returns how long
// the job took to complete after that.
func (c *outageCase) restart(t *testing.T) time.Duration {
	t.Helper()
	c.srv.Restart(t)
	restarted := time.Now()
	var st *producer.Status
	testwait.Eventually(t, 3*time.Minute, func() bool {
		s, err := c.h.p.Status(context.Background(), c.job)
		if err != nil {
			return false // the client is still reconnecting
		}
		st = s
		return st.Status == rdb.StatusSucceeded || st.Status == rdb.StatusFailed
	}, "job %s not finished after Redis came back", c.job)
	took := time.Since(restarted)
	if st.Status != rdb.StatusSucceeded {
		t.Fatalf("job after the outage: %+v", st.Job)
	}
	// The job records its end before asynq moves the task: wait for it.
	// After a run whose lease was recovered, asynq v0.26 can fail that move
	// ("NOT FOUND") and leave the task active; that is reported, not
	// failed, as it is the queue library's state, not compressq's.
	var info *asynq.TaskInfo
	testwait.Until(10*time.Second, func() bool {
		i, err := c.insp.GetTaskInfo("default", tasks.StepTaskID(c.job, 0))
		if err == nil {
			info = i
		}
		return err == nil && i.State == asynq.TaskStateCompleted
	})
	if info == nil {
		t.Fatal("no task info after the outage")
	}
	if !strings.Contains(string(info.Result), `"slept"`) {
		t.Fatalf("task after the outage: state %v, result %q", info.State, info.Result)
	}
	if info.State != asynq.TaskStateCompleted {
		t.Logf("asynq left the task %v after the job succeeded", info.State)
	}
	t.Logf("Redis down %v; job completed %v after the restart", restarted.Sub(c.downs).Round(time.Millisecond), took.Round(time.Millisecond))
	return took
}

// checkpointsLeft lists the result checkpoints left in the artifact store.
func (c *outageCase) checkpointsLeft(t *testing.T) []string {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(c.h.cfg.Artifacts.Root, "results", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return left
}

// TestFinishedWorkKept kills Redis while a step computes (a 3 s sleep) and
// restarts it after the computation has finished and its result writes
// have failed: the same run retries the writes and completes the job once
// Redis is back, and the computation ran exactly once.
func TestFinishedWorkKept(t *testing.T) {
	t.Parallel() // its own redis-server; it waits on timers
	c := startOutage(t, `{"type":"debug:sleep","payload":{"v":1,"duration":"3s"},"options":{"max_retry":3}}`)
	testwait.Eventually(t, 20*time.Second, func() bool { return c.count("compressq_task_result_write_retries_total") >= 3 },
		"the result writes did not fail and retry while Redis was down")
	if n := c.count("compressq_task_computations_total"); n != 1 {
		t.Fatalf("%v computations before the restart, want 1", n)
	}
	c.restart(t)
	if n := c.count("compressq_task_computations_total"); n != 1 {
		t.Errorf("the computation ran %v times, want 1", n)
	}
	if n := c.count("compressq_task_results_reused_total"); n != 0 {
		t.Errorf("%v runs reused a checkpoint, want 0 (the first run should have written its result)", n)
	}
	if left := c.checkpointsLeft(t); len(left) != 0 {
		t.Errorf("result checkpoints left behind: %v", left)
	}
}

// TestFinishedWorkReusedOnRetry keeps Redis down past the step's timeout,
// so the run that computed gives up writing: the next run finds the result
// checkpoint in the artifact store and writes it without computing again.
// asynq v0.26 cannot record the failed run's retry once Redis is back (its
// syncer retries with a context that is already canceled), so the next
// run comes from the recoverer once the lease has expired, as after a
// killed worker.
func TestFinishedWorkReusedOnRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq's lease recovery (one to two minutes)")
	}
	t.Parallel() // its own redis-server; it waits on timers
	c := startOutage(t, `{"type":"debug:sleep","payload":{"v":1,"duration":"2s"},"options":{"max_retry":3,"timeout":"4s"}}`)
	testwait.Eventually(t, 20*time.Second, func() bool {
		return counterOf(c.reg, "compressq_tasks_total", tasks.TypeSleep) >= 1
	}, "the run did not end while Redis was down")
	if n := c.count("compressq_task_computations_total"); n != 1 {
		t.Fatalf("%v computations before the restart, want 1", n)
	}
	if left := c.checkpointsLeft(t); len(left) != 1 {
		t.Fatalf("result checkpoints while Redis is down: %v, want one", left)
	}
	c.restart(t)
	if n := c.count("compressq_task_computations_total"); n != 1 {
		t.Errorf("the computation ran %v times, want 1", n)
	}
	if n := c.count("compressq_task_results_reused_total"); n != 1 {
		t.Errorf("%v runs reused the checkpoint, want 1", n)
	}
	if left := c.checkpointsLeft(t); len(left) != 0 {
		t.Errorf("result checkpoints left behind: %v", left)
	}
}

// TestRecordedStepNotComputedAgain runs a job step's task a second time
// after the step has succeeded, as asynq does when it could not move the
// task out of active after its successful run (lease recovery runs it
// again): the second run writes the step's recorded result instead of
// computing, and the job keeps its state.
func TestRecordedStepNotComputedAgain(t *testing.T) {
	t.Parallel() // its own redis-server
	reg := prometheus.NewRegistry()
	srv := redistest.Start(t)
	h := startConfig(t, testConfig(t, srv.URL()), reg)
	h.srv = srv
	id := h.submit(t, `{"type":"debug:sleep","payload":{"v":1,"duration":"10ms"}}`)
	if st := h.wait(t, id, 20*time.Second); st.Status != rdb.StatusSucceeded {
		t.Fatalf("job %+v", st.Job)
	}
	j, err := rdb.NewStore(h.rc, time.Hour).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var spec tasks.JobSpec
	if err := json.Unmarshal(j.Spec, &spec); err != nil {
		t.Fatal(err)
	}
	again, err := spec.StepTask(id, 0, "", worker.Defaults(h.cfg))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(h.rc)
	defer client.Close()
	// Step 0's task again, under another task id (asynq keeps the first as
	// completed) and kept once done, so its result can be read.
	info, err := client.Enqueue(again, asynq.TaskID(id+"/again"), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	testwait.Eventually(t, 20*time.Second, func() bool {
		i, err := insp.GetTaskInfo(info.Queue, info.ID)
		if err == nil {
			info = i
		}
		return err == nil && i.State == asynq.TaskStateCompleted
	}, "the repeated run did not complete: %v", testwait.Lazy(func() string { return info.State.String() }))
	if n := counterOf(reg, "compressq_task_computations_total", tasks.TypeSleep); n != 1 {
		t.Errorf("the step computed %v times, want 1", n)
	}
	if n := counterOf(reg, "compressq_task_results_reused_total", tasks.TypeSleep); n != 1 {
		t.Errorf("%v runs reused the recorded result, want 1", n)
	}
	if string(info.Result) != string(j.Results[0]) {
		t.Errorf("the repeated run's result %s, want the recorded %s", info.Result, j.Results[0])
	}
	st, err := h.p.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != rdb.StatusSucceeded || string(st.Results[0]) != string(j.Results[0]) {
		t.Errorf("job after the repeated run: %+v", st.Job)
	}
}
