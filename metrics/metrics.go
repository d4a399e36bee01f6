package metrics

import (
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Task outcomes, the values of the outcome label of compressq_tasks_total.
const (
	OutcomeSuccess  = "success"  // the handler returned nil
	OutcomeRetry    = "retry"    // the handler failed and the task will run again
	OutcomeArchived = "archived" // the handler failed for the last time or with SkipRetry
	OutcomeCanceled = "canceled" // the task's context was canceled (shutdown, cancel request)
	// OutcomeUnknown replaces any other value passed to TaskFinished, so the
	// label stays bounded.
	OutcomeUnknown = "unknown"
)

// DurationBuckets are the upper bounds, in seconds, of
// compressq_task_duration_seconds: 1 ms to 1 h, about three per decade.
var DurationBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
}

// WaitBuckets are the upper bounds, in seconds, of
// compressq_task_wait_seconds: 100 µs to 1 h.
var WaitBuckets = append([]float64{0.0001, 0.00025, 0.0005}, DurationBuckets...)

// Metrics holds the task metrics a worker records. Its fields are exported
// for tests and for handlers that need a label combination the methods do
// not cover; prefer TaskStarted and TaskFinished.
type Metrics struct {
	// TasksTotal is compressq_tasks_total{type,queue,outcome}: tasks that
	// finished, by outcome.
	TasksTotal *prometheus.CounterVec
	// TaskDuration is compressq_task_duration_seconds{type}: how long one run
	// of a task took, whatever its outcome.
	TaskDuration *prometheus.HistogramVec
	// TaskWait is compressq_task_wait_seconds{type}: how long a task waited
	// in its queue, from the time it was due to its first run.
	TaskWait *prometheus.HistogramVec
	// TasksInFlight is compressq_tasks_in_flight{type}: tasks running now.
	TasksInFlight *prometheus.GaugeVec
	// BuildInfo is compressq_build_info{version,goversion}, always 1.
	BuildInfo *prometheus.GaugeVec
	// Computations is compressq_task_computations_total{type}: times a
	// handler's computation ran to its end (runs that reused a stored
	// result do not count).
	Computations *prometheus.CounterVec
	// ResultsReused is compressq_task_results_reused_total{type}: runs that
	// found the result of an earlier run's finished computation (in the
	// artifact store, or recorded in the job's state) and wrote it instead
	// of computing again.
	ResultsReused *prometheus.CounterVec
	// ResultWriteRetries is compressq_task_result_write_retries_total{type}:
	// failed attempts to write a finished computation's result to Redis
	// that were retried.
	ResultWriteRetries *prometheus.CounterVec
	// TrialCheckpoints is compressq_trial_checkpoints_total: sweep trials'
	// per-epoch training checkpoints written to the artifact store.
	TrialCheckpoints prometheus.Counter
	// TrialResumes is compressq_trial_resumes_total: sweep trials that
	// continued from a checkpoint instead of training from the start.
	TrialResumes prometheus.Counter
}

// New creates the task metrics and registers them on reg. It panics if reg
// already holds metrics of the same names, as prometheus.MustRegister does:
// call it once per registry.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		TasksTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "compressq_tasks_total",
			Help: "Tasks that finished, by type, queue and outcome (success, retry, archived, canceled).",
		}, []string{"type", "queue", "outcome"}),
		TaskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "compressq_task_duration_seconds",
			Help:    "Duration of one run of a task, by type, whatever its outcome.",
			Buckets: DurationBuckets,
		}, []string{"type"}),
		TaskWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "compressq_task_wait_seconds",
			Help:    "Time from when a task was due (enqueued, or its process_at) to the start of its first run, by type.",
			Buckets: WaitBuckets,
		}, []string{"type"}),
		TasksInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "compressq_tasks_in_flight",
			Help: "Tasks running now in this process, by type.",
		}, []string{"type"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "compressq_build_info",
			Help: "Always 1; labels give the compressq version and the Go version it was built with.",
		}, []string{"version", "goversion"}),
		Computations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "compressq_task_computations_total",
			Help: "Times a task handler's computation ran to its end, by type (runs that reused a stored result do not count).",
		}, []string{"type"}),
		ResultsReused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "compressq_task_results_reused_total",
			Help: "Task runs that wrote the stored or recorded result of an earlier run's finished computation instead of computing again, by type.",
		}, []string{"type"}),
		ResultWriteRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "compressq_task_result_write_retries_total",
			Help: "Failed attempts to write a finished computation's result to Redis that were retried, by type.",
		}, []string{"type"}),
		TrialCheckpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "compressq_trial_checkpoints_total",
			Help: "Per-epoch training checkpoints of sweep trials written to the artifact store.",
		}),
		TrialResumes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "compressq_trial_resumes_total",
			Help: "Sweep trials that continued from a training checkpoint instead of starting afresh.",
		}),
	}
	reg.MustRegister(m.TasksTotal, m.TaskDuration, m.TaskWait, m.TasksInFlight, m.BuildInfo, m.Computations, m.ResultsReused, m.ResultWriteRetries,
		m.TrialCheckpoints, m.TrialResumes)
	m.BuildInfo.WithLabelValues(version(), runtime.Version()).Set(1)
	return m
}

// version is the main module's version, "(devel)" for a build from a work
// tree.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// TaskStarted records that a task of type typ began running.
func (m *Metrics) TaskStarted(typ string) {
	m.TasksInFlight.WithLabelValues(typ).Inc()
}

// TaskWaited records that a task of type typ started its first run d after
// it was due. Negative waits (clocks of producer and worker apart) count
// as 0.
func (m *Metrics) TaskWaited(typ string, d time.Duration) {
	m.TaskWait.WithLabelValues(typ).Observe(max(d, 0).Seconds())
}

// TaskFinished records the end of a task of type typ from queue that ran for
// d with the given outcome (one of the Outcome constants; any other value is
// counted as OutcomeUnknown). Every TaskStarted must be matched by one
// TaskFinished.
func (m *Metrics) TaskFinished(typ, queue, outcome string, d time.Duration) {
	switch outcome {
	case OutcomeSuccess, OutcomeRetry, OutcomeArchived, OutcomeCanceled:
	default:
		outcome = OutcomeUnknown
	}
	m.TasksInFlight.WithLabelValues(typ).Dec()
	m.TasksTotal.WithLabelValues(typ, queue, outcome).Inc()
	m.TaskDuration.WithLabelValues(typ).Observe(d.Seconds())
}
