package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
	"github.com/compressq/compressq/worker"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

func readyz(addr string) int {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRedisUnreachableAtStart(t *testing.T) {
	redistest.Require(t)
	port := freePort(t)
	cfg := testConfig(t, "redis://127.0.0.1:"+port+"/0")
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	st, err := artifact.Open(context.Background(), cfg.Artifacts.Root, nil, cfg.Artifacts.MaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs syncBuffer
	w, err := worker.New(worker.Options{Config: cfg, Redis: rc, Store: st, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	testwait.Eventually(t, 10*time.Second, func() bool { return w.HTTPAddr() != "" }, "no HTTP address; logs:\n%s", &logs)
	testwait.Eventually(t, 15*time.Second, func() bool { return strings.Contains(logs.String(), "redis unreachable, retrying") },
		"no clear error logged while Redis is down; logs:\n%s", &logs)
	if code := readyz(w.HTTPAddr()); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down: %d, want 503", code)
	}
	redistest.Start(t, "--port", port)
	cameUp := time.Now()
	testwait.Eventually(t, 30*time.Second, func() bool { return readyz(w.HTTPAddr()) == http.StatusOK },
		"worker not ready after Redis came up; logs:\n%s", &logs)
	t.Logf("ready %v after Redis came up", time.Since(cameUp).Round(time.Millisecond))
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), worker.Defaults(cfg))
	defer p.Close()
	spec, _ := producer.ParseSpec([]byte(`{"type":"debug:sleep","payload":{"v":1}}`))
	id, err := p.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{p: p}
	if st := h.wait(t, id, 20*time.Second); st.Status != rdb.StatusSucceeded {
		t.Fatalf("job after recovery: %+v", st.Job)
	}
}

// buildBinary builds cmd/compressq once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "compressq-bin-")
	if err != nil {
		return "", err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command builds the worker binary: %w", err)
	}
	bin := filepath.Join(dir, "compressq")
	out, err := exec.Command(gobin, "build", "-o", bin, "../cmd/compressq").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// workerProc is a `compressq worker` child process.
type workerProc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

// procEnv starts a redis-server and opens an artifact store in a
// temporary directory, for tests that run worker processes
// (startWorkerProc) on them.
func procEnv(t *testing.T) (*redistest.Server, string, *artifact.Store) {
	t.Helper()
	srv := redistest.Start(t)
	artifacts := t.TempDir()
	st, err := artifact.Open(context.Background(), artifacts, nil, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return srv, artifacts, st
}

// startWorkerProc starts a `compressq worker` process on redisURL and
// artifacts, at concurrency 1 unless env (COMPRESSQ_* settings, which
// override the defaults here) says otherwise; it stops at the test's end.
func startWorkerProc(t *testing.T, redisURL, artifacts string, env ...string) *workerProc {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "worker", "--redis-url", redisURL, "--artifacts", artifacts,
		"--http-addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(), "COMPRESSQ_WORKER_CONCURRENCY=1", "COMPRESSQ_WORKER_LEASE_RETRY_DELAY=1s", "COMPRESSQ_WORKER_SHUTDOWN_TIMEOUT=2s")
	cmd.Env = append(cmd.Env, env...) // exec keeps the last value of a repeated variable
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &workerProc{cmd: cmd, logs: logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	})
	return p
}

// records calls f with each JSON log record the process wrote so far.
func (p *workerProc) records(f func(rec map[string]any)) {
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			f(rec)
		}
	}
}

// doneCount counts "task done" log lines for a task id.
func (p *workerProc) doneCount(taskID string) int {
	n := 0
	p.records(func(rec map[string]any) {
		if rec["msg"] == "task done" && rec["task_id"] == taskID {
			n++
		}
	})
	return n
}

// httpAddr waits until the worker has logged that it started and returns
// the address of its /metrics.
func (p *workerProc) httpAddr(t *testing.T) string {
	t.Helper()
	var addr string
	testwait.Eventually(t, time.Minute, func() bool {
		p.records(func(rec map[string]any) {
			if a, ok := rec["http"].(string); ok && rec["msg"] == "worker started" {
				addr = a
			}
		})
		return addr != ""
	}, "worker process did not start; logs:\n%s", p.logs)
	return addr
}

// doneCountSettled returns the "task done" lines for taskID summed over
// procs, after waiting up to 10 s for the first: a worker logs the line
// after it has recorded the result, so a test that saw the result may
// read the logs before the line is there.
func doneCountSettled(taskID string, procs ...*workerProc) int {
	count := func() int {
		n := 0
		for _, p := range procs {
			n += p.doneCount(taskID)
		}
		return n
	}
	testwait.Until(10*time.Second, func() bool { return count() > 0 })
	return count()
}

