// Command soak pushes many no-op tasks through real worker processes and
// reports what an operator sizes a deployment by: throughput, queue wait and
// run time percentiles, Redis memory during the run and after retention
// expired the completed tasks, and each worker's resident memory over the
// run (a leak shows as growth).
//
// Run it from the repository root; it needs redis-server on PATH unless
// --redis-url points at a server it may flush (one server, Sentinel or
// Cluster, in the URL forms every compressq command takes):
//
//	go run ./bench/soak --tasks 200000 --workers 2
//
// It builds cmd/compressq, starts redis-server on a free loopback port
// (no persistence), starts the workers, enqueues debug:sleep tasks of zero
// duration with --retention through producer.EnqueueBatch (at --rate per
// second, or as fast as it can), polls every second, and prints a Markdown
// report. It exits non-zero if a task failed or went missing.
//
// --queues spreads the tasks over several queues, batch by batch, and the
// workers serve them all with equal weight. asynq keeps each queue in one
// hash slot, so on Redis Cluster the queue names decide which shards carry
// work: compare_test.go picks names that land on every shard and compares
// one server with a three-primary cluster.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
)

type options struct {
	tasks, workers, concurrency int
	rate                        float64
	retention, timeout          time.Duration
	redisURL, logLevel, out     string
	queues                      []string
}

