package worker_test

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
	"github.com/compressq/compressq/worker"
)

// BenchmarkNoopThroughput runs b.N no-op tasks through a bare asynq server
// and through compressq's worker handler (middleware, result writing, and
// for "compressq-job" the job bookkeeping of a one-step pipeline) on the
// same redis-server with the same server settings, and reports tasks/s.
// The ratio of the two is compressq's overhead.
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
	w, err := worker.New(worker.Options{Config: cfg, Redis: rc, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	bare := asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })
	variants := []struct {
		name    string
		handler asynq.Handler
		jobs    bool
	}{
		{"asynq", bare, false},
		{"compressq", w.Handler(), false},
		{"compressq-job", w.Handler(), true},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			rc.FlushAll(context.Background())
			enqueueNoops(b, rc, cfg, b.N, v.jobs)
			var done atomic.Int64
			finished := make(chan struct{})
			counting := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
				err := v.handler.ProcessTask(ctx, t)
				if done.Add(1) == int64(b.N) {
					close(finished)
				}
				return err
			})
			s := asynq.NewServerFromRedisClient(rc, asynq.Config{Concurrency: 20, Queues: map[string]int{"default": 1}, LogLevel: asynq.ErrorLevel})
			b.ResetTimer()
			start := time.Now()
			if err := s.Start(counting); err != nil {
				b.Fatal(err)
			}
			<-finished
			elapsed := time.Since(start)
			b.StopTimer()
			s.Shutdown()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
		})
	}
}

// enqueueNoops puts n debug:sleep tasks (or n one-step jobs) in the default
// queue, untimed.
func enqueueNoops(b *testing.B, rc *redis.Client, cfg configs.Config, n int, jobs bool) {
	b.Helper()
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), worker.Defaults(cfg))
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
