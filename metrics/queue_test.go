package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/compressq/compressq/internal/redistest"
)

// fillQueues puts tasks in known states into two queues:
//
//	critical: 3 pending
//	default:  1 pending, 2 scheduled, 1 archived; paused
func fillQueues(t *testing.T, addr string) *asynq.Inspector {
	t.Helper()
	opt := asynq.RedisClientOpt{Addr: addr}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })

	enqueue := func(queue string, opts ...asynq.Option) *asynq.TaskInfo {
		t.Helper()
		info, err := client.Enqueue(asynq.NewTask("test:noop", nil), append(opts, asynq.Queue(queue))...)
		if err != nil {
			t.Fatalf("enqueue to %s: %v", queue, err)
		}
		return info
	}
	for range 3 {
		enqueue("critical")
	}
	enqueue("default")
	enqueue("default", asynq.ProcessIn(time.Hour))
	enqueue("default", asynq.ProcessIn(2*time.Hour))
	victim := enqueue("default")
	if err := insp.ArchiveTask("default", victim.ID); err != nil {
		t.Fatalf("archive: %v", err)
	}
	if err := insp.PauseQueue("default"); err != nil {
		t.Fatalf("pause: %v", err)
	}
	return insp
}

const wantQueues = `
# HELP compressq_queue_tasks Tasks in the queue by state.
# TYPE compressq_queue_tasks gauge
compressq_queue_tasks{queue="critical",state="active"} 0
compressq_queue_tasks{queue="critical",state="aggregating"} 0
compressq_queue_tasks{queue="critical",state="archived"} 0
compressq_queue_tasks{queue="critical",state="completed"} 0
compressq_queue_tasks{queue="critical",state="pending"} 3
compressq_queue_tasks{queue="critical",state="retry"} 0
compressq_queue_tasks{queue="critical",state="scheduled"} 0
compressq_queue_tasks{queue="default",state="active"} 0
compressq_queue_tasks{queue="default",state="aggregating"} 0
compressq_queue_tasks{queue="default",state="archived"} 1
compressq_queue_tasks{queue="default",state="completed"} 0
compressq_queue_tasks{queue="default",state="pending"} 1
compressq_queue_tasks{queue="default",state="retry"} 0
compressq_queue_tasks{queue="default",state="scheduled"} 2
# HELP compressq_queue_paused 1 if the queue is paused, else 0.
# TYPE compressq_queue_paused gauge
compressq_queue_paused{queue="critical"} 0
compressq_queue_paused{queue="default"} 1
# HELP compressq_queue_processed_total Tasks processed from the queue (succeeded or failed), all time.
# TYPE compressq_queue_processed_total counter
compressq_queue_processed_total{queue="critical"} 0
compressq_queue_processed_total{queue="default"} 0
# HELP compressq_queue_failed_total Tasks from the queue whose run failed, all time.
# TYPE compressq_queue_failed_total counter
compressq_queue_failed_total{queue="critical"} 0
compressq_queue_failed_total{queue="default"} 0
# HELP compressq_queue_inspector_up 1 if Redis answered every queue query of this scrape, else 0.
# TYPE compressq_queue_inspector_up gauge
compressq_queue_inspector_up 1
`

func TestQueueCollector(t *testing.T) {
	srv := redistest.Start(t)
	insp := fillQueues(t, srv.Addr)
	c := NewQueueCollector(insp, quiet)

	if err := testutil.CollectAndCompare(c, strings.NewReader(wantQueues),
		"compressq_queue_tasks", "compressq_queue_paused", "compressq_queue_processed_total",
		"compressq_queue_failed_total", "compressq_queue_inspector_up"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	// Values that depend on time and on Redis's allocator: check their range.
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"critical", "default"} {
		lat := value(t, mfs, "compressq_queue_latency_seconds", map[string]string{"queue": q})
		if lat < 0 || lat > 3600 {
			t.Errorf("latency of %s = %v s, want a small non-negative age", q, lat)
		}
		if mem := value(t, mfs, "compressq_queue_memory_bytes", map[string]string{"queue": q}); mem <= 0 {
			t.Errorf("memory of %s = %v, want > 0 for a queue holding tasks", q, mem)
		}
	}
}