// TestKilledWorkerTaskRecovered kills a worker process mid-task with
// SIGKILL; another worker process picks the task up once its lease has
// expired and asynq's recoverer has run, and completes it exactly once.
func TestKilledWorkerTaskRecovered(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about two minutes: asynq's lease (30 s) and recoverer period (1 min) set the pace")
	}
	t.Parallel() // its own redis-server, artifacts and worker processes
	srv := redistest.Start(t)
	artifacts := t.TempDir()
	a := startWorkerProc(t, srv.URL(), artifacts)

	rc, err := rdb.Open(testConfig(t, srv.URL()).Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cfg := testConfig(t, srv.URL())
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), worker.Defaults(cfg))
	defer p.Close()
	spec, _ := producer.ParseSpec([]byte(`{"type":"debug:sleep","payload":{"v":1,"duration":"5s"},"options":{"max_retry":3}}`))
	id, err := p.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	taskID := tasks.StepTaskID(id, 0)
	insp := asynq.NewInspectorFromRedisClient(rc)
	defer insp.Close()
	testwait.Eventually(t, 30*time.Second, func() bool {
		info, err := insp.GetTaskInfo("default", taskID)
		return err == nil && info.State == asynq.TaskStateActive
	}, "task never became active; worker logs:\n%s", a.logs)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	killed := time.Now()
	b := startWorkerProc(t, srv.URL(), artifacts)

	h := &harness{p: p}
	st := h.wait(t, id, 4*time.Minute)
	recovered := time.Since(killed)
	if st.Status != rdb.StatusSucceeded {
		t.Fatalf("job %+v; worker B logs:\n%s", st.Job, b.logs.String())
	}
	if n := a.doneCount(taskID); n != 0 {
		t.Errorf("killed worker finished the task %d times", n)
	}
	if n := doneCountSettled(taskID, b); n != 1 {
		t.Errorf("second worker finished the task %d times, want exactly 1; logs:\n%s", n, b.logs.String())
	}
	info, err := insp.GetTaskInfo("default", taskID)
	if err == nil && info.Retried != 1 {
		t.Errorf("task retried %d times, want 1 (the lease expiry)", info.Retried)
	}
	t.Logf("task re-run and completed %v after SIGKILL of its worker", recovered.Round(time.Second))
}

// TestSweepSurvivesKilledWorker kills one of two worker processes with
// SIGKILL in the middle of a sweep and starts another: the sweep finishes
// with every trial recorded exactly once, and with the trials an
// uninterrupted run of the same strategy and seed asks for.
func TestSweepSurvivesKilledWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq's lease recovery (about a minute)")
	}
	t.Parallel() // its own redis-server, artifacts and worker processes
	srv, artifacts, st := procEnv(t)
	table := putTable(t, &harness{store: st})
	a := startWorkerProc(t, srv.URL(), artifacts)
	startWorkerProc(t, srv.URL(), artifacts)

	cfg := testConfig(t, srv.URL())
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ctl := sweep.New(rc, time.Hour, worker.Defaults(cfg))
	defer ctl.Close()
	spec, err := sweep.ParseSpec([]byte(testSpace + "id: crash\nstrategy: random\nseed: 5\nmax_trials: 40\nconcurrency: 4\nevaluator: {type: table, delay: 300ms, table: \"" + table + "\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := ctl.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	status := func() *sweep.Status {
		s, err := ctl.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	testwait.Eventually(t, 60*time.Second, func() bool { return status().Progress.Completed >= 8 },
		"sweep made no progress; worker logs:\n%s", a.logs)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	killed := time.Now()
	startWorkerProc(t, srv.URL(), artifacts)
	var s *sweep.Status
	testwait.Until(4*time.Minute, func() bool { s = status(); return s.Status == rdb.SweepDone }) // verifySweep checks it
	t.Logf("sweep finished %v after a worker was killed", time.Since(killed).Round(time.Second))
	verifySweep(t, s, spec, 40)
}

// TestRedisRestartWithAOF kills Redis (no clean shutdown) while jobs wait
// in the queue, and keeps it down until the worker reports not ready and a
// submission with jobs.submit_retry has failed three times and is still
// retrying with backoff; one without retries fails at once with a clear
// error. After the restart the append-only file brings the queued jobs
// back, the retrying submission succeeds, and the running worker
// reconnects and finishes them all without a restart.
func TestRedisRestartWithAOF(t *testing.T) {
	t.Parallel() // its own redis-server; it waits on timers
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	h := startOn(t, srv, nil)
	var ids []string
	for range 20 {
		ids = append(ids, h.submit(t, `{"type":"debug:sleep","payload":{"v":1},"options":{"process_in":"3s"}}`))
	}
	srv.Kill()
	outage := time.Now()
	spec, _ := producer.ParseSpec([]byte(`{"type":"debug:sleep","payload":{"v":1}}`))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := h.p.Submit(ctx, spec)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Submit with Redis down: %v", err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool { return readyz(h.w.HTTPAddr()) != http.StatusOK }, "/readyz still OK with Redis down")
	// With jobs.submit_retry set, a submission waits out the outage. It
	// has a client of its own, whose failed commands tell its attempts.
	rc, err := rdb.Open(h.cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var refused refusedCounter
	rc.AddHook(&refused)
	rp := producer.New(rc, rdb.NewStore(rc, h.cfg.Jobs.StateTTL), worker.Defaults(h.cfg))
	defer rp.Close()
	rp.SubmitRetry = 2 * time.Minute
	type submitted struct {
		id  string
		err error
		at  time.Time
	}
	done := make(chan submitted, 1)
	go func() {
		spec, _ := producer.ParseSpec([]byte(`{"type":"debug:sleep","payload":{"v":1}}`))
		id, err := rp.Submit(context.Background(), spec)
		done <- submitted{id, err, time.Now()}
	}()
	testwait.Eventually(t, time.Minute, func() bool { return refused.n.Load() >= 3 },
		"the retrying submission made %s attempts", testwait.Lazy(func() string { return fmt.Sprint(refused.n.Load()) }))
	select {
	case s := <-done:
		t.Fatalf("Submit returned during the outage: %q, %v", s.id, s.err)
	default:
	}
	srv.Restart(t)
	restarted := time.Now()
	s := <-done
	if s.err != nil {
		t.Fatalf("Submit across a %v outage (%d attempts refused): %v", restarted.Sub(outage).Round(time.Millisecond), refused.n.Load(), s.err)
	}
	t.Logf("Redis down %v; the retrying submission's commands refused %d times", restarted.Sub(outage).Round(time.Millisecond), refused.n.Load())
	// The worker's client (which h.p shares) reports Redis's last dial
	// error until its own redial succeeds: wait for the worker to reconnect.
	testwait.Eventually(t, 30*time.Second, func() bool { return readyz(h.w.HTTPAddr()) == http.StatusOK }, "the worker did not reconnect after the restart")
	t.Logf("submission returned %v after Redis came back", s.at.Sub(restarted).Round(time.Millisecond))
	for _, id := range append(ids, s.id) {
		if st := h.wait(t, id, time.Minute); st.Status != rdb.StatusSucceeded {
			t.Fatalf("job %s after the restart: %+v", id, st.Job)
		}
	}
	if code := readyz(h.w.HTTPAddr()); code != http.StatusOK {
		t.Fatalf("/readyz after the restart: %d", code)
	}
}

// refusedCounter is a go-redis hook counting commands that failed because
// the connection was refused (Redis is down).
type refusedCounter struct{ n atomic.Int64 }

func (c *refusedCounter) count(err error) {
	if errors.Is(err, syscall.ECONNREFUSED) {
		c.n.Add(1)
	}
}

func (c *refusedCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *refusedCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		c.count(err)
		return err
	}
}

func (c *refusedCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		c.count(err)
		return err
	}
}

