package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
	"github.com/compressq/compressq/worker"
)

// failoverResult is what one Sentinel failover run measured.
type failoverResult struct {
	acked, succeeded, failed, lost, stuck int
	// doubled counts jobs whose handler succeeded more than once (from the
	// workers' "task done" log lines); extraWork counts computations beyond
	// one per succeeded job (compressq_task_computations_total): a rerun
	// that reused a stored or recorded result is in doubled and reused,
	// not in extraWork.
	doubled, extraWork, reused int
	// leftActive counts tasks still active in asynq at the deadline.
	leftActive int
	// failovers is the sentinels' config epoch at the end: 1 when the
	// kill caused the only failover.
	failovers                   int
	submitResume, processResume time.Duration
	// allDone is the time from the kill until the last acknowledged job
	// finished (or the deadline); drained until no task was active,
	// pending or waiting for a retry any more (or the deadline).
	allDone, drained time.Duration
}

// TestSentinelFailover runs two `compressq worker` processes on a
// Sentinel-managed primary with two replicas and three sentinels, submits
// 2,000 one-step jobs from eight goroutines, and SIGKILLs the primary once
// 600 are acknowledged. It measures how long submissions and processing
// take to resume, and counts acknowledged jobs lost (no state, or state but
// no task) and jobs whose work ran more than once. With
// redis.wait_replicas 1 no acknowledged job may be lost; without it the
// numbers are reported only, since Redis replicates asynchronously.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a Sentinel-managed primary under load")
	}
	t.Parallel() // its own Sentinel topology; it waits for asynq's lease recovery too
	for _, wait := range []int{0, 1} {
		t.Run(fmt.Sprintf("wait_replicas=%d", wait), func(t *testing.T) {
			// Both runs spend most of their time waiting for asynq's lease
			// recovery: run them side by side.
			t.Parallel()
			r := runFailover(t, wait, 2000)
			t.Logf("wait_replicas=%d: %d acknowledged, %d succeeded, %d failed, %d lost, %d stuck at the deadline, "+
				"%d succeeded twice, %d reused a result, %d computations beyond one per job, %d tasks still active at the deadline; "+
				"submissions resumed %v after the kill, processing %v, last job done %v, queue drained %v; %d failovers",
				wait, r.acked, r.succeeded, r.failed, r.lost, r.stuck, r.doubled, r.reused, r.extraWork, r.leftActive,
				r.submitResume.Round(10*time.Millisecond), r.processResume.Round(10*time.Millisecond),
				r.allDone.Round(100*time.Millisecond), r.drained.Round(100*time.Millisecond), r.failovers)
			if r.acked != 2000 {
				t.Errorf("%d of 2000 submissions acknowledged", r.acked)
			}
			if r.failed != 0 {
				t.Errorf("%d jobs failed", r.failed)
			}
			if wait > 0 && r.lost != 0 {
				t.Errorf("with wait_replicas=%d, %d acknowledged jobs were lost", wait, r.lost)
			}
		})
	}
}