// TestQueueCollectorCountsProcessedAndFailed runs a worker over the critical
// queue, where one task of three fails for good.
func TestQueueCollectorCountsProcessedAndFailed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an asynq server")
	}
	srv := redistest.Start(t)
	opt := asynq.RedisClientOpt{Addr: srv.Addr}
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	for _, payload := range []string{"ok", "ok", "fail"} {
		if _, err := client.Enqueue(asynq.NewTask("test:job", []byte(payload)), asynq.Queue("critical"), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
	server := asynq.NewServer(opt, asynq.Config{
		Concurrency: 1,
		Queues:      map[string]int{"critical": 1},
		LogLevel:    asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("test:job", func(_ context.Context, task *asynq.Task) error {
		if string(task.Payload()) == "fail" {
			return errors.New("this task fails")
		}
		return nil
	})
	if err := server.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer server.Shutdown()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := insp.GetQueueInfo("critical")
		if err != nil {
			t.Fatal(err)
		}
		if info.Pending == 0 && info.Active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not processed in time: %+v", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	const want = `
# HELP compressq_queue_processed_total Tasks processed from the queue (succeeded or failed), all time.
# TYPE compressq_queue_processed_total counter
compressq_queue_processed_total{queue="critical"} 3
# HELP compressq_queue_failed_total Tasks from the queue whose run failed, all time.
# TYPE compressq_queue_failed_total counter
compressq_queue_failed_total{queue="critical"} 1
# HELP compressq_queue_tasks Tasks in the queue by state.
# TYPE compressq_queue_tasks gauge
compressq_queue_tasks{queue="critical",state="active"} 0
compressq_queue_tasks{queue="critical",state="aggregating"} 0
compressq_queue_tasks{queue="critical",state="archived"} 1
compressq_queue_tasks{queue="critical",state="completed"} 0
compressq_queue_tasks{queue="critical",state="pending"} 0
compressq_queue_tasks{queue="critical",state="retry"} 0
compressq_queue_tasks{queue="critical",state="scheduled"} 0
`
	c := NewQueueCollector(insp, quiet)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"compressq_queue_processed_total", "compressq_queue_failed_total", "compressq_queue_tasks"); err != nil {
		t.Error(err)
	}
}

func TestQueueCollectorReportsRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	insp := fillQueues(t, srv.Addr)
	srv.Kill()
	reg := prometheus.NewRegistry()
	reg.MustRegister(newQueueCollector(insp, quiet, DefaultScrapeTimeout))
	mfs, err := reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "list queues") {
		t.Fatalf("Gather with Redis down: err = %v, want one about listing queues", err)
	}
	if up := value(t, mfs, "compressq_queue_inspector_up", nil); up != 0 {
		t.Fatalf("compressq_queue_inspector_up = %v, want 0", up)
	}
	for _, mf := range mfs {
		if mf.GetName() == "compressq_queue_tasks" {
			t.Fatal("queue metrics reported while Redis is down")
		}
	}
}

func TestQueueCollectorTimesOut(t *testing.T) {
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: ln.Addr().String(), ReadTimeout: time.Second, DialTimeout: time.Second})
	c := newQueueCollector(insp, quiet, 100*time.Millisecond)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, gerr := reg.Gather()

	// Unblock the abandoned query and wait for everything to end before
	// checking, so no goroutine outlives the test.
	ln.Close()
	wg.Wait()
	mu.Lock()
	for _, conn := range conns {
		conn.Close()
	}
	mu.Unlock()
	c.wg.Wait()
	insp.Close()

	if gerr == nil || !strings.Contains(gerr.Error(), "did not answer within 100ms") {
		t.Fatalf("Gather against a silent server: %v, want a timeout error", gerr)
	}
	if up := value(t, mfs, "compressq_queue_inspector_up", nil); up != 0 {
		t.Fatalf("compressq_queue_inspector_up = %v, want 0", up)
	}
}

// value returns the value of the series of family name whose labels include
// labels; it fails the test when there is none.
func value(t *testing.T, mfs []*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Untyped != nil:
				return m.GetUntyped().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// quiet drops the collector's logs in tests.
var quiet = slog.New(slog.DiscardHandler)
