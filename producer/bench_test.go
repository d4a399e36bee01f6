package producer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
)

// BenchmarkEnqueue compares one Enqueue call after another with
// EnqueueBatch's concurrent calls on the same client and redis-server, in
// tasks/s.
func BenchmarkEnqueue(b *testing.B) {
	srv := redistest.Start(b)
	rc, err := rdb.Open(configs.Redis{URL: srv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), tasks.Defaults{Queue: "default"})
	defer p.Close()
	client := asynq.NewClientFromRedisClient(rc)
	defer client.Close()
	mk := func(n int) []*asynq.Task {
		ts := make([]*asynq.Task, n)
		for i := range ts {
			ts[i], _ = tasks.New(&tasks.SleepPayload{V: tasks.Version})
		}
		return ts
	}
	b.Run("sequential", func(b *testing.B) {
		rc.FlushAll(context.Background())
		ts := mk(b.N)
		b.ResetTimer()
		for _, t := range ts {
			if _, err := client.Enqueue(t); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	})
	for _, c := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("batch-%d", c), func(b *testing.B) {
			rc.FlushAll(context.Background())
			ts := mk(b.N)
			b.ResetTimer()
			if _, errs := p.EnqueueBatch(context.Background(), ts, c); errs != nil {
				b.Fatal(errs)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
