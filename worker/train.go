package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
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
	train, test, err := w.data.get(ctx, p.Data)
	if err != nil {
		return nil, err
	}
	out, res, err := Train(ctx, p, train, test, nil)
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

// Train runs a train payload on the given data and returns the model file's
// bytes and the result (Artifact left for the caller). The worker and
// `compressq train` both call it; progress may be nil.
func Train(ctx context.Context, p *tasks.TrainPayload, train, test *data.Dataset, progress func(nn.Progress)) ([]byte, *tasks.TrainResult, error) {
	arch, err := ParseArch(p.Arch)
	if err != nil {
		return nil, nil, err
	}
	net, err := nn.Build(arch, p.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("arch: %w: %w", err, asynq.SkipRetry)
	}
	start := time.Now()
	cfg := nn.TrainConfig{Epochs: p.Epochs, BatchSize: p.BatchSize, LR: p.LR, Seed: p.Seed, Val: test}
	hist, err := nn.Train(ctx, net, train, cfg, progress)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	acc, loss, err := nn.EvaluateContext(ctx, net, test)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		return nil, nil, err
	}
	res := &tasks.TrainResult{Arch: arch.Name, Params: net.NumParams(), Accuracy: acc, Loss: loss, Seconds: time.Since(start).Seconds()}
	for _, e := range hist.Epochs {
		res.Curve = append(res.Curve, tasks.EpochResult{
			Epoch: e.Epoch, LR: e.LR, TrainLoss: e.TrainLoss, TrainAcc: e.TrainAcc,
			TestLoss: e.ValLoss, TestAcc: e.ValAcc, Seconds: e.Duration.Seconds(),
		})
	}
	return buf.Bytes(), res, nil
}

// dataCache keeps loaded data sets for the life of the worker process, so
// consecutive tasks on the same data do not decode it again.
type dataCache struct {
	mu   sync.Mutex
	sets map[string][2]*data.Dataset
}

// get loads the data set named by a payload's data field: "" or "mnist"
// for MNIST, otherwise a directory on the worker with the four IDX files.
func (c *dataCache) get(ctx context.Context, name string) (train, test *data.Dataset, err error) {
	key := strings.ToLower(name)
	if key == "" {
		key = "mnist"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sets[key]; ok {
		return s[0], s[1], nil
	}
	dir := ""
	if key != "mnist" {
		dir = name
	}
	train, test, err = data.Load(ctx, dir, data.MNISTStandard())
	if err != nil {
		if dir != "" { // a bad directory stays bad
			err = fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return nil, nil, fmt.Errorf("data %q: %w", name, err)
	}
	if c.sets == nil {
		c.sets = map[string][2]*data.Dataset{}
	}
	c.sets[key] = [2]*data.Dataset{train, test}
	return train, test, nil
}
