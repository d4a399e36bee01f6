package producer

import (
	"context"
	"sync"

	"github.com/hibiken/asynq"
)

// DefaultBatchConcurrency is the number of enqueue calls EnqueueBatch keeps
// in flight when asked for 0.
const DefaultBatchConcurrency = 16

// EnqueueBatch enqueues many tasks with up to concurrency calls in flight on
// the producer's one client (asynq has no batch enqueue; round trips
// overlap instead). infos[i] and errs[i] belong to ts[i]; errs is nil when
// every task was enqueued.
func (p *Producer) EnqueueBatch(ctx context.Context, ts []*asynq.Task, concurrency int, opts ...asynq.Option) (infos []*asynq.TaskInfo, errs []error) {
	if concurrency <= 0 {
		concurrency = DefaultBatchConcurrency
	}
	concurrency = min(concurrency, len(ts))
	infos = make([]*asynq.TaskInfo, len(ts))
	var (
		mu     sync.Mutex
		failed []error
		next   int
		wg     sync.WaitGroup
	)
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		i := next
		next++
		return i
	}
	fail := func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if failed == nil {
			failed = make([]error, len(ts))
		}
		failed[i] = err
	}
	for range concurrency {
		wg.Go(func() {
			for i := take(); i < len(ts); i = take() {
				info, err := p.client.EnqueueContext(ctx, ts[i], opts...)
				if err != nil {
					fail(i, err)
					continue
				}
				infos[i] = info
			}
		})
	}
	wg.Wait()
	return infos, failed
}
