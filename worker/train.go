package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/tasks"
)

// ModelExt is the file extension of model artifacts.
const ModelExt = ".safetensors"

// train handles train: build the architecture, train it, store the model.
func (w *Worker) train(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.TrainPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	splits, err := w.data.get(ctx, p.Data)
	if err != nil {
		return nil, err
	}
	out, res, err := Train(ctx, p, splits, nil)
	if err != nil {
		return nil, err
	}
	if res.Artifact, err = w.store.Put(ctx, bytes.NewReader(out), ModelExt); err != nil {
		return nil, fmt.Errorf("store model: %w", err)
	}
	return res, nil
}

// ParseArch reads an architecture given by name ("lenet-5") or inline.
func ParseArch(raw json.RawMessage) (nn.Arch, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		a, err := nn.ArchByName(name)
		if err != nil {
			return nn.Arch{}, fmt.Errorf("arch: %w: %w", err, asynq.SkipRetry)
		}
		return a, nil
	}
	var a nn.Arch
	if err := json.Unmarshal(raw, &a); err != nil {
		return nn.Arch{}, fmt.Errorf("arch: %w: %w", err, asynq.SkipRetry)
	}
	if err := a.Validate(); err != nil {
		return nn.Arch{}, fmt.Errorf("arch: %w: %w", err, asynq.SkipRetry)
	}
	return a, nil
}

// Train runs a train payload on the given data set and returns the model
// file's bytes and the result (Artifact left for the caller). The input
// transform is the payload's mean/std or, without them, the training
// split's own; the model file records it. The worker and `compressq train`
// both call it; progress may be nil.
func Train(ctx context.Context, p *tasks.TrainPayload, splits *data.Splits, progress func(nn.Progress)) ([]byte, *tasks.TrainResult, error) {
	tr := recipe.TrainTransform(data.Transform{Mean: p.Mean, Std: p.Std}, splits.Train)
	train, test, err := recipe.Prepare(splits, tr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	arch, err := ParseArch(p.Arch)
	if err != nil {
		return nil, nil, err
	}
	net, err := nn.Build(arch, p.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("arch: %w: %w", err, asynq.SkipRetry)
	}
	start := time.Now()
	cfg := nn.TrainConfig{Epochs: p.Epochs, BatchSize: p.BatchSize, LR: p.LR, Seed: p.Seed, Val: test,
		Optimizer: p.Optimizer, Momentum: p.Momentum, WeightDecay: p.WeightDecay, Schedule: p.Schedule}
	hist, err := nn.Train(ctx, net, train, cfg, progress)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	acc, loss, err := nn.EvaluateContext(ctx, net, test)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	var buf bytes.Buffer
	if err := model.SaveWithTransform(&buf, net, tr); err != nil {
		return nil, nil, err
	}
	res := &tasks.TrainResult{Mean: tr.Mean, Std: tr.Std, Arch: arch.Name, Params: net.NumParams(), Accuracy: acc, Loss: loss, Seconds: time.Since(start).Seconds()}
	for _, e := range hist.Epochs {
		res.Curve = append(res.Curve, tasks.EpochResult{
			Epoch: e.Epoch, LR: e.LR, TrainLoss: e.TrainLoss, TrainAcc: e.TrainAcc,
			TestLoss: e.ValLoss, TestAcc: e.ValAcc, Seconds: e.Duration.Seconds(),
		})
	}
	return buf.Bytes(), res, nil
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
// artifact store (see internal/datasets). Errors of the reference or the
// content skip retries.
func (c *dataCache) get(ctx context.Context, uri string) (*data.Splits, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sets[uri]; ok {
		return s, nil
	}
	s, err := datasets.Load(ctx, c.store, uri)
	if err != nil {
		if datasets.Permanent(err) {
			err = fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
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