func main() {
	var o options
	flag.IntVar(&o.tasks, "tasks", 200000, "tasks to run")
	flag.IntVar(&o.workers, "workers", 2, "worker processes")
	flag.IntVar(&o.concurrency, "concurrency", 20, "tasks each worker runs at once")
	flag.Float64Var(&o.rate, "rate", 0, "tasks enqueued per second; 0 enqueues as fast as possible")
	flag.DurationVar(&o.retention, "retention", 30*time.Second, "how long a completed task is kept")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.StringVar(&o.redisURL, "redis-url", "", "use this Redis (it is flushed; a redis://, redis-sentinel:// or redis-cluster:// URL) instead of starting redis-server")
	flag.StringVar(&o.logLevel, "log-level", "info", "the workers' log level (their logs go to a file)")
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	queues := flag.String("queues", "default", "comma-separated queues the tasks are spread over, batch by batch; the workers serve each with weight 1")
	flag.Parse()
	o.queues = strings.Split(*queues, ",")
	log.SetFlags(log.Ltime)
	report, _, err := run(o)
	if report != "" {
		fmt.Print(report)
		if o.out != "" {
			if werr := os.WriteFile(o.out, []byte(report), 0o644); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

// sample is one poll of the system.
type sample struct {
	at        time.Duration // since the first enqueue
	done      int64         // tasks that succeeded
	enqueued  int64
	redisMem  int64
	rss       []int64 // per worker, bytes
	pending   int
	completed int // completed tasks still kept
}

// run runs the soak and returns its report and the time from the first
// enqueue to the last success.
func run(o options) (string, time.Duration, error) {
	ctx := context.Background()
	for _, q := range o.queues {
		if q == "" || strings.ContainsAny(q, "=, ") {
			return "", 0, fmt.Errorf("--queues: %q is not a queue name", q)
		}
	}
	dir, err := os.MkdirTemp("", "compressq-soak-")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(dir)

	url := o.redisURL
	if url == "" {
		stop, u, err := startRedis(dir)
		if err != nil {
			return "", 0, err
		}
		defer stop()
		url = u
	}
	rc, err := openRedis(url)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	if err := flush(ctx, rc); err != nil {
		return "", 0, err
	}

	bin := filepath.Join(dir, "compressq")
	log.Printf("building %s", "cmd/compressq")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/compressq/compressq/cmd/compressq").CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("go build: %v\n%s", err, out)
	}
	var workers []*exec.Cmd
	var addrs []string
	defer func() {
		for _, w := range workers {
			_ = w.Process.Signal(os.Interrupt)
			_ = w.Wait()
		}
	}()
	for i := range o.workers {
		addr, err := freeAddr()
		if err != nil {
			return "", 0, err
		}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.log", i)))
		if err != nil {
			return "", 0, err
		}
		defer logf.Close()
		cmd := exec.Command(bin, "worker", "--concurrency", strconv.Itoa(o.concurrency), "--http-addr", addr)
		weights := make([]string, len(o.queues))
		for i, q := range o.queues {
			weights[i] = q + "=1"
		}
		cmd.Env = append(os.Environ(), "COMPRESSQ_REDIS_URL="+url, "COMPRESSQ_LOG_LEVEL="+o.logLevel,
			"COMPRESSQ_WORKER_QUEUES="+strings.Join(weights, ","), "COMPRESSQ_JOBS_QUEUE="+o.queues[0])
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return "", 0, err
		}
		workers = append(workers, cmd)
		addrs = append(addrs, addr)
	}
	for _, a := range addrs {
		if err := waitReady(a, 30*time.Second); err != nil {
			return "", 0, err
		}
	}
	baseMem, err := usedMemory(ctx, rc)
	if err != nil {
		return "", 0, err
	}
	log.Printf("%d workers ready; Redis uses %s; enqueueing %d tasks", o.workers, mib(baseMem), o.tasks)

	p := producer.New(rc, nil, tasks.Defaults{})
	defer p.Close()
	insp := asynq.NewInspectorFromRedisClient(rc)
	start := time.Now()
	var enqueued atomic.Int64
	enqErr := make(chan error, 1)
	go func() { enqErr <- enqueue(ctx, p, o, start, &enqueued) }()

	var samples []sample
	var finished time.Duration
	for {
		time.Sleep(time.Second)
		select {
		case err := <-enqErr:
			if err != nil {
				return "", 0, err
			}
		default:
		}
		s, failed, err := poll(ctx, rc, insp, o.queues, addrs, workers)
		if err != nil {
			return "", 0, err
		}
		s.at, s.enqueued = time.Since(start), enqueued.Load()
		samples = append(samples, s)
		if failed > 0 {
			return "", 0, fmt.Errorf("%d tasks failed", failed)
		}
		if s.done >= int64(o.tasks) && finished == 0 {
			finished = s.at
			log.Printf("all %d tasks done in %v", o.tasks, finished.Round(time.Millisecond))
			break
		}
		if s.at > o.timeout {
			return "", 0, fmt.Errorf("timed out: %d of %d tasks done", s.done, o.tasks)
		}
		if len(samples)%10 == 0 {
			log.Printf("%v: %d enqueued, %d done, Redis %s", s.at.Round(time.Second), s.enqueued, s.done, mib(s.redisMem))
		}
	}
	wait, dur, err := histograms(addrs)
	if err != nil {
		return "", 0, err
	}
	// Retention: asynq's janitor deletes completed tasks some seconds
	// after they expire.
	log.Printf("waiting %v for retention to expire the completed tasks", o.retention+20*time.Second)
	time.Sleep(o.retention + 20*time.Second)
	after, _, err := poll(ctx, rc, insp, o.queues, addrs, workers)
	if err != nil {
		return "", 0, err
	}
	after.at = time.Since(start)
	return format(o, baseMem, samples, after, finished, wait, dur), finished, nil
}

// enqueue submits o.tasks no-op tasks in batches, paced at o.rate, each
// batch to the next of o.queues, and keeps the running count in n.
func enqueue(ctx context.Context, p *producer.Producer, o options, start time.Time, n *atomic.Int64) error {
	const batch = 100
	for sent, b := 0, 0; sent < o.tasks; b++ {
		k := min(batch, o.tasks-sent)
		if o.rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(sent) / o.rate * float64(time.Second)))))
		}
		// Each task is built just before it is enqueued: it carries the
		// time it became due, from which workers measure its queue wait.
		ts := make([]*asynq.Task, k)
		for i := range ts {
			t, err := tasks.New(&tasks.SleepPayload{V: tasks.Version})
			if err != nil {
				return err
			}
			ts[i] = t
		}
		_, errs := p.EnqueueBatch(ctx, ts, 16, asynq.Queue(o.queues[b%len(o.queues)]), asynq.Retention(o.retention), asynq.MaxRetry(0))
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		sent += k
		n.Store(int64(sent))
	}
	return nil
}

