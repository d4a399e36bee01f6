package worker_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
	"github.com/compressq/compressq/worker"
)

// netJobs is how many jobs each network fault scenario submits.
const netJobs = 300

// netEnv is a redis-server with a toxiproxy proxy in front of it (run in
// this process), an artifact root the scenario's workers share, and a
// producer that talks to Redis directly.
type netEnv struct {
	srv       *redistest.Server
	proxy     *toxiproxy.Proxy
	artifacts string
	p         *producer.Producer
	insp      *asynq.Inspector
	regs      []*prometheus.Registry
}

func newNetEnv(t *testing.T) *netEnv {
	t.Helper()
	e := &netEnv{srv: redistest.Start(t), artifacts: t.TempDir()}
	ts := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	e.proxy = toxiproxy.NewProxy(ts, "redis", "127.0.0.1:0", e.srv.Addr)
	if err := e.proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.proxy.Stop)
	cfg := testConfig(t, e.srv.URL())
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	e.p = producer.New(rc, rdb.NewStore(rc, cfg.Jobs.StateTTL), worker.Defaults(cfg))
	t.Cleanup(func() { e.p.Close() })
	e.insp = asynq.NewInspectorFromRedisClient(rc)
	t.Cleanup(func() { e.insp.Close() })
	return e
}

// proxyURL is the Redis URL through the proxy.
func (e *netEnv) proxyURL() string { return "redis://" + e.proxy.Listen + "/0" }

// startWorker runs a worker on url with the shared artifact root.
func (e *netEnv) startWorker(t *testing.T, url string, concurrency int) {
	t.Helper()
	cfg := testConfig(t, url)
	cfg.Artifacts.Root = e.artifacts
	cfg.Worker.Concurrency = concurrency
	cfg.Worker.LeaseRetryDelay = time.Second
	reg := prometheus.NewRegistry()
	startConfig(t, cfg, reg)
	e.regs = append(e.regs, reg)
}

// toxic adds a toxic (toxiproxy's JSON form) to the proxy.
func (e *netEnv) toxic(t *testing.T, spec string) {
	t.Helper()
	if _, err := e.proxy.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
		t.Fatalf("toxic %s: %v", spec, err)
	}
}

// count sums a debug:sleep counter over the scenario's workers.
func (e *netEnv) count(family string) float64 {
	var n float64
	for _, reg := range e.regs {
		n += counterOf(reg, family, tasks.TypeSleep)
	}
	return n
}

