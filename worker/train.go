package worker

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

// ModelExt is the file extension of model artifacts.
const ModelExt = ".safetensors"

// train handles train: recipe.Train on the payload's data set, the model
// stored.
func (w *Worker) train(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.TrainPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	splits, err := w.data.get(ctx, p.Data)
	if err != nil {
		return nil, err
	}
	r, err := recipe.Train(ctx, taskmap.TrainOptions(p, splits, nil))
	if err != nil {
		return nil, err
	}
	res := taskmap.TrainResult(r)
	if res.Artifact, err = w.store.Put(ctx, bytes.NewReader(r.Model), ModelExt); err != nil {
		return nil, fmt.Errorf("store model: %w", err)
	}
	return res, nil
}

// dataCache keeps loaded data sets, as [0, 1] pixels, for the life of the
// worker process, so consecutive tasks on the same data do not decode it
// again; each task normalizes its own copy.
type dataCache struct {
	mu    sync.Mutex
	store *artifact.Store
	sets  map[string]*data.Splits
}

// get loads the data set a payload's data field names: a URI in the
// artifact store (see internal/datasets).
func (c *dataCache) get(ctx context.Context, uri string) (*data.Splits, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sets[uri]; ok {
		return s, nil
	}
	s, err := datasets.Load(ctx, c.store, uri)
	if err != nil {
		return nil, fmt.Errorf("data %q: %w", uri, err)
	}
	if c.sets == nil || len(c.sets) >= maxCachedDataSets {
		c.sets = map[string]*data.Splits{}
	}
	c.sets[uri] = s
	return s, nil
}

// maxCachedDataSets bounds the data sets a worker keeps decoded.
const maxCachedDataSets = 4