// poll samples Redis, the queues, each worker's RSS and its task counters.
func poll(ctx context.Context, rc redis.UniversalClient, insp *asynq.Inspector, queues, addrs []string, workers []*exec.Cmd) (sample, int64, error) {
	var s sample
	var failed int64
	var err error
	if s.redisMem, err = usedMemory(ctx, rc); err != nil {
		return s, 0, err
	}
	for _, q := range queues {
		if qi, err := insp.GetQueueInfo(q); err == nil {
			s.pending += qi.Pending
			s.completed += qi.Completed
		}
	}
	for i, a := range addrs {
		mfs, err := scrape(a)
		if err != nil {
			return s, 0, err
		}
		for _, m := range mfs["compressq_tasks_total"].GetMetric() {
			if label(m, "type") != tasks.TypeSleep {
				continue
			}
			if label(m, "outcome") == "success" {
				s.done += int64(m.GetCounter().GetValue())
			} else {
				failed += int64(m.GetCounter().GetValue())
			}
		}
		rss, err := rssBytes(workers[i].Process.Pid)
		if err != nil {
			return s, 0, err
		}
		s.rss = append(s.rss, rss)
	}
	return s, failed, nil
}

// histograms sums the workers' debug:sleep wait and duration histograms.
func histograms(addrs []string) (wait, dur map[float64]uint64, err error) {
	wait, dur = map[float64]uint64{}, map[float64]uint64{}
	for _, a := range addrs {
		mfs, err := scrape(a)
		if err != nil {
			return nil, nil, err
		}
		for name, into := range map[string]map[float64]uint64{"compressq_task_wait_seconds": wait, "compressq_task_duration_seconds": dur} {
			for _, m := range mfs[name].GetMetric() {
				if label(m, "type") != tasks.TypeSleep {
					continue
				}
				for _, b := range m.GetHistogram().GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) { // the text format's +Inf bucket is the count
						into[b.GetUpperBound()] += b.GetCumulativeCount()
					}
				}
				into[math.Inf(1)] += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return wait, dur, nil
}

// quantile estimates the q-quantile of a cumulative histogram by linear
// interpolation within the bucket, as Prometheus's histogram_quantile does,
// and formats it with the bucket it lies in: the true value is somewhere in
// that bucket.
func quantileText(q float64, h map[float64]uint64) string {
	v := quantile(q, h)
	if math.IsNaN(v) {
		return "n/a"
	}
	lo := 0.0
	for _, b := range sortedBounds(h) {
		if v <= b {
			return fmt.Sprintf("%s (in %s–%s)", secs(v), secs(lo), secs(b))
		}
		lo = b
	}
	return secs(v)
}

func sortedBounds(h map[float64]uint64) []float64 {
	bounds := make([]float64, 0, len(h))
	for b := range h {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	return bounds
}

// quantile estimates the q-quantile of a cumulative histogram by linear
// interpolation within its bucket.
func quantile(q float64, h map[float64]uint64) float64 {
	bounds := sortedBounds(h)
	total := h[math.Inf(1)]
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	lo, prev := 0.0, uint64(0)
	for _, b := range bounds {
		if float64(h[b]) >= rank {
			if math.IsInf(b, 1) {
				return lo
			}
			n := h[b] - prev
			if n == 0 {
				return b
			}
			return lo + (b-lo)*(rank-float64(prev))/float64(n)
		}
		lo, prev = b, h[b]
	}
	return lo
}

func format(o options, baseMem int64, samples []sample, after sample, finished time.Duration, wait, dur map[float64]uint64) string {
	var b strings.Builder
	last := samples[len(samples)-1]
	fmt.Fprintf(&b, "\n## Soak: %d no-op tasks, %d worker processes × concurrency %d\n\n", o.tasks, o.workers, o.concurrency)
	rate := "as fast as possible"
	if o.rate > 0 {
		rate = fmt.Sprintf("%g/s", o.rate)
	}
	fmt.Fprintf(&b, "Enqueued %s with retention %v to queue(s) %s.\n\n", rate, o.retention, strings.Join(o.queues, ", "))
	fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| wall time, first enqueue to last success | %.1f s |\n", finished.Seconds())
	fmt.Fprintf(&b, "| throughput | %.0f tasks/s |\n", float64(o.tasks)/finished.Seconds())
	fmt.Fprintf(&b, "| queue wait p50 / p99 | %s / %s |\n", quantileText(0.5, wait), quantileText(0.99, wait))
	fmt.Fprintf(&b, "| run time p50 / p99 | %s / %s |\n", quantileText(0.5, dur), quantileText(0.99, dur))
	peak := baseMem
	for _, s := range samples {
		peak = max(peak, s.redisMem)
	}
	fmt.Fprintf(&b, "| Redis used_memory: before / peak / at the end | %s / %s / %s |\n", mib(baseMem), mib(peak), mib(last.redisMem))
	fmt.Fprintf(&b, "| completed tasks kept at the end / after retention | %d / %d |\n", last.completed, after.completed)
	fmt.Fprintf(&b, "| Redis used_memory after retention | %s (%+d bytes vs before) |\n", mib(after.redisMem), after.redisMem-baseMem)
	if last.completed > 0 {
		fmt.Fprintf(&b, "| Redis bytes per kept completed task | %.0f |\n", float64(last.redisMem-baseMem)/float64(last.completed))
	}
	fmt.Fprintf(&b, "\nWorker resident memory (MiB) at fractions of the tasks done:\n\n")
	fmt.Fprintf(&b, "| worker | 10%% | 25%% | 50%% | 75%% | 100%% | after retention | growth 25%%→100%% |\n|---|---|---|---|---|---|---|---|\n")
	at := func(frac float64) sample {
		for _, s := range samples {
			if float64(s.done) >= frac*float64(o.tasks) {
				return s
			}
		}
		return last
	}
	for i := range o.workers {
		fmt.Fprintf(&b, "| %d |", i)
		for _, f := range []float64{0.1, 0.25, 0.5, 0.75, 1} {
			fmt.Fprintf(&b, " %.1f |", float64(at(f).rss[i])/(1<<20))
		}
		g := float64(last.rss[i])/float64(at(0.25).rss[i]) - 1
		fmt.Fprintf(&b, " %.1f | %+.1f%% |\n", float64(after.rss[i])/(1<<20), 100*g)
	}
	fmt.Fprintf(&b, "\nQueue wait and run time are estimated from the workers' histograms (compressq_task_wait_seconds, compressq_task_duration_seconds) by interpolation within buckets, as histogram_quantile does; the bucket each lies in is given, since the true value can be anywhere in it.\n")
	return b.String()
}

func secs(s float64) string {
	switch {
	case math.IsNaN(s):
		return "n/a"
	case s == 0:
		return "0"
	case s < 1e-3:
		return fmt.Sprintf("%.0f µs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.1f ms", s*1e3)
	}
	return fmt.Sprintf("%.1f s", s)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func scrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

func waitReady(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("worker at %s not ready after %v", addr, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openRedis opens url (one server, Sentinel or Cluster) the way every
// compressq process does.
func openRedis(url string) (redis.UniversalClient, error) {
	cfg := configs.Default().Redis
	cfg.URL = url
	return rdb.Open(cfg)
}

// flush empties the database, on every primary of a cluster.
func flush(ctx context.Context, rc redis.UniversalClient) error {
	if cc, ok := rc.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.FlushDB(ctx).Err() })
	}
	return rc.FlushDB(ctx).Err()
}

// usedMemory is Redis's used_memory, summed over the primaries of a
// cluster.
func usedMemory(ctx context.Context, rc redis.UniversalClient) (int64, error) {
	cc, ok := rc.(*redis.ClusterClient)
	if !ok {
		return nodeMemory(ctx, rc)
	}
	var total atomic.Int64
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := nodeMemory(ctx, c)
		total.Add(n)
		return err
	})
	return total.Load(), err
}

// nodeMemory is one server's used_memory.
func nodeMemory(ctx context.Context, rc redis.Cmdable) (int64, error) {
	info, err := rc.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO memory has no used_memory")
}

// rssBytes reads a process's resident set size from /proc (Linux).
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startRedis runs redis-server without persistence on a free port.
func startRedis(dir string) (stop func(), url string, err error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("redis-server: %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	url = "redis://" + addr + "/0"
	rc, err := openRedis(url)
	if err != nil {
		stop()
		return nil, "", err
	}
	defer rc.Close()
	for deadline := time.Now().Add(10 * time.Second); rc.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			stop()
			return nil, "", errors.New("redis-server did not answer PING in 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stop, url, nil
}