// submit submits n debug:sleep jobs of duration d.
func (e *netEnv) submit(t *testing.T, n int, d time.Duration) []string {
	t.Helper()
	spec, err := producer.ParseSpec(fmt.Appendf(nil, `{"type":"debug:sleep","payload":{"v":1,"duration":%q},"options":{"max_retry":10}}`, d))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		if ids[i], err = e.p.Submit(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// probePing sends PING to addr on a new connection and reads the reply.
func probePing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if reply != "+PONG\r\n" {
		return fmt.Errorf("PING: reply %q", reply)
	}
	return nil
}

// netResult is what a scenario measured.
type netResult struct {
	drain   time.Duration // from the first submission to the last job's end
	lost    int           // jobs not succeeded when the scenario gave up
	extra   float64       // computations beyond one per job
	reused  float64       // runs that wrote a checkpointed result
	retries float64       // result writes retried
	retried int           // jobs whose task ran more than once (asynq's retry count)
}

// drain waits up to timeout for every job to finish and measures the run.
//
// With onceOnly it also fails the test if any job's work ran twice; a
// partition longer than asynq's lease cannot promise that (see the
// partition case), so it only reports it.
func (e *netEnv) drain(t *testing.T, ids []string, since time.Time, timeout time.Duration, onceOnly bool) netResult {
	t.Helper()
	open := map[string]bool{}
	for _, id := range ids {
		open[id] = true
	}
	succeeded := 0
	testwait.Until(timeout, func() bool {
		for id := range open {
			st, err := e.p.Status(context.Background(), id)
			if err != nil {
				t.Fatalf("status of job %s: %v", id, err)
			}
			switch st.Status {
			case rdb.StatusSucceeded:
				succeeded++
				delete(open, id)
			case rdb.StatusFailed:
				t.Errorf("job %s failed: %s", id, st.Error)
				delete(open, id)
			}
		}
		return len(open) == 0
	})
	r := netResult{
		drain:   time.Since(since),
		lost:    len(ids) - succeeded,
		extra:   e.count("compressq_task_computations_total") - float64(len(ids)),
		reused:  e.count("compressq_task_results_reused_total"),
		retries: e.count("compressq_task_result_write_retries_total"),
	}
	// Why tasks were retried: the last error of each retried one.
	reasons := map[string]int{}
	for _, id := range ids {
		info, err := e.insp.GetTaskInfo("default", tasks.StepTaskID(id, 0))
		if err != nil || info.Retried == 0 {
			continue
		}
		r.retried++
		reason, _, _ := strings.Cut(info.LastErr, " (")
		reasons[reason]++
	}
	t.Logf("%d jobs: drained in %v; lost %d; ran twice %v; results reused %v; result writes retried %v; tasks retried %d %v",
		len(ids), r.drain.Round(100*time.Millisecond), r.lost, r.extra, r.reused, r.retries, r.retried, reasons)
	if r.lost != 0 {
		t.Errorf("%d of %d jobs did not succeed", r.lost, len(ids))
	}
	if onceOnly && r.extra != 0 {
		t.Errorf("%v computations beyond one per job: some task ran twice", r.extra)
	}
	return r
}

// TestNetFault runs jobs through workers whose connection to Redis goes
// through a fault-injecting proxy: a baseline with no toxic, added
// latency, connection resets, and a 30 s partition of one of two workers.
// In each, every job must succeed and no computation may run twice.
func TestNetFault(t *testing.T) {
	if testing.Short() {
		t.Skip("network fault scenarios take up to two minutes (asynq's lease recovery)")
	}
	t.Parallel() // alongside the other slow tests; each scenario has its own redis-server
	redistest.Require(t)
	t.Run("baseline", func(t *testing.T) {
		t.Parallel()
		e := newNetEnv(t)
		e.startWorker(t, e.proxyURL(), 16)
		begin := time.Now()
		e.drain(t, e.submit(t, netJobs, 0), begin, time.Minute, true)
	})
	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		e := newNetEnv(t)
		// Every reply from Redis is 100 ± 50 ms late.
		e.toxic(t, `{"name":"latency","type":"latency","stream":"downstream","attributes":{"latency":100,"jitter":50}}`)
		e.startWorker(t, e.proxyURL(), 16)
		begin := time.Now()
		e.drain(t, e.submit(t, netJobs, 0), begin, 2*time.Minute, true)
	})
	t.Run("reset", func(t *testing.T) {
		t.Parallel()
		e := newNetEnv(t)
		e.startWorker(t, e.proxyURL(), 16)
		begin := time.Now()
		ids := e.submit(t, netJobs, 200*time.Millisecond)
		// For 15 s, every half second a fifth of the open connections (and
		// of those opened meanwhile) are reset (TCP RST) at Redis's next
		// reply, which is lost: the command ran, the worker saw an error.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			end := time.After(15 * time.Second)
			for {
				e.toxic(t, `{"name":"reset","type":"reset_peer","stream":"downstream","toxicity":0.2,"attributes":{"timeout":0}}`)
				select {
				case <-stop:
				case <-end:
				case <-tick.C:
					if err := e.proxy.Toxics.RemoveToxic(context.Background(), "reset"); err != nil {
						t.Errorf("remove the reset toxic: %v", err)
						return
					}
					continue
				}
				e.proxy.Toxics.RemoveToxic(context.Background(), "reset")
				return
			}
		})
		// A probe pings through the proxy meanwhile, on a new connection
		// each time: its failures show that resets happen.
		var pings, failed int
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				pings++
				if probePing(e.proxy.Listen) != nil {
					failed++
				}
				time.Sleep(10 * time.Millisecond) // pacing, not polling
			}
		})
		e.drain(t, ids, begin, 3*time.Minute, true)
		close(stop)
		wg.Wait()
		t.Logf("probe: %d of %d pings through the proxy failed", failed, pings)
		if failed == 0 {
			t.Errorf("no probe ping failed: the resets did not happen")
		}
	})
	t.Run("partition", func(t *testing.T) {
		t.Parallel()
		e := newNetEnv(t)
		e.startWorker(t, e.proxyURL(), 8)
		begin := time.Now()
		ids := e.submit(t, netJobs, 100*time.Millisecond)
		testwait.Eventually(t, time.Minute, func() bool { return e.count("compressq_task_computations_total") >= 40 },
			"the proxied worker computed nothing")
		// Cut the proxied worker off for 30 s; a second worker talks to
		// Redis directly meanwhile.
		e.proxy.Stop()
		e.startWorker(t, e.srv.URL(), 8)
		time.Sleep(30 * time.Second)
		if err := e.proxy.Start(); err != nil {
			t.Fatalf("re-enable the proxy: %v", err)
		}
		// The cut-off worker cannot extend its leases: a task still
		// computing, or not yet checkpointed, when its lease expires is
		// run again by the other worker, so duplicates are reported here,
		// not failed; nothing may be lost.
		e.drain(t, ids, begin, 3*time.Minute, false)
	})
}