func runFailover(t *testing.T, wait, jobs int) failoverResult {
	st := redistest.StartSentinel(t, 2, 3)
	cfg := testConfig(t, st.URL())
	cfg.Redis.DialTimeout, cfg.Redis.ReadTimeout, cfg.Redis.WriteTimeout = time.Second, time.Second, time.Second
	cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout = wait, 2*time.Second
	// The workers are processes of their own, configured like the producer.
	env := []string{
		"COMPRESSQ_WORKER_CONCURRENCY=8",
		"COMPRESSQ_WORKER_RETRY_DELAY_MAX=100ms",
		"COMPRESSQ_REDIS_DIAL_TIMEOUT=1s", "COMPRESSQ_REDIS_READ_TIMEOUT=1s", "COMPRESSQ_REDIS_WRITE_TIMEOUT=1s",
		fmt.Sprintf("COMPRESSQ_REDIS_WAIT_REPLICAS=%d", wait), "COMPRESSQ_REDIS_WAIT_TIMEOUT=2s",
	}
	procs := []*workerProc{
		startWorkerProc(t, st.URL(), cfg.Artifacts.Root, env...),
		startWorkerProc(t, st.URL(), cfg.Artifacts.Root, env...),
	}
	var addrs []string
	for _, w := range procs {
		addrs = append(addrs, w.httpAddr(t))
	}
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	p := producer.New(rc, rdb.NewStore(rc, cfg.Jobs.StateTTL), worker.Defaults(cfg))
	defer p.Close()
	p.WaitReplicas, p.WaitTimeout = cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout
	insp := asynq.NewInspectorFromRedisClient(rc)
	defer insp.Close()
	ctx := context.Background()

	var (
		res          failoverResult
		mu           sync.Mutex
		ackedIDs     []string
		killAt       time.Time
		killed       = make(chan struct{})
		acked        atomic.Int64
		submitResume time.Duration
	)
	ids := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for id := range ids {
				spec := &tasks.JobSpec{ID: id, Type: tasks.TypeSleep, Payload: []byte(`{"v":1,"duration":"20ms"}`)}
				var err error
				testwait.Until(60*time.Second, func() bool {
					start := time.Now()
					s := *spec
					if _, err = p.Submit(ctx, &s); err != nil {
						return !producer.Unavailable(err) // retry while Redis is unavailable
					}
					mu.Lock()
					ackedIDs = append(ackedIDs, id)
					select {
					case <-killed:
						if start.After(killAt) && (submitResume == 0 || time.Since(killAt) < submitResume) {
							submitResume = time.Since(killAt)
						}
					default:
					}
					mu.Unlock()
					acked.Add(1)
					return true
				})
				if err != nil {
					t.Errorf("submit %s: %v", id, err)
				}
			}
		})
	}
	// Processing has resumed once the processed count read from the new
	// primary grows.
	var processResume atomic.Int64
	pollDone := make(chan struct{})
	var pollWG sync.WaitGroup
	pollWG.Go(func() {
		<-killed
		last := -1
		testwait.Until(5*time.Minute, func() bool {
			select {
			case <-pollDone:
				return true // the test stopped measuring
			default:
			}
			qi, err := insp.GetQueueInfo("default")
			if err != nil {
				return false
			}
			if last >= 0 && qi.Processed > last {
				mu.Lock()
				processResume.Store(int64(time.Since(killAt)))
				mu.Unlock()
				return true
			}
			last = qi.Processed
			return false
		})
	})
	for i := range jobs {
		if i == 600 {
			testwait.Eventually(t, 2*time.Minute, func() bool { return acked.Load() >= 600 },
				"%s of 600 submissions acknowledged before the kill", testwait.Lazy(func() string { return fmt.Sprint(acked.Load()) }))
			primary := st.Primary(ctx)
			mu.Lock()
			killAt = time.Now()
			close(killed)
			mu.Unlock()
			primary.Kill()
		}
		ids <- fmt.Sprintf("job-%04d", i)
	}
	close(ids)
	wg.Wait()
	res.acked = int(acked.Load())

	// Wait for every acknowledged job to finish, then for asynq to have no
	// task left to run, or for the deadline: a task asynq could not move
	// out of active at the failover runs again only after lease recovery,
	// 55–130 s after the kill, even when its job has succeeded.
	deadline := killAt.Add(150 * time.Second)
	pending := slices.Clone(ackedIDs)
	testwait.Until(time.Until(deadline), func() bool { // the jobs left are counted below
		var next []string
		for _, id := range pending {
			s, err := p.Status(ctx, id)
			if err != nil && !errors.Is(err, rdb.ErrNoJob) {
				next = append(next, id) // Redis busy: ask again
				continue
			}
			if err == nil && s.Status != rdb.StatusSucceeded && s.Status != rdb.StatusFailed && s.Task != nil {
				next = append(next, id)
			}
		}
		pending = next
		return len(pending) == 0
	})
	mu.Lock()
	res.allDone = time.Since(killAt)
	mu.Unlock()
	var qi *asynq.QueueInfo
	testwait.Until(time.Until(deadline), func() bool { // what is left is reported below
		q, err := insp.GetQueueInfo("default")
		if err == nil {
			qi = q
		}
		return err == nil && q.Active+q.Pending+q.Retry+q.Scheduled == 0
	})
	res.drained = time.Since(killAt)
	if qi != nil {
		res.leftActive = qi.Active
	}
	close(pollDone)
	pollWG.Wait()
	for _, id := range ackedIDs {
		s, err := p.Status(ctx, id)
		switch {
		case errors.Is(err, rdb.ErrNoJob):
			res.lost++
		case err != nil:
			t.Fatalf("status of %s: %v", id, err)
		case s.Status == rdb.StatusSucceeded:
			res.succeeded++
		case s.Status == rdb.StatusFailed:
			res.failed++
			t.Logf("job %s failed: %s", id, s.Error)
		case s.Task == nil:
			res.lost++ // state without a task: its enqueue was lost
		default:
			res.stuck++
			if res.stuck <= 5 {
				t.Logf("job %s stuck: job %s, task %+v", id, s.Status, *s.Task)
			}
		}
	}
	// Work that ran twice, across both processes: successful runs per task
	// from their logs (a worker logs "task done" after recording the
	// result), computations from their /metrics.
	testwait.Until(10*time.Second, func() bool { return successRuns(procs) >= res.succeeded })
	for _, n := range successRunsByTask(procs) {
		if n > 1 {
			res.doubled++
		}
	}
	computed, reused := 0.0, 0.0
	for _, addr := range addrs {
		computed += scrapeAddr(t, addr, "compressq_task_computations_total")[`type="debug:sleep"`]
		reused += scrapeAddr(t, addr, "compressq_task_results_reused_total")[`type="debug:sleep"`]
	}
	res.extraWork, res.reused = int(computed)-res.succeeded, int(reused)
	for i, w := range procs {
		done, problems := 0, map[string]int{}
		w.records(func(rec map[string]any) {
			switch {
			case rec["msg"] == "task done":
				done++
			case rec["msg"] == "task failed":
				problems[fmt.Sprintf("task failed: %v", rec["error"])]++
			case rec["level"] != "INFO" && rec["level"] != "DEBUG":
				problems[fmt.Sprint(rec["msg"])]++
			}
		})
		t.Logf("worker process %d: %d tasks done; warnings and errors logged: %v", i, done, problems)
	}
	if res.stuck > 0 {
		// Are the stuck tasks where asynq's forwarder and recoverer look?
		if qi, err := insp.GetQueueInfo("default"); err == nil {
			t.Logf("queue default at the deadline: pending %d, active %d, retry %d, scheduled %d, archived %d",
				qi.Pending, qi.Active, qi.Retry, qi.Scheduled, qi.Archived)
		}
	}
	res.submitResume, res.processResume = submitResume, time.Duration(processResume.Load())
	if out, err := st.Sentinels[0].Do(ctx, "SENTINEL", "MASTER", st.MasterName); err == nil {
		fields := strings.Split(out, "\n")
		for i := 0; i+1 < len(fields); i += 2 {
			if fields[i] == "config-epoch" {
				res.failovers, _ = strconv.Atoi(fields[i+1])
			}
		}
	}
	return res
}