// TestTimeoutCancelsAndRetries runs a task longer than its timeout: each
// attempt is cancelled through its context, retried per policy, then
// archived with the reason.
func TestTimeoutCancelsAndRetries(t *testing.T) {
	t.Parallel() // its own redis-server; it waits on timers
	h := start(t, nil)
	begin := time.Now()
	id := h.submit(t, `{"type":"debug:sleep","payload":{"v":1,"duration":"1m"},"options":{"timeout":"1s","max_retry":1}}`)
	st := h.wait(t, id, 40*time.Second)
	if st.Status != rdb.StatusFailed || !strings.Contains(st.Error, "deadline exceeded") {
		t.Fatalf("job %+v", st.Job)
	}
	if took := time.Since(begin); took > 30*time.Second {
		t.Fatalf("two 1s attempts of a 1m task took %v: the context was not honoured", took)
	}
	counts := scrape(t, h, "compressq_tasks_total")
	if counts[`outcome="retry",queue="default",type="debug:sleep"`] != 1 || counts[`outcome="archived",queue="default",type="debug:sleep"`] != 1 {
		t.Fatalf("outcomes %v, want one retry and one archived", counts)
	}
}

// TestNoSecretsInLogs runs a worker process whose Redis URL carries a
// password and whose metrics need a token, with Redis unreachable so that
// connection errors are logged too: neither secret may appear in its logs.
func TestNoSecretsInLogs(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	const password, token = "pw-hunter2-secret", "tok-letmein-secret"
	cmd := exec.Command(bin, "worker", "--redis-url", "redis://alice:"+password+"@127.0.0.1:"+freePort(t)+"/0",
		"--artifacts", t.TempDir(), "--http-addr", "127.0.0.1:0", "--log-level", "debug")
	cmd.Env = append(os.Environ(), "COMPRESSQ_WORKER_METRICS_TOKEN="+token)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() { cmd.Process.Kill(); cmd.Wait() })
	defer stop()
	// The worker keeps waiting for Redis: stop it once it has logged its
	// (redacted) config and two failed connection attempts.
	testwait.Eventually(t, 30*time.Second, func() bool {
		out := logs.String()
		return strings.Count(out, "redis unreachable") >= 2 && strings.Contains(out, "xxxxx")
	}, "expected the redacted config and connection errors in the logs:\n%s", &logs)
	stop()
	out := logs.String()
	for _, secret := range []string{password, token} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the secret %q:\n%s", secret, out)
		}
	}
}
