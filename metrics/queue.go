package metrics

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultScrapeTimeout bounds how long one Collect of the queue collector
// waits for Redis, below Prometheus's default scrape timeout of 10 s.
const DefaultScrapeTimeout = 5 * time.Second

// queueStates are the values of the state label of compressq_queue_tasks.
var queueStates = []string{"pending", "active", "scheduled", "retry", "archived", "completed", "aggregating"}

// queueCollector reads queue statistics from Redis through an asynq
// Inspector on every scrape and reports them as const metrics.
type queueCollector struct {
	insp    *asynq.Inspector
	logger  *slog.Logger
	timeout time.Duration
	wg      sync.WaitGroup // readers still running, waited for by tests

	tasks     *prometheus.Desc
	latency   *prometheus.Desc
	paused    *prometheus.Desc
	memory    *prometheus.Desc
	processed *prometheus.Desc
	failed    *prometheus.Desc
	up        *prometheus.Desc
}

// NewQueueCollector returns a collector that, on each scrape, lists the
// queues with insp.Queues and reads each with insp.GetQueueInfo, reporting
//
//	compressq_queue_tasks{queue,state}          tasks per state (pending, active, scheduled, retry, archived, completed, aggregating)
//	compressq_queue_latency_seconds{queue}      age of the oldest pending task
//	compressq_queue_paused{queue}               1 if the queue is paused
//	compressq_queue_memory_bytes{queue}         Redis memory the queue uses (sampled)
//	compressq_queue_processed_total{queue}      tasks processed, all time
//	compressq_queue_failed_total{queue}         tasks that failed, all time
//	compressq_queue_inspector_up                1 if Redis answered every query of this scrape
//
// A failed query is reported as an invalid metric (so a registry's Gather
// returns the error) and as compressq_queue_inspector_up 0; it is logged on
// logger (nil: slog.Default()). The Inspector's methods take no context, so
// a scrape waits at most DefaultScrapeTimeout: a slower query is abandoned
// and finishes in the background, bounded by the Redis client's own read
// timeout.
func NewQueueCollector(insp *asynq.Inspector, logger *slog.Logger) prometheus.Collector {
	return newQueueCollector(insp, logger, DefaultScrapeTimeout)
}

func newQueueCollector(insp *asynq.Inspector, logger *slog.Logger, timeout time.Duration) *queueCollector {
	if logger == nil {
		logger = slog.Default()
	}
	q := []string{"queue"}
	return &queueCollector{
		insp:    insp,
		logger:  logger,
		timeout: timeout,
		tasks: prometheus.NewDesc("compressq_queue_tasks",
			"Tasks in the queue by state.", []string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("compressq_queue_latency_seconds",
			"Age of the oldest pending task in the queue; 0 when none is pending.", q, nil),
		paused: prometheus.NewDesc("compressq_queue_paused",
			"1 if the queue is paused, else 0.", q, nil),
		memory: prometheus.NewDesc("compressq_queue_memory_bytes",
			"Redis memory used by the queue's tasks (sampled estimate).", q, nil),
		processed: prometheus.NewDesc("compressq_queue_processed_total",
			"Tasks processed from the queue (succeeded or failed), all time.", q, nil),
		failed: prometheus.NewDesc("compressq_queue_failed_total",
			"Tasks from the queue whose run failed, all time.", q, nil),
		up: prometheus.NewDesc("compressq_queue_inspector_up",
			"1 if Redis answered every queue query of this scrape, else 0.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
	ch <- c.up
}

func (c *queueCollector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.tasks, c.latency, c.paused, c.memory, c.processed, c.failed}
}

// snapshot is what one scrape read from Redis.
type snapshot struct {
	infos []*asynq.QueueInfo
	errs  []error // one per failed query
}

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	// Buffered so the reader can finish and exit even after a timeout.
	done := make(chan snapshot, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		done <- c.read()
	}()

	var snap snapshot
	select {
	case snap = <-done:
	case <-time.After(c.timeout):
		snap.errs = []error{fmt.Errorf("queue metrics: Redis did not answer within %v", c.timeout)}
	}

	for _, info := range snap.infos {
		q := info.Queue
		counts := []int{info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived, info.Completed, info.Aggregating}
		for i, state := range queueStates {
			ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(counts[i]), q, state)
		}
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds(), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q)
		ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, float64(info.MemoryUsage), q)
		ch <- prometheus.MustNewConstMetric(c.processed, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(info.FailedTotal), q)
	}
	up := 1.0
	for _, err := range snap.errs {
		up = 0
		c.logger.Warn("queue metrics scrape failed", "err", err)
		for _, d := range c.descs() {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}

// read queries Redis for every queue.
func (c *queueCollector) read() snapshot {
	var s snapshot
	queues, err := c.insp.Queues()
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("queue metrics: list queues: %w", err))
		return s
	}
	for _, q := range queues {
		info, err := c.insp.GetQueueInfo(q)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("queue metrics: queue %q: %w", q, err))
			continue
		}
		s.infos = append(s.infos, info)
	}
	return s
}
