package metrics

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTaskMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)

	m.TaskStarted("compress:prune")
	m.TaskStarted("compress:prune")
	m.TaskStarted("compress:prune")
	m.TaskStarted("train")
	m.TaskFinished("compress:prune", "default", OutcomeSuccess, 3*time.Millisecond)
	m.TaskFinished("compress:prune", "default", OutcomeRetry, 2*time.Second)
	m.TaskFinished("train", "low", "exploded", 90*time.Minute) // unknown outcome, longer than the last bucket

	const want = `
# HELP compressq_tasks_total Tasks that finished, by type, queue and outcome (success, retry, archived, canceled).
# TYPE compressq_tasks_total counter
compressq_tasks_total{outcome="retry",queue="default",type="compress:prune"} 1
compressq_tasks_total{outcome="success",queue="default",type="compress:prune"} 1
compressq_tasks_total{outcome="unknown",queue="low",type="train"} 1
# HELP compressq_tasks_in_flight Tasks running now in this process, by type.
# TYPE compressq_tasks_in_flight gauge
compressq_tasks_in_flight{type="compress:prune"} 1
compressq_tasks_in_flight{type="train"} 0
`
	if err := testutil.CollectAndCompare(m.TasksTotal, strings.NewReader(want), "compressq_tasks_total"); err != nil {
		t.Error(err)
	}
	if err := testutil.CollectAndCompare(m.TasksInFlight, strings.NewReader(want), "compressq_tasks_in_flight"); err != nil {
		t.Error(err)
	}

	// Histogram: 3 ms falls in le=0.005 and above, 2 s in le=2.5 and above,
	// 90 min only in +Inf.
	var b strings.Builder
	b.WriteString("# HELP compressq_task_duration_seconds Duration of one run of a task, by type, whatever its outcome.\n")
	b.WriteString("# TYPE compressq_task_duration_seconds histogram\n")
	for _, typ := range []struct {
		name    string
		obs     []float64
		sum     string
		samples int
	}{
		{"compress:prune", []float64{0.003, 2}, "2.003", 2},
		{"train", []float64{5400}, "5400", 1},
	} {
		for _, le := range DurationBuckets {
			n := 0
			for _, o := range typ.obs {
				if o <= le {
					n++
				}
			}
			fmt.Fprintf(&b, "compressq_task_duration_seconds_bucket{type=%q,le=\"%g\"} %d\n", typ.name, le, n)
		}
		fmt.Fprintf(&b, "compressq_task_duration_seconds_bucket{type=%q,le=\"+Inf\"} %d\n", typ.name, typ.samples)
		fmt.Fprintf(&b, "compressq_task_duration_seconds_sum{type=%q} %s\n", typ.name, typ.sum)
		fmt.Fprintf(&b, "compressq_task_duration_seconds_count{type=%q} %d\n", typ.name, typ.samples)
	}
	if err := testutil.CollectAndCompare(m.TaskDuration, strings.NewReader(b.String())); err != nil {
		t.Error(err)
	}

	wantInfo := fmt.Sprintf(`
# HELP compressq_build_info Always 1; labels give the compressq version and the Go version it was built with.
# TYPE compressq_build_info gauge
compressq_build_info{goversion=%q,version=%q} 1
`, runtime.Version(), version())
	if err := testutil.CollectAndCompare(m.BuildInfo, strings.NewReader(wantInfo)); err != nil {
		t.Error(err)
	}
}

func TestTaskMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.TaskStarted("train")
	m.TaskFinished("train", "default", OutcomeArchived, time.Second)
	m.TaskStarted("nas:eval")
	m.TaskFinished("nas:eval", "sweep", OutcomeCanceled, time.Millisecond)
	m.TaskWaited("nas:eval", 3*time.Millisecond)
	for name, c := range map[string]prometheus.Collector{
		"tasks_total": m.TasksTotal, "duration": m.TaskDuration, "wait": m.TaskWait, "in_flight": m.TasksInFlight, "build_info": m.BuildInfo,
	} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: lint: %s: %s", name, p.Metric, p.Text)
		}
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Fatalf("GatherAndCount = %d, %v", n, err)
	}
}

func TestDurationBucketsSpanMillisecondToHour(t *testing.T) {
	if DurationBuckets[0] != 0.001 || DurationBuckets[len(DurationBuckets)-1] != 3600 {
		t.Fatalf("buckets run %v … %v, want 0.001 … 3600", DurationBuckets[0], DurationBuckets[len(DurationBuckets)-1])
	}
	for i := 1; i < len(DurationBuckets); i++ {
		if DurationBuckets[i] <= DurationBuckets[i-1] {
			t.Fatalf("buckets not increasing at %d: %v", i, DurationBuckets)
		}
	}
}

func TestNewTwiceOnOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	defer func() {
		if recover() == nil {
			t.Fatal("second New on the same registry did not panic")
		}
	}()
	New(reg)
}

func TestTaskWait(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.TaskWaited("train", 200*time.Microsecond)
	m.TaskWaited("train", -time.Second) // clocks apart: counted as 0
	m.TaskWaited("train", 2*time.Hour)
	var b strings.Builder
	b.WriteString("# HELP compressq_task_wait_seconds Time from when a task was due (enqueued, or its process_at) to the start of its first run, by type.\n")
	b.WriteString("# TYPE compressq_task_wait_seconds histogram\n")
	for _, le := range WaitBuckets {
		n := 1 // the negative wait
		if le >= 0.0002 {
			n++
		}
		fmt.Fprintf(&b, "compressq_task_wait_seconds_bucket{type=\"train\",le=\"%g\"} %d\n", le, n)
	}
	b.WriteString("compressq_task_wait_seconds_bucket{type=\"train\",le=\"+Inf\"} 3\n")
	b.WriteString("compressq_task_wait_seconds_sum{type=\"train\"} 7200.0002\n")
	b.WriteString("compressq_task_wait_seconds_count{type=\"train\"} 3\n")
	if err := testutil.CollectAndCompare(m.TaskWait, strings.NewReader(b.String())); err != nil {
		t.Error(err)
	}
}