// successRunsByTask counts the "task done" log lines of procs by task id:
// how often each task's handler finished its work and recorded it.
func successRunsByTask(procs []*workerProc) map[string]int {
	n := map[string]int{}
	for _, w := range procs {
		w.records(func(rec map[string]any) {
			if id, ok := rec["task_id"].(string); ok && rec["msg"] == "task done" {
				n[id]++
			}
		})
	}
	return n
}

// successRuns is the number of "task done" log lines of procs.
func successRuns(procs []*workerProc) int {
	total := 0
	for _, n := range successRunsByTask(procs) {
		total += n
	}
	return total
}

// TestClusterTopology runs two workers on a Redis Cluster of three
// primaries with one replica each. asynq keeps each queue in one hash slot,
// so queue names are chosen until every shard holds one; the test logs
// which shard holds which queue. Jobs on every queue, a pipeline whose
// steps cross the shards, a sweep and a sensitivity fan-out complete; then
// the primary holding the default queue is killed, its replica promoted,
// and new jobs complete too.
func TestClusterTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a six-node Redis Cluster")
	}
	cl := redistest.StartCluster(t, 3, 1)
	ctx := context.Background()
	cfg := testConfig(t, "redis-cluster://"+strings.Join(cl.Addrs()[:3], ","))
	cfg.Worker.Concurrency = 8
	probe, err := rdb.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	// asynq keeps a queue's keys in the slot of its hash tag, the queue
	// name; the task contract fixes the names (critical, default, sweep,
	// low). Where two shards would carry every queue, the slot of one queue
	// moves to the idle shard.
	slotOf := func(q string) int {
		slot, err := probe.ClusterKeySlot(ctx, "asynq:{"+q+"}:pending").Result()
		if err != nil {
			t.Fatal(err)
		}
		return int(slot)
	}
	names := slices.Sorted(maps.Keys(cfg.Worker.Queues))
	queues := map[string]string{} // queue → primary address
	load := map[string][]string{} // primary → queues
	for _, p := range cl.Primaries(t) {
		load[p] = nil
	}
	for _, q := range names {
		queues[q] = cl.PrimaryForSlot(t, slotOf(q))
		load[queues[q]] = append(load[queues[q]], q)
	}
	for _, idle := range slices.Sorted(maps.Keys(load)) {
		if len(load[idle]) > 0 {
			continue
		}
		var busiest string
		for p, qs := range load {
			if len(qs) > len(load[busiest]) {
				busiest = p
			}
		}
		q := load[busiest][len(load[busiest])-1]
		cl.MoveSlot(t, slotOf(q), idle)
		t.Logf("moved slot %d (queue %s) from %s to %s", slotOf(q), q, busiest, idle)
		load[busiest], load[idle], queues[q] = load[busiest][:len(load[busiest])-1], []string{q}, idle
	}
	for _, q := range names {
		if got := cl.PrimaryForSlot(t, slotOf(q)); got != queues[q] {
			t.Fatalf("queue %s on %s, want %s", q, got, queues[q])
		}
		t.Logf("queue %-8s slot %5d -> shard %s", q, slotOf(q), queues[q])
	}
	h := startConfig(t, cfg, nil)
	startConfig(t, cfg, nil)

	// Jobs on every queue.
	var ids []string
	for _, q := range slices.Sorted(maps.Keys(queues)) {
		for i := range 25 {
			ids = append(ids, h.submit(t, fmt.Sprintf(`{"id":"%s-%d","type":"debug:sleep","payload":{"v":1,"duration":"5ms"},"options":{"queue":%q}}`, q, i, q)))
		}
	}
	// A pipeline whose steps cross every shard.
	var steps []string
	for _, q := range slices.Sorted(maps.Keys(queues)) {
		steps = append(steps, fmt.Sprintf(`{"type":"debug:sleep","payload":{"v":1},"options":{"queue":%q}}`, q))
	}
	pipeline := h.submit(t, `{"id":"pipeline","steps":[`+strings.Join(steps, ",")+`]}`)
	// A sensitivity fan-out.
	model, err := h.store.Put(ctx, bytes.NewReader(sensitivityModel(t)), ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	sens := h.submit(t, fmt.Sprintf(`{"id":"sensitivity","type":"compress:sensitivity","payload":{"v":1,"model":%q,"data":%q,"levels":[0.5,0.9],"eval_size":500,"target":0.5}}`, model, putMNIST(t, h.store)))
	// A sweep.
	table := putTable(t, h)
	ctl := sweep.New(h.rc, time.Hour, worker.Defaults(h.cfg))
	defer ctl.Close()
	swSpec, err := sweep.ParseSpec([]byte(testSpace + "id: cluster-sweep\nstrategy: random\nseed: 5\nmax_trials: 20\nconcurrency: 4\nevaluator: {type: table, table: \"" + table + "\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	swID, err := ctl.Start(ctx, swSpec)
	if err != nil {
		t.Fatal(err)
	}

	for _, id := range append(ids, pipeline, sens) {
		if s := h.wait(t, id, 2*time.Minute); s.Status != rdb.StatusSucceeded {
			t.Fatalf("job %s: %s at step %d: %s", id, s.Status, s.FailedStep, s.Error)
		}
	}
	var s *sweep.Status
	testwait.Eventually(t, time.Minute, func() bool {
		if s, err = ctl.Status(ctx, swID); err != nil {
			t.Fatal(err)
		}
		return s.Status == rdb.SweepDone
	}, "sweep %s", testwait.Lazy(func() string { return fmt.Sprintf("%s: %+v", s.Status, s.Progress) }))
	verifySweep(t, s, swSpec, 20)
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	defer insp.Close()
	perShard := map[string]int{}
	for q, shard := range queues {
		qi, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatalf("queue %s: %v", q, err)
		}
		perShard[shard] += qi.Processed
	}
	t.Logf("tasks processed per shard: %v", perShard)
	for shard, n := range perShard {
		if n == 0 {
			t.Errorf("shard %s processed no task", shard)
		}
	}

	// Kill the primary holding the default queue; its replica takes over.
	victim := cl.Server(queues["default"])
	killAt := time.Now()
	victim.Kill()
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := cl.WaitFailover(hctx, victim.Addr); err != nil {
		for _, n := range cl.Nodes(t) {
			t.Logf("%+v", n)
			if srv := cl.Server(n.Addr); srv != nil && srv.Running() {
				if !n.Primary {
					t.Logf("log of %s:\n%s", n.Addr, srv.Output())
				}
			}
		}
		t.Fatalf("after killing %s: %v", victim.Addr, err)
	}
	promoted := time.Since(killAt)
	var after []string
	for i := range 20 {
		spec, _ := producer.ParseSpec(fmt.Appendf(nil, `{"id":"after-%d","type":"debug:sleep","payload":{"v":1}}`, i))
		var err error
		testwait.Until(30*time.Second, func() bool {
			_, err = h.p.Submit(ctx, spec)
			return err == nil || !producer.Unavailable(err) && !isMoved(err)
		})
		if err != nil {
			t.Fatalf("submit after failover: %v", err)
		}
		after = append(after, spec.ID)
	}
	for _, id := range after {
		if s := h.wait(t, id, time.Minute); s.Status != rdb.StatusSucceeded {
			t.Fatalf("job %s after failover: %s: %s", id, s.Status, s.Error)
		}
	}
	t.Logf("killed primary %s: replica promoted (cluster ok) after %v; 20 new default-queue jobs done %v after the kill",
		victim.Addr, promoted.Round(10*time.Millisecond), time.Since(killAt).Round(10*time.Millisecond))
}

// isMoved reports a cluster redirection a client may see while slots move.
func isMoved(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && (strings.HasPrefix(re.Error(), "MOVED") || strings.HasPrefix(re.Error(), "ASK"))
}
