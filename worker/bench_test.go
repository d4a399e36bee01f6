package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
)

// BenchmarkNoopThroughput runs b.N no-op tasks on the same redis-server
// with the same asynq server settings through
//
//	asynq          a bare handler that returns nil (twice: asynq-control)
//	middleware     the same handler behind compressq's middleware chain
//	compressq      the worker's full handler: middleware, payload decoding
//	               and the result written through the task's ResultWriter
//	compressq-job  the same for one-step jobs: job state kept in Redis
//
// and reports tasks/s; each variant's ratio to asynq is its overhead.
func BenchmarkNoopThroughput(b *testing.B) {
	srv := redistest.Start(b)
	cfg := configs.Default()
	cfg.Redis.URL = srv.URL()
	cfg.Artifacts.Root = b.TempDir()
	cfg.Log.Level = "error"
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	st, err := artifact.Open(context.Background(), cfg.Artifacts.Root, nil, cfg.Artifacts.MaxBytes)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	w, err := New(Options{Config: cfg, Redis: rc, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	bare := asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })
	mw := asynq.NewServeMux()
	mw.Use(w.middleware()...)
	mw.Handle(tasks.TypeSleep, bare)
	variants := []struct {
		name    string
		handler asynq.Handler
		jobs    bool
	}{
		{"asynq", bare, false},
		{"asynq-control", bare, false},
		{"middleware", mw, false},
		{"compressq", w.Handler(), false},
		{"compressq-job", w.Handler(), true},
	}
	// Variants alternate round by round, each round starting with the next
	// variant, so drift in the machine's load and any bias of the position
	// in a round hit them alike. asynq-control repeats asynq: its ratio shows
	// the noise of the measurement.
	const perRound = 2000
	elapsed := make([]time.Duration, len(variants))
	for i := 0; i < b.N; i++ {
		for j := range variants {
			k := (i + j) % len(variants)
			v := variants[k]
			b.StopTimer()
			rc.FlushAll(context.Background())
			enqueueNoops(b, rc, cfg, perRound, v.jobs)
			b.StartTimer()
			elapsed[k] += processAll(b, rc, v.handler, perRound)
		}
	}
	for k, v := range variants {
		b.ReportMetric(float64(perRound*b.N)/elapsed[k].Seconds(), v.name+"-tasks/s")
		if k > 0 {
			b.ReportMetric(elapsed[0].Seconds()/elapsed[k].Seconds(), v.name+"/asynq")
		}
	}
}

// processAll starts an asynq server with h and returns how long it takes to
// process n tasks.
func processAll(b *testing.B, rc redis.UniversalClient, h asynq.Handler, n int) time.Duration {
	var done atomic.Int64
	finished := make(chan struct{})
	counting := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		err := h.ProcessTask(ctx, t)
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return err
	})
	s := asynq.NewServerFromRedisClient(rc, asynq.Config{Concurrency: 20, Queues: map[string]int{"default": 1}, LogLevel: asynq.ErrorLevel})
	start := time.Now()
	if err := s.Start(counting); err != nil {
		b.Fatal(err)
	}
	<-finished
	d := time.Since(start)
	s.Shutdown()
	return d
}

// enqueueNoops puts n debug:sleep tasks (or n one-step jobs) in the default
// queue, untimed.
func enqueueNoops(b *testing.B, rc redis.UniversalClient, cfg configs.Config, n int, jobs bool) {
	b.Helper()
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), Defaults(cfg))
	defer p.Close()
	if jobs {
		for i := 0; i < n; i++ {
			if _, err := p.Submit(context.Background(), &tasks.JobSpec{Type: tasks.TypeSleep, Payload: []byte(`{"v":1}`)}); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	ts := make([]*asynq.Task, n)
	for i := range ts {
		t, err := tasks.New(&tasks.SleepPayload{V: tasks.Version})
		if err != nil {
			b.Fatal(err)
		}
		ts[i] = t
	}
	if _, errs := p.EnqueueBatch(context.Background(), ts, 0, asynq.Queue("default")); errs != nil {
		b.Fatal(errs)
	}
}
